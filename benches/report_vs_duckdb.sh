#!/usr/bin/env bash
# `trawl report all` (every tile of the five dashboards, with their default ranges) against
# DuckDB running the same tiles (benches/duckdb_report.py: the block's definitions in DuckDB SQL)
# on its own zstd Parquet of the same trail, partitioned by day. Each side runs as a fresh
# process, best of RUNS; the loads are not timed. Needs python3 with duckdb and GNU time.
#
#   benches/report_vs_duckdb.sh [EVENTS] [DAYS] [RUNS]
#
# TRAWL picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-10000000}"
DAYS="${2:-30}"
RUNS="${3:-3}"
THREADS="$(nproc)"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
python3 -c 'import duckdb' 2>/dev/null || { echo "python3 cannot import duckdb: pip install duckdb" >&2; exit 2; }
record_type="$here/../crates/report/tests/block/record_type.txt"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-report-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "generating $EVENTS events over $DAYS days, loading both ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null
python3 "$here/duckdb_report.py" load "$work/trail" "$work/duck" "$record_type" "$THREADS"

best() {  # best wall seconds of RUNS runs of "$@"
    local best=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f %e -o "$work/t" "$@" > /dev/null
        t="$(cat "$work/t")"
        if [ -z "$best" ] || awk "BEGIN { exit !($t < $best) }"; then best="$t"; fi
    done
    echo "$best"
}
trawl_s="$(best "$TRAWL" report all --lake "$work/lake" --format json)"
duck_s="$(best python3 "$here/duckdb_report.py" report "$work/duck" "$THREADS")"
echo "report all, $EVENTS events over $DAYS days, $THREADS threads, best of $RUNS (s):"
echo "trawl  $trawl_s"
echo "duckdb $duck_s"
awk "BEGIN { printf \"ratio trawl/duckdb: %.2f\n\", $trawl_s / $duck_s }"
