#!/usr/bin/env bash
# Layouts to compare (docs/tuning.md, "Layouts to compare"): one generated trail of EVENTS events
# over DAYS days ingested into three lakes, then one query set run on all three by `trawl bench`
# (REPEAT runs each, after a warm-up): what each layout reads (bytes scanned, files listed) and
# what Athena would bill, with the time. Every statement must return the same rows on each lake:
# the script checks the row counts agree.
#
#   by-day       the default: a directory a day, rows sorted by eventtime, row groups of 131072
#   by-account   --partition-by dt,account --sort-by eventsource --row-group-rows 16384
#   by-region    --partition-by dt,region --row-group-rows 16384
#
#   benches/layouts.sh [EVENTS] [DAYS] [REPEAT]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
DAYS="${2:-30}"
REPEAT="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-layouts.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events over $DAYS days into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null

ingest() {
    local name=$1
    shift
    local started
    started=$(date +%s.%N)
    "$TRAWL" ingest --quiet --progress never --lake "$work/$name" "$work/trail" "$@" > /dev/null
    printf '%-12s ingest %6.2f s   ' "$name" "$(echo "$(date +%s.%N) - $started" | bc)"
    "$TRAWL" info --lake "$work/$name" | grep -E '^(layout|files|partitions)' | tr -s ' ' | paste -sd ';' -
}
ingest by-day
ingest by-account --partition-by dt,account --sort-by eventsource --row-group-rows 16384
ingest by-region --partition-by dt,region --row-group-rows 16384

account=$("$TRAWL" sql --lake "$work/by-day" --format csv \
    "SELECT recipientaccountid FROM cloudtrail_logs GROUP BY 1 ORDER BY count(*) DESC LIMIT 1" | tail -1)
last_week=$("$TRAWL" sql --lake "$work/by-day" --format csv \
    "SELECT substr(max(eventtime), 1, 10) FROM cloudtrail_logs WHERE eventtime LIKE '2%'" | tail -1)
last_week=$(date -u -d "$last_week - 6 days" +%F)

cat > "$work/queries.sql" <<SQL
-- One account's IAM changes (the Operational Account Activity tiles filter one account).
SELECT eventname, count(*) AS n FROM cloudtrail_logs
WHERE recipientaccountid = '$account' AND eventsource = 'iam.amazonaws.com' GROUP BY 1;
-- One service's requests over the last week (reads a wide column where the service is).
SELECT max(length(requestparameters)) AS n FROM cloudtrail_logs
WHERE eventsource = 'kms.amazonaws.com' AND eventtime >= '$last_week';
-- One region's errors.
SELECT errorcode, count(*) AS n FROM cloudtrail_logs
WHERE awsregion = 'eu-west-1' AND errorcode IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
-- The Error Overview's top codes, all accounts and regions (no layout helps).
SELECT errorcode, count(*) AS n FROM cloudtrail_logs
WHERE errorcode IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
SQL

echo
"$TRAWL" bench -f "$work/queries.sql" --repeat "$REPEAT" --warmup 1 \
    --lake "$work/by-day" --lake "$work/by-account" --lake "$work/by-region" --format json \
    > "$work/bench.json"
python3 - "$work/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
by_sql = {}
for r in report["runs"]:
    by_sql.setdefault(r["sql"], []).append(r)
fmt = "{:<11} {:>9} {:>12} {:>8} {:>12} {:>9}"
for n, (sql, runs) in enumerate(by_sql.items(), 1):
    print(f"query {n}: {' '.join(sql.split())[:110]}")
    print(fmt.format("lake", "rows", "bytes read", "files", "Athena est.", "median s"))
    counts = {r["rows"] for r in runs}
    for r in runs:
        athena = r["athena"]["lake"]["dollars"] if r.get("athena") else 0
        print(fmt.format(r["lake"].rstrip("/").rsplit("/", 1)[-1], r["rows"], r["bytes_scanned"],
                         r["files_listed"], f"${athena:.6f}", f"{r['seconds']['median']:.3f}"))
    if len(counts) != 1:
        sys.exit(f"query {n} returned different row counts on the layouts: {counts}")
PY
