//! A full disk and a read-only lake, on a real small file system: a tmpfs mounted in a
//! private mount namespace (`unshare -rm`, which needs no root where user namespaces are
//! allowed). The ingest stops with a clear error, nothing committed is damaged, queries go on,
//! and the next run after space is freed (or the lake made writable) finishes the job.
//!
//! Without `unshare` or mount rights the test fails when `CI` is set and is skipped otherwise.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = r#"
set -u
run() { # name, then the command: writes $OUT/name.{out,err,code}
    name=$1; shift
    "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"; echo $? > "$OUT/$name.code"
}
mount -t tmpfs -o "size=${SIZE_KB}k" tmpfs "$MNT" || exit 90
run full "$TRAWL" ingest --progress never --commit-interval 0.01 --lake "$MNT/lake" "$TRAIL"
run verify_full "$TRAWL" verify --json --lake "$MNT/lake"
run count_full "$TRAWL" sql --format csv --lake "$MNT/lake" "SELECT count(*) FROM cloudtrail_logs"
mount -o remount,size=256m "$MNT"
run freed "$TRAWL" ingest --progress never --lake "$MNT/lake" "$TRAIL"
run ids_freed "$TRAWL" sql --format csv --lake "$MNT/lake" "SELECT eventid FROM cloudtrail_logs"
mount -o remount,ro "$MNT"
run readonly "$TRAWL" ingest --progress never --lake "$MNT/lake" "$MORE"
run count_readonly "$TRAWL" sql --format csv --lake "$MNT/lake" "SELECT count(*) FROM cloudtrail_logs"
run verify_readonly "$TRAWL" verify --lake "$MNT/lake"
mount -o remount,rw "$MNT"
run writable "$TRAWL" ingest --progress never --lake "$MNT/lake" "$MORE"
run ids_writable "$TRAWL" sql --format csv --lake "$MNT/lake" "SELECT eventid FROM cloudtrail_logs"
run verify_end "$TRAWL" verify --lake "$MNT/lake"
"#;

fn ids(csv: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in csv.lines().skip(1) {
        *out.entry(line.to_string()).or_insert(0) += 1;
    }
    out
}

fn trail(dir: &Path, seed: u64, events: usize) -> std::path::PathBuf {
    let spec = trawl_gen::TrailSpec {
        seed,
        events,
        days: 4,
        events_per_file: 100,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(dir, &spec).unwrap();
    dir.to_path_buf()
}

/// Bytes a lake takes on a file system with 4 KiB pages.
fn footprint(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len().div_ceil(4096) * 4096)
        .sum()
}

#[test]
fn disk_full_and_read_only_lakes_fail_clearly_and_lose_nothing() {
    let unshare = Command::new("unshare").args(["-rm", "true"]).status();
    if !unshare.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "`unshare -rm` is not available here: install util-linux and allow user namespaces"
        );
        eprintln!("skipped: `unshare -rm` is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trawl = env!("CARGO_BIN_EXE_trawl");
    let first = trail(&dir.path().join("first"), 11, 6_000);
    let more = trail(&dir.path().join("more"), 12, 1_000);
    // How much room the whole lake needs: the tmpfs gets 40% of it.
    let reference = dir.path().join("reference");
    let o = Command::new(trawl)
        .args(["ingest", "--quiet", "--lake"])
        .arg(&reference)
        .arg(&first)
        .output()
        .unwrap();
    assert!(o.status.success());
    let want = ids(&String::from_utf8_lossy(
        &Command::new(trawl)
            .args(["sql", "--format", "csv", "--lake"])
            .arg(&reference)
            .arg("SELECT eventid FROM cloudtrail_logs")
            .output()
            .unwrap()
            .stdout,
    ));
    let size_kb = footprint(&reference) * 4 / 10 / 1024;

    let (mnt, out) = (dir.path().join("mnt"), dir.path().join("out"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("unshare")
        .args(["-rm", "bash", "-c", SCRIPT])
        .env("TRAWL", trawl)
        .env("TRAIL", &first)
        .env("MORE", &more)
        .env("MNT", &mnt)
        .env("OUT", &out)
        .env("SIZE_KB", size_kb.to_string())
        .env("NO_COLOR", "1")
        .env_remove("TRAWL_LAKE")
        .status()
        .unwrap();
    assert!(status.success(), "the script failed: {status:?}");
    let read = |name: &str, ext: &str| {
        std::fs::read_to_string(out.join(format!("{name}.{ext}"))).unwrap_or_default()
    };
    let code = |name: &str| read(name, "code").trim().parse::<i32>().unwrap();

    // Disk full: exit 2, the cause and what to do, naming the file.
    assert_eq!(code("full"), 2, "{}", read("full", "err"));
    let err = read("full", "err");
    assert!(
        err.contains("No space left on device") && err.contains("free some space"),
        "{err}"
    );
    assert!(
        err.contains(&mnt.join("lake").display().to_string()),
        "{err}"
    );
    // What was committed is whole and queryable.
    assert_eq!(code("verify_full"), 0, "{}", read("verify_full", "out"));
    let verify: serde_json::Value = serde_json::from_str(&read("verify_full", "out")).unwrap();
    let committed = verify["rows"].as_u64().unwrap();
    assert!(committed < want.len() as u64, "the disk was not full");
    assert_eq!(
        read("count_full", "out").lines().nth(1),
        Some(committed.to_string().as_str())
    );
    // Space freed: the same command finishes, every event once.
    assert_eq!(code("freed"), 0, "{}", read("freed", "err"));
    assert_eq!(ids(&read("ids_freed", "out")), want);

    // Read-only: ingest refuses clearly; queries and verify still work.
    assert_eq!(code("readonly"), 2, "{}", read("readonly", "err"));
    let err = read("readonly", "err");
    assert!(
        err.contains("Read-only file system") && err.contains("must be writable"),
        "{err}"
    );
    assert_eq!(
        read("count_readonly", "out").lines().nth(1),
        Some(want.len().to_string().as_str()),
        "{}",
        read("count_readonly", "err")
    );
    assert_eq!(
        code("verify_readonly"),
        0,
        "{}",
        read("verify_readonly", "err")
    );
    // Writable again: the new trail goes in.
    assert_eq!(code("writable"), 0, "{}", read("writable", "err"));
    assert_eq!(ids(&read("ids_writable", "out")).len(), want.len() + 1_000);
    assert_eq!(code("verify_end"), 0, "{}", read("verify_end", "out"));
}
