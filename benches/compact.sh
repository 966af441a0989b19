#!/usr/bin/env bash
# What `trawl compact` buys a lake made by hourly incremental ingests (docs/lake-layout.md,
# "Compaction"): a trail of EVENTS events over DAYS days, ingested one delivery hour at a time
# (a `trawl ingest` run per hour of CloudTrail object names, as an hourly job would), then the
# dashboards (`trawl report all`) and three needles timed before and after `trawl compact`,
# best of ROUNDS, each a fresh process. Prints data files, lake size and times.
#
#   benches/compact.sh [EVENTS] [DAYS] [ROUNDS]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
DAYS="${2:-30}"
ROUNDS="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-compact.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events over $DAYS days into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null

# CloudTrail names each object ..._CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz: one list of
# objects per delivery hour.
mkdir -p "$work/hours"
find "$work/trail" -name '*.json.gz' | python3 -c '
import re, sys, collections
hours = collections.defaultdict(list)
for path in sys.stdin.read().split():
    m = re.search(r"_(\d{8}T\d{2})\d{2}Z_", path)
    hours[m.group(1) if m else "unknown"].append(path)
for hour, paths in sorted(hours.items()):
    open(f"'"$work"'/hours/{hour}", "w").write("\n".join(paths) + "\n")
'
hours=$(ls "$work/hours" | wc -l)
echo "ingesting $hours delivery hours, one run each ..." >&2
started=$(date +%s.%N)
for h in "$work/hours"/*; do
    mapfile -t objects < "$h"
    "$TRAWL" ingest --quiet --progress never --lake "$work/lake" "${objects[@]}" > /dev/null
done
ingest_s=$(echo "$(date +%s.%N) - $started" | bc)

newest=$("$TRAWL" sql --lake "$work/lake" --format csv \
    "SELECT eventid, useridentity.accesskeyid, sourceipaddress FROM cloudtrail_logs ORDER BY eventtime DESC LIMIT 1" | tail -1)
IFS=, read -r needle_id needle_key needle_ip <<< "$newest"

# Best wall time of ROUNDS runs of a command, in seconds.
best() { best_of /dev/null "$@"; }

measure() {
    local label=$1
    local files bytes
    files=$(find "$work/lake/events" -name '*.parquet' | wc -l)
    # Data files only (after `--retain 0s` no replaced file is left).
    bytes=$(find "$work/lake/events" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
    local report id key ip
    report=$(best "$TRAWL" report all --all-time --lake "$work/lake")
    id=$(best "$TRAWL" sql --lake "$work/lake" "SELECT * FROM cloudtrail_logs WHERE eventid = '$needle_id'")
    key=$(best "$TRAWL" sql --lake "$work/lake" "SELECT eventtime, eventname FROM cloudtrail_logs WHERE useridentity.accesskeyid = '$needle_key'")
    ip=$(best "$TRAWL" sql --lake "$work/lake" "SELECT count(*) FROM cloudtrail_logs WHERE sourceipaddress = '$needle_ip'")
    echo "$label $files $bytes $report $id $key $ip" >> "$work/results"
}

measure before
t0=$(date +%s.%N)
"$TRAWL" compact --retain 0s --lake "$work/lake" > "$work/compact.txt"
compact_s=$(echo "$(date +%s.%N) - $t0" | bc)
measure after

python3 - "$work" "$ingest_s" "$compact_s" "$hours" "$ROUNDS" <<'PY'
import sys
work, ingest_s, compact_s, hours, rounds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = {}
for line in open(f"{work}/results"):
    label, *vals = line.split()
    rows[label] = [float(v) for v in vals]
print(f"{hours} hourly ingests: {ingest_s:.1f} s; trawl compact --retain 0s: {compact_s:.2f} s")
print(open(f"{work}/compact.txt").read().strip())
names = ["data files", "lake MiB", f"report all (s, best of {rounds})", "needle eventid (s)", "needle access key (s)", "needle source IP (s)"]
b, a = rows["before"], rows["after"]
b[1] /= 2**20
a[1] /= 2**20
print(f"| {'':28} | {'before':>10} | {'after':>10} | after/before |")
print(f"|{'-'*30}|{'-'*12}|{'-'*12}|--------------|")
for n, x, y in zip(names, b, a):
    print(f"| {n:28} | {x:>10.3f} | {y:>10.3f} | {y / x if x else 0:>12.2f} |")
PY
