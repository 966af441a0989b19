#!/usr/bin/env bash
# Queries on trawl's lake against DuckDB on its own zstd Parquet of the same trail (one row per
# event, partitioned by day): query kinds, time windows, needles, investigation queries and
# every dashboard tile's SQL, each a fresh process, best of ROUNDS, with ratios, geometric
# means, and a check that both gave the same answer (benches/query_vs_duckdb.py). Then both
# lakes' sizes.
#
#   benches/query_vs_duckdb.sh [EVENTS] [DAYS] [ROUNDS]
#
# TRAWL picks the binary (default: target/release/trawl under CARGO_TARGET_DIR). DATA=DIR
# keeps the trail, the lake and DuckDB's Parquet in DIR and reuses them on the next run
# (loading 10M events takes minutes); COMPACT=1 runs `trawl compact` after the ingest;
# DUCKDB=0 times trawl alone (no DuckDB copy: at 100M events it takes the better part of an
# hour to load). Needs python3 with duckdb.
set -euo pipefail
EVENTS="${1:-1000000}"
DAYS="${2:-30}"
ROUNDS="${3:-3}"
THREADS="$(nproc)"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
python3 -c 'import duckdb' 2>/dev/null || { echo "python3 cannot import duckdb: pip install duckdb" >&2; exit 2; }
record_type="$here/../crates/report/tests/block/record_type.txt"

if [ -n "${DATA:-}" ]; then
    work="$DATA"
    mkdir -p "$work"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-query-bench.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi
if [ ! -d "$work/trail" ]; then
    echo "generating $EVENTS events over $DAYS days ..." >&2
    "$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
    # The needle's address and principal (three events) are the IP and principal needles.
    python3 "$here/plant_needle.py" "$work/trail"
fi
if [ ! -d "$work/lake" ]; then
    echo "ingesting ..." >&2
    started=$(date +%s.%N)
    "$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null
    echo "ingested in $(echo "$(date +%s.%N) - $started" | bc) s" >&2
    if [ -n "${COMPACT:-}" ]; then "$TRAWL" compact --lake "$work/lake" > /dev/null; fi
fi
duck="$work/duck"
if [ "${DUCKDB:-1}" = 0 ]; then
    duck=-
elif [ ! -d "$duck" ]; then
    echo "loading DuckDB's Parquet ..." >&2
    started=$(date +%s.%N)
    python3 "$here/duckdb_query.py" load "$work/trail" "$duck" "$record_type" "$THREADS"
    echo "DuckDB loaded in $(echo "$(date +%s.%N) - $started" | bc) s" >&2
fi

echo "$EVENTS events over $DAYS days, $THREADS threads, best of $ROUNDS; seconds:"
python3 "$here/query_vs_duckdb.py" "$TRAWL" "$work/lake" "$duck" "$THREADS" "$ROUNDS" "$work/results.json"
# trawl's committed files are those its day manifests list (a compaction's inputs stay on disk
# until removed); DuckDB's are every file it wrote.
lake_files() { cat "$work/lake/_trawl/manifest"/*/manifest | sed 's|^file://||'; }
t=$(lake_files | xargs stat -c %s | awk '{ s += $1 } END { print s }')
if [ "$duck" = - ]; then
    echo "Parquet bytes: trawl $t in $(lake_files | wc -l) files"
else
    d=$(find "$duck/" -name '*.parquet' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    echo "Parquet bytes: trawl $t in $(lake_files | wc -l) files," \
         "DuckDB $d in $(find "$duck/" -name '*.parquet' | wc -l) files; ratio $(echo "scale=3; $t / $d" | bc)"
fi
echo "trawl's log, ledger and indexes: $(du -sb "$work/lake/_trawl" | cut -f1) bytes"
