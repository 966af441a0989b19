#!/usr/bin/env bash
# What hashing every object at ingest costs (SHA-256 of the decompressed content, for
# `trawl validate`): the same trail ingested with and without `--no-hash`, alternating, in
# one run, best of ROUNDS each.
#
#   benches/hash_cost.sh [EVENTS] [ROUNDS]
#
# TRAWL=path/to/trawl picks the binary (default: target/release/trawl under CARGO_TARGET_DIR).
set -euo pipefail
EVENTS="${1:-1000000}"
ROUNDS="${2:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-hash.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "generating $EVENTS events into $work/trail ..." >&2
"$TRAWL" generate --out "$work/trail" --events "$EVENTS" --duplicate-rate 0 > "$work/gen.json"
sync

run() { # $1: label, $2...: extra flags
    local label="$1"; shift
    rm -rf "$work/lake"
    /usr/bin/time -f '%e %U %S' -o "$work/t" \
        "$TRAWL" ingest --quiet --progress never --json --lake "$work/lake" "$@" "$work/trail" > "$work/$label.json"
    echo "$label $(cat "$work/t")" >> "$work/times"
}
for _ in $(seq "$ROUNDS"); do
    run hashed
    run unhashed --no-hash
done

python3 - "$work" "$EVENTS" <<'PY'
import json, sys
work, events = sys.argv[1], int(sys.argv[2])
times, cpu = {}, {}
for line in open(f"{work}/times"):
    label, wall, user, system = line.split()
    times.setdefault(label, []).append(float(wall))
    cpu.setdefault(label, []).append(float(user) + float(system))
gen = json.load(open(f"{work}/gen.json"))
best = {k: min(v) for k, v in times.items()}
least = {k: min(v) for k, v in cpu.items()}
for k in ("unhashed", "hashed"):
    print(f"{k:9} best {best[k]:6.2f} s  ({events / best[k]:,.0f} events/s, {gen['json_bytes'] / best[k] / 1e6:,.0f} MB/s of JSON), CPU {least[k]:.2f} s  runs: {' '.join(f'{t:.2f}' for t in times[k])}")
extra = least["hashed"] - least["unhashed"]
rate = f", {gen['json_bytes'] / extra / 1e9:.2f} GB/s hashed per core" if extra > 0 else ""
print(f"hashing adds {100 * (best['hashed'] / best['unhashed'] - 1):+.1f}% wall time, {extra:+.2f} s CPU{rate} ({gen['json_bytes'] / 1e9:.2f} GB of JSON, {gen['files']} files)")
PY
