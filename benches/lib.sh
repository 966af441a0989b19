# Sourced by the benchmark scripts after they set `here` (their directory): the trawl binary
# they run, $TRAWL, else target/release/trawl under CARGO_TARGET_DIR.
target="${CARGO_TARGET_DIR:-$here/../target}"
TRAWL="${TRAWL:-$target/release/trawl}"
[ -x "$TRAWL" ] || { echo "no trawl binary at $TRAWL: cargo build --release, or set TRAWL" >&2; exit 2; }
