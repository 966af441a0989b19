#!/usr/bin/env bash
# Dashboard render times: a generated trail of EVENTS events ingested, then each of the five
# dashboards fetched from `trawl serve` (HTML with its charts: every tile's query run) RUNS
# times, and `trawl report all --format html` timed once. Needs curl and GNU time.
#
#   benches/dashboards.sh [EVENTS] [RUNS]
#
# TRAWL picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
RUNS="${2:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-dash-bench.XXXXXX")"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "generating and ingesting $EVENTS events ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" > /dev/null
"$TRAWL" ingest --quiet --progress never --lake "$work/lake" "$work/trail" > /dev/null

port=$((20000 + RANDOM % 20000))
"$TRAWL" serve --lake "$work/lake" --addr "127.0.0.1:$port" 2> "$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do grep -q serving "$work/serve.log" 2>/dev/null && break; sleep 0.1; done

echo "lake: $EVENTS events; trawl serve, each dashboard fetched $RUNS times (seconds; first = cold)"
for d in general-operations error-overview console-login-overview security-group-modifications operational-account-activity; do
    times=""
    for _ in $(seq "$RUNS"); do
        t="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$port/dashboards/$d")"
        [ "${t%% *}" = 200 ] || { echo "$d: HTTP ${t%% *}" >&2; exit 1; }
        times="$times ${t#* }"
    done
    printf '%-30s %s\n' "$d" "$times"
done
/usr/bin/time -f '%e' -o "$work/report.time" "$TRAWL" report all --lake "$work/lake" --format html --out "$work/report.html"
echo "trawl report all --format html: $(cat "$work/report.time") s (process start to file written)"
