#!/usr/bin/env bash
# S3 ingest benchmark: the same generated trail ingested from local disk and from an S3
# endpoint on loopback with injected latency on every request, in one run; and the AWS
# CLI's `aws s3 cp --recursive` (download only, its default settings) as a peer. Then the
# S3 ingest again (everything in the ledger: listing and ledger only) beside the AWS CLI's
# `aws s3 ls --recursive` (listing only).
#
#   benches/s3_vs_local.sh [OBJECTS] [LATENCY_MS]
#
# TRAWL / FAKE pick the binaries (default: release builds under CARGO_TARGET_DIR:
# `cargo build --release -p trawl-cli -p trawl-s3-fake`). EVENTS_PER_FILE (default 80) sets
# the object size; S3_ARGS adds options to the S3 run (e.g. `--concurrency 128`); PEERS
# picks the AWS CLI rows (default "cp ls"; "ls" skips the slow copy of many small objects);
# BASELINE names another trawl binary (an earlier build) to run the S3 ingest and re-run with
# too, on the same endpoint, for before/after figures. Prints seconds, events/s and peak RSS for each, the S3/local ratio and the
# request counts. The re-run (ledger) and `aws s3 ls` rows show what listing takes. Needs GNU time (/usr/bin/time); the AWS CLI row is skipped without `aws`.
set -euo pipefail
OBJECTS="${1:-2500}"
LATENCY="${2:-20}"
PER_FILE="${EVENTS_PER_FILE:-80}"
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
TRAWL="${TRAWL:-$target/release/trawl}"
FAKE="${FAKE:-$target/release/trawl-s3-fake}"
for b in "$TRAWL" "$FAKE"; do
    [ -x "$b" ] || { echo "no binary at $b: cargo build --release -p trawl-cli -p trawl-s3-fake, or set TRAWL/FAKE" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-s3-bench.XXXXXX")"
fake_pid=""
cleanup() {
    if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

events=$((OBJECTS * PER_FILE))
echo "generating $events events in objects of $PER_FILE into $work/root/trail ..." >&2
"$TRAWL" generate --out "$work/root/trail" --events "$events" --events-per-file "$PER_FILE" \
    --duplicate-rate 0 > "$work/gen.json"
sync

"$FAKE" --root "$work/root" --latency-ms "$LATENCY" > "$work/endpoint" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/endpoint" ] && break; sleep 0.05; done
endpoint="$(cat "$work/endpoint")"
[ -n "$endpoint" ] || { echo "the S3 endpoint did not start" >&2; exit 2; }

export AWS_ACCESS_KEY_ID=trawl-test AWS_SECRET_ACCESS_KEY=trawl-test-secret AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

/usr/bin/time -f '%e %M %U %S' -o "$work/local.time" \
    "$TRAWL" ingest --quiet --progress never --json --lake "$work/lake-local" "$work/root/trail" > "$work/local.json"
/usr/bin/time -f '%e %M %U %S' -o "$work/s3.time" \
    "$TRAWL" ingest --quiet --progress never --json --lake "$work/lake-s3" \
    --endpoint-url "$endpoint" ${S3_ARGS:-} s3://trail/ > "$work/s3.json"
# The endpoint runs on the same cores: its CPU time is part of the picture.
awk '{print ($14 + $15) / 100}' "/proc/$fake_pid/stat" > "$work/server.cpu"
/usr/bin/time -f '%e %M %U %S' -o "$work/rerun.time" \
    "$TRAWL" ingest --quiet --progress never --json --lake "$work/lake-s3" \
    --endpoint-url "$endpoint" ${S3_ARGS:-} s3://trail/ > "$work/rerun.json"
if [ -n "${BASELINE:-}" ]; then
    for run in base base-rerun; do
        /usr/bin/time -f '%e %M %U %S' -o "$work/$run.time" \
            "$BASELINE" ingest --quiet --progress never --json --lake "$work/lake-base" \
            --endpoint-url "$endpoint" ${S3_ARGS:-} s3://trail/ > "$work/$run.json"
    done
fi
peers="${PEERS:-cp ls}"
if command -v aws > /dev/null; then
    if [[ " $peers " == *" cp "* ]]; then
        /usr/bin/time -f '%e %M %U %S' -o "$work/aws.time" \
            aws s3 cp --quiet --recursive --endpoint-url "$endpoint" s3://trail/ "$work/copy" || rm -f "$work/aws.time"
        rm -rf "$work/copy"
    fi
    if [[ " $peers " == *" ls "* ]]; then
        /usr/bin/time -f '%e %M %U %S' -o "$work/ls.time" \
            aws s3 ls --recursive --endpoint-url "$endpoint" s3://trail/ > /dev/null || rm -f "$work/ls.time"
    fi
fi

python3 - "$work" "$LATENCY" <<'PY'
import json, os, sys
work, latency = sys.argv[1], sys.argv[2]
gen = json.load(open(os.path.join(work, "gen.json")))
def timing(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return None
    secs, kb, user, sys_ = open(path).read().split()
    return float(secs), int(kb) / 1024, float(user) + float(sys_)
local = json.load(open(os.path.join(work, "local.json")))
s3 = json.load(open(os.path.join(work, "s3.json")))
rerun = json.load(open(os.path.join(work, "rerun.json")))
base = os.path.join(work, "base.json")
if os.path.exists(base):
    b = json.load(open(base))
    assert b["events_stored"] == gen["events"], f"the baseline stored {b['events_stored']} of {gen['events']}"
for name, s in [("local", local), ("s3", s3)]:
    assert s["events_stored"] == gen["events"], f"{name} stored {s['events_stored']} of {gen['events']}"
    assert not s["quarantined"], f"{name} quarantined {s['quarantined']}"
assert rerun["events_stored"] == 0 and rerun["objects_skipped"] == gen["files"], \
    f"the re-run stored {rerun['events_stored']} and skipped {rerun['objects_skipped']} of {gen['files']}"
assert rerun["s3"]["get_requests"] == 0, f"the re-run made {rerun['s3']['get_requests']} GETs"
print(f"trail: {gen['files']} objects, {gen['events']} events, {gen['gz_bytes'] / 1e6:.1f} MB gzip, "
      f"{gen['json_bytes'] / 1e6:.1f} MB JSON; S3 endpoint with {latency} ms added to every request")
print(f"{'run':32} {'seconds':>8} {'events/s':>10} {'objects/s':>10} {'peak RSS MB':>12} {'CPU s':>6}")
rows = {}
for name, label in [("local", "trawl ingest (local disk)"), ("s3", "trawl ingest s3://"),
                    ("aws", "aws s3 cp --recursive"), ("base", "baseline ingest s3://"),
                    ("rerun", "trawl ingest s3:// (re-run)"),
                    ("base-rerun", "baseline ingest s3:// (re-run)"),
                    ("ls", "aws s3 ls --recursive")]:
    t = timing(f"{name}.time")
    if t is None:
        continue
    secs, rss, cpu = t
    rows[name] = secs
    # Re-runs and listings store no events: objects/s is their rate.
    rate = "-" if name in ("rerun", "base-rerun", "ls") else f"{gen['events'] / secs:.0f}"
    print(f"{label:32} {secs:8.2f} {rate:>10} {gen['files'] / secs:10.0f} {rss:12.0f} {cpu:6.2f}")
print(f"S3/local throughput: {rows['local'] / rows['s3'] * 100:.0f}%")
server_cpu = float(open(os.path.join(work, "server.cpu")).read())
print(f"the S3 endpoint's own CPU during the S3 run (same cores): {server_cpu:.2f} s")
r = s3["s3"]
print(f"S3 requests: {r['list_requests']} LIST, {r['get_requests']} GET, {r['retries']} retried, "
      f"{r['bytes'] / 1e6:.1f} MB")
r = rerun["s3"]
print(f"re-run: {rerun['objects_skipped']} objects in the ledger skipped, {r['list_requests']} LIST, "
      f"{r['get_requests']} GET")
PY
