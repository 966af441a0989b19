#!/usr/bin/env bash
# The lake in S3 against the lake on disk (docs/lake-layout.md, "A lake in S3"), on moto's S3
# server behind a proxy that holds each request DELAY_MS (a region away): one trail of EVENTS
# events over DAYS days, ingested into a local lake, into an S3 lake by one writer, and by 2
# and 4 `--shard` writers at once; then `trawl sql` count(*) and `trawl report all` on each.
# Also the trail uploaded to a bucket and ingested from there into an S3 lake (bucket to
# bucket). Prints wall times, commits, lost races (commit_retries), the CPU seconds moto and
# the proxy used meanwhile (on the same cores as trawl, unlike a real S3 endpoint), and each
# ingest's peak RSS (the largest of a run's writers).
#
#   benches/s3_lake.sh [EVENTS] [DAYS] [DELAY_MS]
#
# Needs python3 with moto and boto3. TRAWL=path/to/trawl picks the binary.
set -euo pipefail
EVENTS="${1:-200000}"
DAYS="${2:-7}"
DELAY_MS="${3:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

with_work s3lake
moto_port="$(free_port)"
python3 -m moto.server -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 &
pids+=($!)
proxy_port="$(free_port)"
python3 "$here/latency_proxy.py" "$proxy_port" "$moto_port" "$DELAY_MS" &
pids+=($!)
wait_port "$moto_port"
python3 -c "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='k', aws_secret_access_key='s', region_name='us-east-1').create_bucket(Bucket='lakes')" "http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
endpoint="http://127.0.0.1:$proxy_port"

echo "generating $EVENTS events over $DAYS days into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days "$DAYS" > /dev/null
sync
now() { date +%s.%N; }
# CPU seconds moto and the proxy have used so far: they share the machine's cores with trawl,
# which a real S3 endpoint would not.
server_cpu() {
    python3 - "${pids[@]}" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in sys.argv[1:]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
print(total / tick)
PY
}
ingest() { # NAME LAKE [ARGS...]: one ingest of the trail on disk (or of SOURCE if set), its
    # JSON summary in $work/NAME.json, its peak RSS (KB) in $work/NAME.rss
    local name="$1" lake="$2"
    shift 2
    /usr/bin/time -f %M -o "$work/$name.rss" \
        "$TRAWL" ingest --quiet --progress never --json --lake "$lake" --endpoint-url "$endpoint" \
        --mirror "$work/mirror-$name" "${SOURCE:-$work/trail}" "$@" > "$work/$name.json"
}

c0=$(server_cpu); t0=$(now); ingest local "$work/local"; t1=$(now)
echo "local $t0 $t1 $c0 $(server_cpu)" > "$work/times"
c0=$(server_cpu); t0=$(now); ingest s3-1 s3://lakes/one; t1=$(now)
echo "s3-1 $t0 $t1 $c0 $(server_cpu)" >> "$work/times"
# Bucket to bucket: the trail uploaded to moto, read from S3 into an S3 lake.
python3 - "http://127.0.0.1:$moto_port" "$work/trail" <<'PY'
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='k',
                  aws_secret_access_key='s', region_name='us-east-1')
s3.create_bucket(Bucket='trail')
root = sys.argv[2]
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda p: s3.upload_file(p, 'trail', os.path.relpath(p, root)), paths))
PY
c0=$(server_cpu); t0=$(now); SOURCE=s3://trail/ ingest b2b s3://lakes/b2b; t1=$(now)
echo "b2b $t0 $t1 $c0 $(server_cpu)" >> "$work/times"
# N --shard writers at once, each as on its own machine; then again with one parser thread
# each, so that the cores fill one writer at a time (the protocol's scaling, apart from the
# cores).
shards() { # NAME N [ARGS...]
    local name="$1" n="$2"
    shift 2
    c0=$(server_cpu)
    t0=$(now)
    writers=()
    for k in $(seq "$n"); do
        ingest "$name-$k" "s3://lakes/$name" --shard "$k/$n" "$@" &
        writers+=($!)
    done
    for w in "${writers[@]}"; do wait "$w"; done
    t1=$(now)
    echo "$name $t0 $t1 $c0 $(server_cpu)" >> "$work/times"
}
shards s3-2 2
shards s3-4 4
for n in 1 2 4; do shards "t1-$n" "$n" --threads 1; done

query() { # NAME LAKE: count(*) and report all, wall times
    local name="$1" lake="$2"
    local t0 t1 t2
    t0=$(now)
    "$TRAWL" sql --format csv --lake "$lake" --endpoint-url "$endpoint" --mirror "$work/mirror-q-$name" \
        "SELECT count(*) FROM cloudtrail_logs" > "$work/count-$name"
    t1=$(now)
    "$TRAWL" report all --all-time --format json --lake "$lake" --endpoint-url "$endpoint" \
        --mirror "$work/mirror-q-$name" > /dev/null
    t2=$(now)
    echo "q-$name $t0 $t1 $t2" >> "$work/times"
}
query local "$work/local"
query s3 s3://lakes/s3-4

python3 - "$work" "$DELAY_MS" <<'PY'
import glob, json, sys
work, delay = sys.argv[1], sys.argv[2]
times = {}
for line in open(f"{work}/times"):
    name, *ts = line.split()
    times[name] = [float(t) for t in ts]
def runs(prefix):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{work}/{prefix}.json"))]
local = runs("local")[0]
base = times["local"][1] - times["local"][0]
print(f"events {local['events_stored']}, request delay {delay} ms (moto behind a proxy)")
print(f"{'ingest':32} {'wall s':>8} {'vs local':>9} {'events/s':>9} {'events':>9} {'commits':>8} "
      f"{'lost races':>10} {'server CPU s':>12} {'peak RSS MB':>11}")
for name, label, files in [("local", "local lake", "local"), ("s3-1", "S3 lake, 1 writer", "s3-1"),
                           ("b2b", "S3 trail into S3 lake, 1 writer", "b2b"),
                           ("s3-2", "S3 lake, 2 --shard writers", "s3-2-*"),
                           ("s3-4", "S3 lake, 4 --shard writers", "s3-4-*"),
                           ("t1-1", "1 writer, 1 thread", "t1-1-*"),
                           ("t1-2", "2 --shard writers, 1 thread each", "t1-2-*"),
                           ("t1-4", "4 --shard writers, 1 thread each", "t1-4-*")]:
    rs = runs(files)
    wall = times[name][1] - times[name][0]
    rss = max(int(open(f).read().split()[-1]) for f in glob.glob(f"{work}/{files}.rss")) / 1024
    stored = sum(r['events_stored'] for r in rs)
    print(f"{label:32} {wall:8.2f} {base / wall:8.2f}x {stored / wall:9.0f} {stored:9} "
          f"{sum(r['commits'] for r in rs):8} {sum(r['commit_retries'] for r in rs):10} "
          f"{times[name][3] - times[name][2]:12.2f} {rss:11.0f}")
for name in ["local", "s3"]:
    t = times[f"q-{name}"]
    count = open(f"{work}/count-{name}").read().split()[-1]
    print(f"{name:6} count(*) = {count}: {t[1] - t[0]:.2f} s; report all: {t[2] - t[1]:.2f} s")
PY
