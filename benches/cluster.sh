#!/usr/bin/env bash
# Every dashboard tile's SQL on one lake, run three ways: local `trawl sql`, and `trawl sql
# --cluster` on a Ballista cluster of `trawl cluster` processes with 1 executor, then 2 (each a
# fresh client process, best of ROUNDS). Prints each query's times, the cluster's overhead over
# local, and checks that every way gives the same rows. On one machine the executors share its
# cores: this measures what the cluster costs, not what more machines give.
#
#   benches/cluster.sh [EVENTS] [DAYS] [ROUNDS]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
DAYS="${2:-30}"
ROUNDS="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

with_work cluster

echo "generating $EVENTS events over $DAYS days, ingesting ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null

# The tiles' SQL as the report runs it over the whole lake (geolocation tiles need a database).
"$TRAWL" report all --all-time --format json --lake "$work/lake" | python3 -c '
import json, sys
n = 0
for d in json.load(sys.stdin)["dashboards"]:
    for t in d["tiles"]:
        if t["sql"] and "geoip_" not in t["sql"]:
            n += 1
            open(f"'"$work"'/q{n:02d}.sql", "w").write(t["sql"])
            print("q%02d %s/%s" % (n, d["id"], t["id"]))
' > "$work/queries"

sched=$(free_port)
"$TRAWL" cluster scheduler --bind "127.0.0.1:$sched" 2> "$work/scheduler.log" &
pids+=($!)
wait_port "$sched"
executor() {
    local flight grpc
    flight=$(free_port)
    grpc=$(free_port)
    "$TRAWL" cluster executor --scheduler "127.0.0.1:$sched" --port "$flight" --grpc-port "$grpc" \
        --work-dir "$work/executor-$1" 2> "$work/executor-$1.log" &
    pids+=($!)
    wait_port "$flight"
}

# Best wall time of ROUNDS runs of a query, in seconds; its rows, sorted, kept in $out.
best() {
    local out=$1 s
    shift
    s=$(best_of "$work/rows" "$@")
    sort "$work/rows" > "$out"
    printf '%s' "$s"
}

run_all() {
    local label=$1
    shift
    while read -r q name; do
        t=$(best "$work/$q.$label" "$TRAWL" sql --lake "$work/lake" --format csv -f "$work/$q.sql" "$@")
        echo "$q $label $t" >> "$work/results"
    done < "$work/queries"
}

echo "running $(wc -l < "$work/queries") tile queries, best of $ROUNDS ..." >&2
run_all local
executor 1
run_all one --cluster "df://127.0.0.1:$sched"
executor 2
sleep 2
run_all two --cluster "df://127.0.0.1:$sched"

for q in $(cut -d' ' -f1 "$work/queries"); do
    cmp -s "$work/$q.local" "$work/$q.one" || { echo "$q: 1 executor gave other rows" >&2; exit 1; }
    cmp -s "$work/$q.local" "$work/$q.two" || { echo "$q: 2 executors gave other rows" >&2; exit 1; }
done

python3 - "$work" "$EVENTS" "$DAYS" "$ROUNDS" <<'PY'
import math, sys
work, events, days, rounds = sys.argv[1:]
names = dict(line.split() for line in open(f"{work}/queries"))
t = {}
for line in open(f"{work}/results"):
    q, label, s = line.split()
    t.setdefault(q, {})[label] = float(s)
print(f"{events} events over {days} days, each query a fresh `trawl sql` process, best of {rounds} (s); same rows every way")
print("| tile | local | 1 executor | 2 executors | overhead, 1 executor |")
print("|---|---:|---:|---:|---:|")
for q in sorted(t):
    r = t[q]
    print(f"| {names[q]} | {r['local']:.3f} | {r['one']:.3f} | {r['two']:.3f} | {r['one'] - r['local']:+.3f} |")
gm = lambda k: math.exp(sum(math.log(r[k]) for r in t.values()) / len(t))
print(f"| geometric mean | {gm('local'):.3f} | {gm('one'):.3f} | {gm('two'):.3f} | x{gm('one') / gm('local'):.2f} |")
PY
