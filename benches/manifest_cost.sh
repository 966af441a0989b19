#!/usr/bin/env bash
# What the symlink manifests cost (docs/lake-layout.md, "Reading the lake with other engines"):
# a trail of EVENTS events over DAYS days ingested with a commit every BUFFER_MB of data (small,
# so there are many commits, each rewriting the manifests of the days it touched), best of
# ROUNDS. Prints the time the commits spent on manifests against the whole ingest, and the
# manifests' bytes against the lake's.
#
#   benches/manifest_cost.sh [EVENTS] [DAYS] [BUFFER_MB] [ROUNDS]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
# BASELINE=path/to/trawl, a build without manifests (e.g. of the commit before them), is run
# on the same trail, alternating with TRAWL, for the difference in wall time.
set -euo pipefail
EVENTS="${1:-1000000}"
DAYS="${2:-30}"
BUFFER_MB="${3:-8}"
ROUNDS="${4:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-manifest.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events over $DAYS days into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
sync

for i in $(seq "$ROUNDS"); do
    rm -rf "$work/lake"
    "$TRAWL" ingest --quiet --progress never --json --buffer-mb "$BUFFER_MB" \
        --lake "$work/lake" "$work/trail" > "$work/run-$i.json"
    if [ -n "${BASELINE:-}" ]; then
        rm -rf "$work/base"
        "$BASELINE" ingest --quiet --progress never --json --buffer-mb "$BUFFER_MB" \
            --lake "$work/base" "$work/trail" > "$work/base-$i.json"
    fi
done
du -sb "$work/lake" | cut -f1 > "$work/lake.bytes"
# File contents only (a directory's own size is the file system's, not the lake's).
find "$work/lake/_trawl/manifest" "$work/lake/_trawl/manifest.json" -type f -printf '%s\n' \
    | awk '{s+=$1} END {print s}' > "$work/manifest.bytes"
find "$work/lake/events" -name '*.parquet' | wc -l > "$work/files"

python3 - "$work" "$ROUNDS" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{work}/run-{i}.json")) for i in range(1, rounds + 1)]
best = min(runs, key=lambda r: r["seconds"])
lake = int(open(f"{work}/lake.bytes").read())
man = int(open(f"{work}/manifest.bytes").read())
files = int(open(f"{work}/files").read())
print(f"events {best['events_stored']}, commits {best['commits']}, data files {files}")
print(f"ingest (best of {rounds}): {best['seconds']:.2f} s; on manifests: {best['manifest_seconds'] * 1000:.1f} ms "
      f"({100 * best['manifest_seconds'] / best['seconds']:.2f}% of the ingest, "
      f"{1000 * best['manifest_seconds'] / best['commits']:.2f} ms a commit)")
print(f"lake {lake / 2**20:.1f} MiB; manifests {man / 2**10:.1f} KiB "
      f"({100 * man / lake:.3f}% of the lake, {man / max(files, 1):.0f} bytes a data file)")
import os
if os.path.exists(f"{work}/base-1.json"):
    base = min((json.load(open(f"{work}/base-{i}.json")) for i in range(1, rounds + 1)), key=lambda r: r["seconds"])
    print(f"baseline without manifests (best of {rounds}): {base['seconds']:.2f} s, {base['commits']} commits; "
          f"with them {100 * (best['seconds'] / base['seconds'] - 1):+.1f}% wall time")
PY
