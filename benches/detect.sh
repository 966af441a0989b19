#!/usr/bin/env bash
# `trawl detect` (docs/investigate.md): SigmaHQ's 57 CloudTrail rules (../shared/sigma) and the
# rules and correlations of fixtures/sigma/correlations, over a generated lake of EVENTS events
# over DAYS days: the whole run, each the best of ROUNDS fresh processes, in the lake's default
# layout and compacted sorted by service (`--sort-by eventsource,eventname`, where a rule's
# equality on the event name skips row groups by their statistics). Then the peer: the rsigma
# CLI (`rsigma engine eval`, the rsigma-eval evaluator, MIT) over the same events as JSON lines,
# against `trawl detect` on a lake of them, PEER_EVENTS events; the hits per rule must agree
# (the script stops if they do not).
#
#   benches/detect.sh [EVENTS] [DAYS] [ROUNDS] [PEER_EVENTS]
#
# EVENTS=0 runs the peer comparison only.
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR);
# SIGMA=dir the SigmaHQ rules (default ../shared/sigma/rules beside the repository);
# RSIGMA=path the rsigma CLI (default: installed from crates.io into ~/.cache/trawl-tools the
# first time); RSIGMA=none skips the peer.
set -euo pipefail
EVENTS="${1:-10000000}"
DAYS="${2:-30}"
ROUNDS="${3:-3}"
PEER_EVENTS="${4:-1000000}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
SIGMA="${SIGMA:-$here/../../shared/sigma/rules}"
[ -d "$SIGMA" ] || { echo "no Sigma rules at $SIGMA: set SIGMA" >&2; exit 2; }
CORR="$here/../fixtures/sigma/correlations"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-detect.XXXXXX")"
trap 'rm -rf "$work"' EXIT

lake_of() { # lake_of EVENTS DIR: a generated trail of EVENTS events in DIR/trail, ingested into DIR/lake
    "$TRAWL" generate --out "$2/trail" --events "$1" --days "$DAYS" > /dev/null
    "$TRAWL" ingest --quiet --progress never --lake "$2/lake" "$2/trail" > /dev/null
}

# detect LAKE [FLAGS...]: hits on stdout as JSON lines; the summary on stderr kept in $work/err.
detect() {
    local lake=$1
    shift
    "$TRAWL" detect --lake "$lake" --rules "$SIGMA" "$CORR" --format jsonl "$@" 2> "$work/err"
}
rules_line() { grep -E '^[0-9]+ rules, ' "$work/err"; }

printf '%-34s %10s %10s\n' layout hits seconds
if [ "$EVENTS" -gt 0 ]; then
    echo "generating and ingesting $EVENTS events over $DAYS days ..." >&2
    started=$(date +%s.%N)
    lake_of "$EVENTS" "$work/big"
    echo "  in $(echo "$(date +%s.%N) - $started" | bc) s" >&2
    t=$(best_of "$work/hits" detect "$work/big/lake")
    echo "  $(rules_line)" >&2
    printf '%-34s %10s %10s\n' "default (by time)" "$(wc -l < "$work/hits")" "$t"
    t=$(best_of "$work/hits-medium" detect "$work/big/lake" --min-level medium)
    printf '%-34s %10s %10s\n' "default, --min-level medium" "$(wc -l < "$work/hits-medium")" "$t"
    "$TRAWL" compact --lake "$work/big/lake" --sort-by eventsource,eventname --retain 0s > /dev/null
    t=$(best_of "$work/hits-sorted" detect "$work/big/lake")
    printf '%-34s %10s %10s\n' "sorted by eventsource,eventname" "$(wc -l < "$work/hits-sorted")" "$t"
    [ "$(wc -l < "$work/hits")" = "$(wc -l < "$work/hits-sorted")" ] ||
        { echo "the sorted lake gave other hits" >&2; exit 1; }
    rm -rf "$work/big"
fi

[ "${RSIGMA:-}" = none ] && exit 0
if [ -z "${RSIGMA:-}" ]; then
    tools="$HOME/.cache/trawl-tools"
    RSIGMA="$tools/bin/rsigma"
    [ -x "$RSIGMA" ] || cargo install --quiet --locked --root "$tools" --version 0.23.0 \
        --no-default-features --features rsigma-runtime rsigma >&2
fi

echo "peer: $PEER_EVENTS events as JSON lines for rsigma ..." >&2
lake_of "$PEER_EVENTS" "$work/peer"
python3 - "$work/peer/trail" "$work/peer/events.jsonl" <<'PY'
import gzip, json, pathlib, sys
seen = set()
with open(sys.argv[2], "w") as out:
    for f in sorted(pathlib.Path(sys.argv[1]).rglob("*.json.gz")):
        for r in json.load(gzip.open(f))["Records"]:
            # The lake keeps one of a re-delivered event: so does the peer's input.
            if r["eventID"] not in seen:
                seen.add(r["eventID"])
                out.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
# rsigma reads the SigmaHQ rules only (the correlations of fixtures/sigma are trawl's test
# material; both engines evaluate the same 57 rules here).
peer_trawl() { "$TRAWL" detect --lake "$work/peer/lake" --rules "$SIGMA" --format jsonl 2> /dev/null; }
peer_rsigma() { "$RSIGMA" engine eval --rules "$SIGMA" --event "@$work/peer/events.jsonl" 2> /dev/null; }
tt=$(best_of "$work/peer-trawl" peer_trawl)
tr=$(best_of "$work/peer-rsigma" peer_rsigma)
count() { python3 -c '
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        h = json.loads(line)
        c[h.get("title") or h.get("rule_title") or h.get("rule", {}).get("title")] += 1
print(json.dumps(dict(sorted(c.items()))))' "$1"; }
ct=$(count "$work/peer-trawl")
cr=$(count "$work/peer-rsigma")
printf '%-34s %10s %10s\n' "peer: trawl detect (lake)" "$(wc -l < "$work/peer-trawl")" "$tt"
printf '%-34s %10s %10s\n' "peer: rsigma engine eval (JSON)" "$(grep -c '^{' "$work/peer-rsigma" || true)" "$tr"
if [ "$ct" != "$cr" ]; then
    echo "hits per rule differ:" >&2
    python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); [print(f"  {k}: trawl {a.get(k,0)} rsigma {b.get(k,0)}", file=sys.stderr) for k in sorted(set(a)|set(b)) if a.get(k,0)!=b.get(k,0)]' "$ct" "$cr"
    exit 1
fi
echo "hits per rule agree" >&2
