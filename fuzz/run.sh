#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with libFuzzer, seeded with the
# fixtures (and the real corpus when TRAWL_CORPUS names it; the SQL target with the .slt
# statements and fuzz/sql.dict), and prints the executions.
# Needs a nightly toolchain and cargo-fuzz (`cargo install --locked cargo-fuzz`).
#
#   fuzz/run.sh [SECONDS]
#
# FUZZ_TARGETS picks the targets (default: read_object records gzip sql).
#
# A crash stops the script with the failing input saved under $CARGO_TARGET_DIR/fuzz-artifacts/.
set -euo pipefail
SECONDS_EACH="${1:-60}"
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/seeds" "$target/fuzz-artifacts"
i=0
while IFS= read -r -d '' f; do
    cp "$f" "$work/seeds/$i"; i=$((i + 1))
done < <(find fixtures ${TRAWL_CORPUS:+"$TRAWL_CORPUS"} -type f ! -name '*.md' -size -1024k -print0)
# The SQL front end's seeds: every statement of the .slt corpus, one per file.
mkdir -p "$work/sql-seeds"
awk -v dir="$work/sql-seeds" '
    function flush() { if (sql != "") { n++; f = dir "/" n; printf "%s", sql > f; close(f) } sql = ""; inq = 0 }
    /^(query|statement) / { flush(); inq = 1; next }
    inq && (/^----/ || /^$/) { flush(); next }
    inq { sql = sql $0 "\n" }
    END { flush() }
' crates/query/tests/slt/*.slt
echo "fuzz: $i seed files, $(ls "$work/sql-seeds" | wc -l) SQL statements, $SECONDS_EACH s per target"

total=0
for t in ${FUZZ_TARGETS:-read_object records gzip sql}; do
    mkdir -p "$work/corpus-$t"
    seeds="$work/seeds"; extra=()
    [ "$t" = sql ] && { seeds="$work/sql-seeds"; extra=(-dict=fuzz/sql.dict); }
    cargo +nightly fuzz run --target-dir "$target/fuzz" "$t" "$work/corpus-$t" "$seeds" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -max_len=65536 "${extra[@]}" \
        -artifact_prefix="$target/fuzz-artifacts/$t-" 2> "$work/$t.log" || {
        tail -60 "$work/$t.log" >&2
        echo "fuzz: $t failed; the input is in $target/fuzz-artifacts/" >&2
        exit 1
    }
    runs="$(grep -o 'Done [0-9]* runs' "$work/$t.log" | grep -o '[0-9]*' | tail -1)"
    echo "fuzz: $t: ${runs:-0} executions, no crash"
    total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions in all"
