# Sourced by the benchmark scripts after they set `here` (their directory): the trawl binary
# they run, $TRAWL, else target/release/trawl under CARGO_TARGET_DIR.
target="${CARGO_TARGET_DIR:-$here/../target}"
TRAWL="${TRAWL:-$target/release/trawl}"
[ -x "$TRAWL" ] || { echo "no trawl binary at $TRAWL: cargo build --release, or set TRAWL" >&2; exit 2; }

# For scripts that start servers: a scratch directory $work, removed at exit with the
# processes whose PIDs they add to $pids.
with_work() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/trawl-$1.XXXXXX")"
    pids=()
    trap cleanup EXIT
}
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
# A loopback port nothing listens on.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits until something listens on loopback port $1 (30 s at most).
wait_port() {
    for _ in $(seq 300); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2> /dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}
# best_of OUT CMD...: the best wall time of $ROUNDS runs of CMD (each a fresh process), in
# seconds with 3 decimals; the stdout of the last run is left in OUT.
best_of() {
    local out=$1 best_s="" t0 t1 s
    shift
    for _ in $(seq "$ROUNDS"); do
        t0=$(date +%s.%N)
        "$@" > "$out"
        t1=$(date +%s.%N)
        s=$(echo "$t1 - $t0" | bc)
        if [ -z "$best_s" ] || [ "$(echo "$s < $best_s" | bc)" = 1 ]; then best_s=$s; fi
    done
    printf '%.3f' "$best_s"
}
