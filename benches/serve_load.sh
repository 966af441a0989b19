#!/usr/bin/env bash
# The web app under load (issue 25): a generated trail of EVENTS events is ingested, `trawl
# serve` is started on it, and `trawl-load` (benches/load.rs) runs CLIENTS concurrent clients
# for SECONDS on loopback — dashboard pages with different ranges and filters, drill-downs,
# event JSON pages, console queries light and heavy, commit probes — while `trawl ingest`
# commits 20 more deliveries into the same lake, one every second or so.
#
#   benches/serve_load.sh [EVENTS] [SECONDS] [CLIENTS]
#
# DELIVERIES picks what those commits hold:
#   next    (default) the trail's next day, as CloudTrail delivers it: the trail is generated
#           over 31 days, the first 30 (EVENTS events) are ingested before the run, and the
#           last day's objects are held back and delivered in 20 batches (each commit writes
#           into the newest day, as an ingest that follows a bucket does)
#   spread  20 small trails of their own, each over the same 30 days (every commit writes a
#           small file into every day: the worst case for the lake's file count)
#
# Targets, kept here and checked (exit 1 when one is missed):
#   DASHBOARD_P99_MS  p99 of a dashboard page (default 2000: the issue's target at 64 clients
#                     on a 1M-event lake)
#   MAX_RSS_MB        peak RSS of the server (default 3072)
#   no 5xx, no transport error, every count a commit's total and never going back.
# The load and the deliveries begin when the server's GET /ready answers 200 (its dashboards'
# default pages computed, as after any start); READY_TIMEOUT (default 600 s) bounds the wait,
# and READY_TIMEOUT=0 loads it at once, while it warms (a cold start under load).
# TRAWL and LOAD pick the binaries (default: release builds under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
SECONDS_EACH="${2:-60}"
CLIENTS="${3:-64}"
DASHBOARD_P99_MS="${DASHBOARD_P99_MS:-2000}"
MAX_RSS_MB="${MAX_RSS_MB:-3072}"
READY_TIMEOUT="${READY_TIMEOUT:-600}"
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

DELIVERIES="${DELIVERIES:-next}"
echo "generating and ingesting $EVENTS events, and 20 deliveries ($DELIVERIES) to ingest during the run ..." >&2
case "$DELIVERIES" in
next)
    "$TRAWL" generate --out "$work/trail" --events $((EVENTS * 31 / 30)) --days 31 > /dev/null
    # The 31st day's objects (2024-03-31 in the key layout), dealt round in 20 deliveries.
    find "$work/trail" -path '*/2024/03/31/*' -type f | sort | awk '{print NR % 20 + 1, $0}' |
        while read -r i f; do
            rel="${f#"$work"/trail/}"
            mkdir -p "$work/more/$i/$(dirname "$rel")"
            mv "$f" "$work/more/$i/$rel"
        done
    ;;
spread)
    "$TRAWL" generate --out "$work/trail" --events "$EVENTS" --days 30 > /dev/null
    for i in $(seq 20); do
        "$TRAWL" generate --out "$work/more/$i" --events $((EVENTS / 200 + 50)) --days 30 \
            --seed $((1000 + i)) > /dev/null
    done
    ;;
*)
    echo "DELIVERIES is next or spread, not $DELIVERIES" >&2
    exit 2
    ;;
esac
# A small trail's last day may have fewer than 20 objects: as many deliveries as it has.
[ -n "$(ls "$work/more" 2> /dev/null)" ] || { echo "serve_load: no deliveries in $work/more" >&2; exit 2; }
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null

port=$((20000 + RANDOM % 20000))
"$TRAWL" serve --lake "$work/lake" --addr "127.0.0.1:$port" 2> "$work/serve.log" &
serve_pid=$!
for _ in $(seq 300); do grep -q serving "$work/serve.log" 2> /dev/null && break; sleep 0.1; done
grep -q serving "$work/serve.log" || { cat "$work/serve.log" >&2; exit 2; }
# The load and the deliveries begin once the server is ready (GET /ready: its dashboards'
# default pages computed); READY_TIMEOUT=0 begins at once, while it warms (a cold start).
if [ "$READY_TIMEOUT" -gt 0 ]; then
    command -v curl > /dev/null || { echo "serve_load: curl is needed to wait for the server (or READY_TIMEOUT=0)" >&2; exit 2; }
    started_ms=$(($(date +%s%N) / 1000000))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ]; do
        if [ $(($(date +%s%N) / 1000000 - started_ms)) -gt $((READY_TIMEOUT * 1000)) ]; then
            echo "serve_load: the server was not ready within $READY_TIMEOUT s" >&2
            cat "$work/serve.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "server ready after $(($(date +%s%N) / 1000000 - started_ms)) ms" >&2
fi

(
    sleep 2
    for delivery in "$work"/more/*; do
        [ -e "$work/stop" ] && break
        "$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$delivery" > /dev/null
        sleep 1
    done
) &
ingest_pid=$!

set +e
"$LOAD" --addr "127.0.0.1:$port" --lake "$work/lake" --clients "$CLIENTS" \
    --seconds "$SECONDS_EACH" --dashboard-p99-ms "$DASHBOARD_P99_MS" --json "$work/load.json" \
    --ready-timeout 0
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
