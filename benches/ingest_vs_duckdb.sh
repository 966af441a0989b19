#!/usr/bin/env bash
# End-to-end ingest benchmark: trawl and DuckDB on the same generated trail, in one run.
#
#   benches/ingest_vs_duckdb.sh [EVENTS] [THREADS] [EVENTS_PER_FILE]
#
# EVENTS_PER_FILE makes big objects (the generator fills a file per account and region, six
# streams, up to EVENTS_PER_FILE events each): 2400000 events at 400000 per file gives six
# ~50 MB gzipped files of ~450 MB of JSON each, the bounded-memory case.
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
# Prints events/s, MB/s of decompressed JSON, peak RSS and output size for both, and the ratio.
# Needs python3 with duckdb (`pip install duckdb`) and GNU time (/usr/bin/time).
set -euo pipefail
EVENTS="${1:-100000}"
THREADS="${2:-$(nproc)}"
PER_FILE="${3:-}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
python3 -c 'import duckdb' 2>/dev/null || { echo "python3 cannot import duckdb: pip install duckdb" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events into $work/trail ..." >&2
gen="$("$TRAWL" generate --out "$work/trail" --events "$EVENTS" --duplicate-rate 0 ${PER_FILE:+--events-per-file "$PER_FILE"})"
json_bytes="$(echo "$gen" | python3 -c 'import json,sys; print(json.load(sys.stdin)["json_bytes"])')"
files="$(echo "$gen" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"])')"
sync

/usr/bin/time -f '%e %M' -o "$work/trawl.time" \
    "$TRAWL" ingest --quiet --progress never --threads "$THREADS" --json --lake "$work/lake" "$work/trail" > "$work/trawl.json"
# DuckDB may fail (out of memory on big objects): reported in the table, not fatal.
/usr/bin/time -f '%e %M' -o "$work/duck.time" \
    python3 "$here/duckdb_ingest.py" "$work/trail" "$work/duck" "$THREADS" ${PER_FILE:+1073741824} \
    > "$work/duck.count" 2> "$work/duck.err" || true

python3 - "$work" "$EVENTS" "$json_bytes" "$files" "$THREADS" <<'PY'
import json, os, sys
work, events, json_bytes, files, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs if f.endswith(".parquet"))
def timing(name):
    secs, kb = open(os.path.join(work, name)).read().split()[-2:]
    return float(secs), int(kb) / 1024
summary = json.load(open(os.path.join(work, "trawl.json")))
assert summary["events_stored"] == events, f"trawl stored {summary['events_stored']} of {events}"
count = open(os.path.join(work, "duck.count")).read().strip()
duck_failed = None
if not count:
    errors = [l for l in open(os.path.join(work, "duck.err")).read().splitlines() if "Error" in l]
    duck_failed = errors[0] if errors else "no output"
else:
    assert int(count) == events, f"duckdb wrote {count} of {events}"
engines = [("trawl", timing("trawl.time"), size(os.path.join(work, "lake", "events")))]
if not duck_failed:
    engines.append(("duckdb", timing("duck.time"), size(os.path.join(work, "duck"))))
rows = []
for name, t, out in engines:
    secs, rss = t
    rows.append((name, secs, events / secs, json_bytes / 1e6 / secs, rss, out / 1e6))
print(f"trail: {events} events, {files} files, {json_bytes / 1e6:.1f} MB of JSON; {threads} threads")
print(f"{'engine':8} {'seconds':>8} {'events/s':>10} {'MB/s JSON':>10} {'peak RSS MB':>12} {'output MB':>10}")
for r in rows:
    print(f"{r[0]:8} {r[1]:8.2f} {r[2]:10.0f} {r[3]:10.1f} {r[4]:12.0f} {r[5]:10.1f}")
if duck_failed:
    secs, rss = timing("duck.time")
    print(f"duckdb   failed after {secs:.2f} s ({rss:.0f} MB peak RSS): {duck_failed}")
else:
    print(f"ratio trawl/duckdb events/s: {rows[0][2] / rows[1][2]:.1f}x; output size {rows[0][5] / rows[1][5]:.2f}x")
PY
