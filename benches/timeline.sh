#!/usr/bin/env bash
# `trawl timeline` on a needle (docs/investigate.md), against DuckDB on the same Parquet files:
# a generated trail of EVENTS events over DAYS days, with a needle principal of three events
# planted, ingested into a lake, then the timelines of the needle, and of a rare principal, the
# busiest access key and a rare source IP of the generated events, each the best of ROUNDS fresh
# processes; DuckDB runs the same selection and order over the lake's data files (the files a
# snapshot lists, read with read_parquet). The row counts must agree.
#
#   benches/timeline.sh [EVENTS] [DAYS] [ROUNDS]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-10000000}"
DAYS="${2:-30}"
ROUNDS="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-timeline.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events over $DAYS days into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
# A needle: a principal with three events on one day, among the generated millions.
needle=arn:aws:iam::111122223333:user/needle needle_key=AKIANEEDLE0000000001 needle_ip=198.51.100.77
python3 "$here/plant_needle.py" "$work/trail"
started=$(date +%s.%N)
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null
echo "ingested in $(echo "$(date +%s.%N) - $started" | bc) s" >&2

# The one value a query returns (the script stops if it returns none).
one() {
    local out
    out=$("$TRAWL" sql --lake "$work/lake" --format csv "$1")
    [ "$(echo "$out" | wc -l)" -ge 2 ] || { echo "no value for: $1" >&2; exit 1; }
    echo "$out" | tail -1
}
principal=$(one "SELECT useridentity.arn FROM cloudtrail_logs WHERE useridentity.arn IS NOT NULL AND useridentity.arn <> '$needle' GROUP BY 1 HAVING count(*) >= 3 ORDER BY count(*), 1 LIMIT 1")
# The busiest access key (the generator gives most sessions a key of their own).
key=$(one "SELECT useridentity.accesskeyid FROM cloudtrail_logs WHERE useridentity.accesskeyid IS NOT NULL AND useridentity.accesskeyid <> '$needle_key' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
ip=$(one "SELECT sourceipaddress FROM cloudtrail_logs WHERE sourceipaddress <> '$needle_ip' GROUP BY 1 HAVING count(*) >= 3 ORDER BY count(*), 1 LIMIT 1")
files=$(find "$work/lake/events" -name '*.parquet' | sort | python3 -c 'import json, sys; print(json.dumps(sys.stdin.read().split()))')

peer() {
    python3 - "$files" "$1" <<'PY'
import json, sys
import duckdb
files, predicate = json.loads(sys.argv[1]), sys.argv[2]
con = duckdb.connect()
rows = con.execute(
    "SELECT eventtime, recipientaccountid, awsregion, eventsource, eventname, errorcode, "
    "json_extract_string(responseelements, '$.ConsoleLogin'), sourceipaddress, useragent, "
    f"requestparameters, eventid FROM read_parquet({files!r}) WHERE {predicate} "
    "ORDER BY eventtime_ts NULLS LAST, eventid").fetchall()
print(len(rows))
PY
}

printf '%-10s %-58s %8s %10s %10s\n' subject value events trawl_s duckdb_s
for case in "principal|$needle|useridentity_arn = '$needle' OR useridentity_sessioncontext_sessionissuer_arn = '$needle'" \
            "principal|$principal|useridentity_arn = '$principal' OR useridentity_sessioncontext_sessionissuer_arn = '$principal'" \
            "access-key|$key|useridentity_accesskeyid = '$key'" \
            "ip|$ip|sourceipaddress = '$ip'"; do
    IFS='|' read -r flag value predicate <<< "$case"
    t=$(best_of "$work/out.csv" "$TRAWL" timeline --lake "$work/lake" "--$flag" "$value" --format csv)
    n=$(($(wc -l < "$work/out.csv") - 1))
    d=$(best_of "$work/peer.txt" peer "$predicate")
    m=$(cat "$work/peer.txt")
    [ "$n" = "$m" ] || { echo "$flag $value: trawl listed $n events, DuckDB $m" >&2; exit 1; }
    printf '%-10s %-58s %8s %10s %10s\n' "$flag" "$value" "$n" "$t" "$d"
done
