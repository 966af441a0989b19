#!/usr/bin/env bash
# Opening a lake of many commits: a trail of COMMITS small objects ingested one commit per
# object (`--commit-interval 0`), then compacted (a file a day, the log keeps every entry),
# then `trawl sql "SELECT count(*) ..."` timed, best of ROUNDS fresh processes: the first run
# (which finds no checkpoint and leaves one, docs/lake-layout.md) and the runs after it. With
# BASELINE=path/to/an/older/trawl, that binary is timed on the same lake first (checkpoints
# removed), side by side.
#
#   benches/many_commits.sh [COMMITS] [ROUNDS]
#
# TRAWL picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
COMMITS="${1:-10000}"
ROUNDS="${2:-5}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-commits.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "generating $COMMITS objects of 20 events ..." >&2
"$TRAWL" generate --out "$work/trail" --events $((COMMITS * 20)) --days 30 \
    --events-per-file 20 --duplicate-rate 0 > /dev/null
echo "ingesting, a commit per object ..." >&2
started=$(date +%s.%N)
"$TRAWL" ingest --quiet --progress never --commit-interval 0 --lake "$work/lake" "$work/trail" > /dev/null
echo "ingested in $(echo "$(date +%s.%N) - $started" | bc) s" >&2
"$TRAWL" compact --lake "$work/lake" > /dev/null
entries=$(find "$work/lake/_trawl/log" -name '*.json' | wc -l)
echo "log: $entries entries, $(du -sb "$work/lake/_trawl/log" | cut -f1) bytes;" \
     "$(cat "$work/lake/_trawl/manifest"/*/manifest | wc -l) data files after compaction"
q="SELECT count(*) FROM cloudtrail_logs"
run() { best_of "$work/out" "$1" sql --lake "$work/lake" --format csv "$q"; }
if [ -n "${BASELINE:-}" ]; then
    rm -rf "$work/lake/_trawl/checkpoints"
    echo "baseline ($BASELINE), best of $ROUNDS: $(run "$BASELINE") s"
fi
rm -rf "$work/lake/_trawl/checkpoints"
echo "first run, no checkpoint yet: $(ROUNDS=1 run "$TRAWL") s"
ls "$work/lake/_trawl/checkpoints" > /dev/null 2>&1 || { echo "no checkpoint was written" >&2; exit 1; }
echo "from the checkpoint, best of $ROUNDS: $(run "$TRAWL") s"
echo "rows: $(tail -1 "$work/out")"
