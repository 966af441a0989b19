#!/usr/bin/env python3
"""Peak memory of `trawl ingest` on hostile and unusual objects (issue 25, part 1).

Each case is written to its own directory, ingested into a fresh lake by the given trawl
binary, and its peak RSS read from the kernel's high-water mark (VmHWM) of that process,
polled every 5 ms until it exits. Prints a Markdown table.

    python3 benches/hostile.py --trawl target/release/trawl [--scale 1.0] [--jsonl-gb 10]

--scale multiplies the bomb sizes (1.0: the sizes of docs/benchmarks.md); --max-rss-mb makes
the script fail when a case peaks above it.
"""
import argparse, gzip, json, os, shutil, subprocess, sys, tempfile, time

MIB = 1 << 20


def member(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=6)


def write_gz(path, parts):
    """parts: (text, times): each text compressed once and its gzip member repeated."""
    with open(path, "wb") as f:
        for text, times in parts:
            m = member(text)
            for _ in range(times):
                f.write(m)


def event(i, pad=""):
    extra = f',"pad":"{pad}"' if pad else ""
    return (
        '{"eventVersion":"1.08","eventTime":"2024-03-01T12:00:00Z","eventSource":"s3.amazonaws.com",'
        '"eventName":"GetObject","awsRegion":"us-east-1","eventID":"%s",'
        '"requestParameters":{"bucketName":"b","key":"k/%s"%s}}' % (i, i, extra)
    )


def cases(scale, jsonl_gb):
    n = lambda mib: max(1, int(mib * scale / 64))  # 64 MiB members
    blanks, letters, brackets = b" " * (64 * MIB), b"A" * (64 * MIB), b"[" * (64 * MIB)
    yield "whitespace bomb: 2 GiB of blanks between two events", "ws.json.gz", lambda p: write_gz(
        p, [(("{\"Records\":[%s," % event("w1")).encode(), 1), (blanks, n(2048)), ((event("w2") + "]}").encode(), 1)])
    yield "whitespace bomb, array never closed", "open.json.gz", lambda p: write_gz(
        p, [(b'{"Records":[', 1), (blanks, n(2048))])
    yield "giant string: one 1 GiB record between two events", "string.json.gz", lambda p: write_gz(
        p, [(('{"Records":[%s,{"eventID":"g","requestParameters":{"x":"' % event("g1")).encode(), 1),
            (letters, n(1024)), (('"}},%s]}' % event("g2")).encode(), 1)])
    yield "one 300 MB record (requestParameters)", "record300.json.gz", lambda p: write_gz(
        p, [(('{"Records":[{"eventID":"r","eventTime":"2024-03-01T12:00:00Z","requestParameters":{"x":"').encode(), 1),
            (b"B" * (60 * 1000 * 1000), 5), (b'"}}]}', 1)])
    yield "deep nesting: 1 GiB of `[`", "deep.json.gz", lambda p: write_gz(
        p, [(b'{"Records":[', 1), (brackets, n(1024))])
    empties = b"{}," * MIB
    yield "many tiny records: 100 M empty objects", "tiny.json.gz", lambda p: write_gz(
        p, [(b'{"Records":[', 1), (empties, int(100 * scale)), ((event("t1") + "]}").encode(), 1)])
    for label, size in (("just under", 16 * MIB - 4096), ("just over", 16 * MIB + 4096)):
        yield f"high ratio, {label} the 16 MiB streaming threshold", f"ratio-{label[5:]}.json.gz", (
            lambda p, size=size: write_gz(p, [(('{"Records":[%s,%s%s]}' % (event("a"), " " * size, event("b"))).encode(), 1)]))
    for label, size in (("just under", 16 * MIB - 4096), ("just over", 16 * MIB + 4096)):
        yield f"one record {label} --max-record-bytes (16 MiB)", f"rec-{label[5:]}.json.gz", (
            lambda p, size=size: write_gz(p, [(('{"Records":[{"eventID":"x","eventTime":"2024-03-01T12:00:00Z","requestParameters":{"x":"%s"}}]}' % ("C" * (size - 100))).encode(), 1)]))

    def jsonl(p):
        pad = "p" * 400
        with open(p, "w") as f:
            i, written, target = 0, 0, int(jsonl_gb * (1 << 30))
            while written < target:
                chunk = "".join(event(f"l{i + k}", pad) + "\n" for k in range(10000))
                f.write(chunk)
                written += len(chunk)
                i += 10000
    yield f"{jsonl_gb:g} GB JSON Lines file (plain)", "big.jsonl", jsonl


def high_water_mib(pid):
    """The process's peak resident memory so far (VmHWM), in MiB; 0 once it has exited.
    (wait4's ru_maxrss would not do: a child's count starts from its parent's peak.)"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trawl", required=True)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--jsonl-gb", type=float, default=10.0)
    ap.add_argument("--max-rss-mb", type=float)
    ap.add_argument("--tmp", default=None)
    a = ap.parse_args()
    print("| case | object as stored | text | events | bad records | quarantined | seconds | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0
    for label, name, make in cases(a.scale, a.jsonl_gb):
        d = tempfile.mkdtemp(dir=a.tmp)
        try:
            os.mkdir(f"{d}/src")
            make(f"{d}/src/{name}")
            size = os.path.getsize(f"{d}/src/{name}")
            t = time.time()
            with open(f"{d}/summary.json", "wb") as out:
                p = subprocess.Popen([a.trawl, "ingest", "--json", "--progress", "never", "--lake", f"{d}/lake",
                                      f"{d}/src"], stdout=out, stderr=subprocess.DEVNULL)
                rss = 0
                while p.poll() is None:
                    rss = max(rss, high_water_mib(p.pid))
                    time.sleep(0.005)
            secs = time.time() - t
            with open(f"{d}/summary.json") as f:
                s = json.load(f)
            worst = max(worst, rss)
            print(f"| {label} | {size / MIB:,.1f} MiB | {s['json_bytes'] / MIB:,.0f} MiB | {s['events_stored']} | "
                  f"{s['bad_records']} | {len(s['quarantined'])} | {secs:.1f} | {rss:,.0f} MiB |", flush=True)
        finally:
            shutil.rmtree(d)
    if a.max_rss_mb and worst > a.max_rss_mb:
        sys.exit(f"peak RSS {worst:.0f} MiB is over {a.max_rss_mb} MiB")


if __name__ == "__main__":
    main()
