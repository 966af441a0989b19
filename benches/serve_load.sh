#!/usr/bin/env bash
# The web app under load (issue 25): a generated trail of EVENTS events is ingested, `trawl
# serve` is started on it, and `trawl-load` (benches/load.rs) runs CLIENTS concurrent clients
# for SECONDS on loopback — dashboard pages with different ranges and filters, drill-downs,
# event JSON pages, console queries light and heavy, commit probes — while `trawl ingest`
# commits 20 more deliveries into the same lake, one every second or so.
#
#   benches/serve_load.sh [EVENTS] [SECONDS] [CLIENTS]
#
# Targets, kept here and checked (exit 1 when one is missed):
#   DASHBOARD_P99_MS  p99 of a dashboard page (default 2000: the issue's target at 64 clients
#                     on a 1M-event lake)
#   MAX_RSS_MB        peak RSS of the server (default 3072)
#   no 5xx, no transport error, every count a commit's total and never going back.
# TRAWL and LOAD pick the binaries (default: release builds under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
SECONDS_EACH="${2:-60}"
CLIENTS="${3:-64}"
DASHBOARD_P99_MS="${DASHBOARD_P99_MS:-2000}"
MAX_RSS_MB="${MAX_RSS_MB:-3072}"
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
TRAWL="${TRAWL:-$target/release/trawl}"
LOAD="${LOAD:-$target/release/trawl-load}"
for b in "$TRAWL" "$LOAD"; do
    [ -x "$b" ] || { echo "no binary at $b: cargo build --release -p trawl-cli -p trawl-web, or set TRAWL and LOAD" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-serve-load.XXXXXX")"
serve_pid=""
ingest_pid=""
cleanup() {
    # The ingest loop stops before its next delivery; the one running is let finish (killing
    # the loop's shell would leave it writing into the directory being removed).
    touch "$work/stop"
    if [ -n "$ingest_pid" ]; then wait "$ingest_pid" 2> /dev/null || true; fi
    if [ -n "$serve_pid" ]; then kill "$serve_pid" 2> /dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "generating and ingesting $EVENTS events, and 20 deliveries to ingest during the run ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days 30 > /dev/null
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null
more=$((EVENTS / 200 + 50))
for i in $(seq 20); do
    "$TRAWL" generate --out "$work/more/$i" --events "$more" --days 30 --seed $((1000 + i)) > /dev/null
done

port=$((20000 + RANDOM % 20000))
"$TRAWL" serve --lake "$work/lake" --addr "127.0.0.1:$port" 2> "$work/serve.log" &
serve_pid=$!
for _ in $(seq 300); do grep -q serving "$work/serve.log" 2> /dev/null && break; sleep 0.1; done
grep -q serving "$work/serve.log" || { cat "$work/serve.log" >&2; exit 2; }

(
    sleep 2
    for i in $(seq 20); do
        [ -e "$work/stop" ] && break
        "$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/more/$i" > /dev/null
        sleep 1
    done
) &
ingest_pid=$!

set +e
"$LOAD" --addr "127.0.0.1:$port" --lake "$work/lake" --clients "$CLIENTS" \
    --seconds "$SECONDS_EACH" --dashboard-p99-ms "$DASHBOARD_P99_MS" --json "$work/load.json"
rc=$?
set -e
commits="$(ls "$work/lake/_trawl/log" | wc -l)"
rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")"
echo "server peak RSS: $((rss_kb / 1024)) MiB (target: at most $MAX_RSS_MB); lake: $commits commits at the end"
if [ "$((rss_kb / 1024))" -gt "$MAX_RSS_MB" ]; then
    echo "serve_load: FAILED: peak RSS over $MAX_RSS_MB MiB" >&2
    rc=1
fi
grep -q "panicked" "$work/serve.log" && { echo "serve_load: the server panicked:" >&2; cat "$work/serve.log" >&2; rc=1; }
exit "$rc"
