#!/usr/bin/env bash
# `trawl validate` on a generated trail with signed digest files, ingested from an S3 endpoint
# on loopback (`trawl-s3-fake`, which serves each digest's signature as object metadata, as S3
# does): the time of a validation from the lake alone, and with every log file re-read at its
# source (`--reread`), best of ROUNDS each, with peak RSS.
#
#   benches/validate.sh [EVENTS] [ROUNDS]
#
# TRAWL / FAKE pick the binaries (default: release builds under CARGO_TARGET_DIR:
# `cargo build --release -p trawl-cli -p trawl-s3-fake`). Needs GNU time (/usr/bin/time).
set -euo pipefail
EVENTS="${1:-1000000}"
ROUNDS="${2:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
TRAWL="${TRAWL:-$target/release/trawl}"
FAKE="${FAKE:-$target/release/trawl-s3-fake}"
for b in "$TRAWL" "$FAKE"; do
    [ -x "$b" ] || { echo "no binary at $b: cargo build --release -p trawl-cli -p trawl-s3-fake, or set TRAWL/FAKE" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-validate.XXXXXX")"
fake_pid=""
cleanup() {
    if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "generating $EVENTS events with digest files into $work/root/bkt ..." >&2
"$TRAWL" generate --out "$work/root/bkt" --events "$EVENTS" --digests --bucket bkt \
    --public-keys-out "$work/keys.json" > "$work/gen.json"
"$FAKE" --root "$work/root" > "$work/endpoint" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/endpoint" ] && break; sleep 0.05; done
endpoint="$(cat "$work/endpoint")"
[ -n "$endpoint" ] || { echo "the S3 endpoint did not start" >&2; exit 2; }
export AWS_ACCESS_KEY_ID=trawl-test AWS_SECRET_ACCESS_KEY=trawl-test-secret AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
"$TRAWL" ingest --quiet --progress never --json --lake "$work/lake" --endpoint-url "$endpoint" s3://bkt/ > /dev/null

run() { # $1: label, $2...: extra flags
    local label="$1"; shift
    # Exit 0: every digest valid (1 would mean the trail failed validation: a broken run).
    /usr/bin/time -f '%e %M' -o "$work/t" "$TRAWL" validate --lake "$work/lake" \
        --public-keys "$work/keys.json" --endpoint-url "$endpoint" --no-save "$@" > "$work/$label.out"
    echo "$label $(cat "$work/t")" >> "$work/times"
}
for _ in $(seq "$ROUNDS"); do
    run lake
    run reread --reread
done

python3 - "$work" "$EVENTS" <<'PY'
import json, sys
work, events = sys.argv[1], int(sys.argv[2])
times = {}
for line in open(f"{work}/times"):
    label, wall, rss = line.split()
    times.setdefault(label, []).append((float(wall), int(rss)))
gen = json.load(open(f"{work}/gen.json"))
print(f"{events:,} events, {gen['files']:,} log files, {gen['digests']:,} digest files")
print(open(f"{work}/lake.out").read().strip().splitlines()[-1])
for label, what in (("lake", "from the lake"), ("reread", "--reread (every log file again from S3)")):
    best = min(times[label])
    print(f"validate {what:40} best {best[0]:6.2f} s, peak RSS {max(r for _, r in times[label]) / 1024:,.0f} MiB  runs: {' '.join(f'{t:.2f}' for t, _ in times[label])}")
PY
