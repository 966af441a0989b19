//! A lake in object storage (here `object_store`'s in-memory store, which makes the same
//! conditional creates as S3): the same rows as a local lake, read from another machine's
//! mirror, and writers racing for versions with each event stored once. (Alone in its test
//! binary: the crash-point callbacks it sets are process-wide.)

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::ObjectStore;
use object_store::memory::InMemory;
use trawl_lake::layout::Layout;
use trawl_lake::{CompactOptions, IngestOptions, Lake, Remote, compact, verify, writer};

fn remote_lake(dir: &Path, mirror: &str, store: &Arc<InMemory>) -> Lake {
    let store: Arc<dyn ObjectStore> = store.clone();
    let remote = Remote::new("s3://bucket/lake", store).unwrap();
    Lake::open_remote(dir.join(mirror), remote, true).unwrap()
}

/// Every `(eventID hash, content hash)` the lake holds, sorted: its events, as dedup sees them.
fn events(lake: &Lake) -> Vec<(u64, u64)> {
    let snap = lake.snapshot().unwrap();
    let mut all = Vec::new();
    for f in &snap.files {
        if let Some(remote) = lake.remote() {
            remote.fetch(&lake.layout(), &f.index).unwrap();
        }
        all.extend(writer::read_index(&lake.root().join(&f.index)).unwrap());
    }
    all.sort_unstable();
    all
}

/// Ingests `paths` into `lake` with a commit per object (many small files).
fn ingest_small_commits(lake: &Lake, paths: &[PathBuf]) -> trawl_lake::IngestSummary {
    let opts = IngestOptions {
        flush_bytes: 1,
        ..IngestOptions::default()
    };
    trawl_testkit::ingest_with(lake, paths, opts)
}

fn trail(dir: &Path, name: &str, seed: u64, events: usize) -> PathBuf {
    trawl_testkit::trail(&dir.join(name), seed, events, 3)
}

#[test]
fn a_lake_in_object_storage_holds_what_a_local_lake_holds_and_any_mirror_reads_it() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "trail", 11, 4000);
    let local = Lake::create(dir.path().join("local")).unwrap();
    let l = trawl_testkit::ingest(&local, std::slice::from_ref(&src));

    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    let r = trawl_testkit::ingest(&a, std::slice::from_ref(&src));
    assert_eq!(r.events_stored, l.events_stored);
    assert_eq!(r.duplicates_dropped, l.duplicates_dropped);
    assert!(r.events_stored > 3000);
    // The mirror keeps no data file: the data is in the store.
    let snap = a.snapshot().unwrap();
    for f in &snap.files {
        assert!(
            !a.root().join(&f.path).exists(),
            "{} left in the mirror",
            f.path
        );
    }

    // Another machine, with an empty mirror: the same rows, the same ledger.
    let b = remote_lake(dir.path(), "mirror-b", &store);
    assert_eq!(b.snapshot().unwrap().version, snap.version);
    assert_eq!(events(&b), events(&local));
    let again = trawl_testkit::ingest(&b, std::slice::from_ref(&src));
    assert_eq!(again.events_stored, 0);
    assert_eq!(again.objects_skipped, again.objects_found);
    let report = verify(&b).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.rows, l.events_stored);
    // The manifests in the store name the store's files.
    let snap = b.snapshot().unwrap();
    let day = &snap.files[0].dt;
    let manifest = a
        .remote()
        .unwrap()
        .get(&format!("_trawl/manifest/dt={day}/manifest"))
        .unwrap()
        .unwrap();
    let text = String::from_utf8(manifest.to_vec()).unwrap();
    let want = snap.files.iter().filter(|f| &f.dt == day).count();
    assert_eq!(text.lines().count(), want);
    assert!(
        text.lines()
            .all(|l| l.starts_with("s3://bucket/lake/events/"))
    );

    // A mirror made for another lake is refused, not mixed in.
    let other = Arc::new(InMemory::new());
    let store: Arc<dyn ObjectStore> = other;
    let remote = Remote::new("s3://bucket/other", store).unwrap();
    let err = Lake::open_remote(dir.path().join("mirror-a"), remote, true).unwrap_err();
    assert!(err.to_string().contains("mirror-a"), "{err}");
    scenario.teardown();
}

#[test]
fn writers_racing_for_versions_store_each_event_once() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let x = trail(dir.path(), "x", 21, 1500);
    let y = trail(dir.path(), "y", 22, 1500);
    let z = trail(dir.path(), "z", 23, 1500);
    let local = Lake::create(dir.path().join("local")).unwrap();
    trawl_testkit::ingest(&local, &[x.clone(), y.clone(), z.clone()]);

    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    // When writer A has uploaded its first commit's files, writer B (another machine)
    // ingests y and z, and commits first. A loses its version, drops what B holds, and
    // commits on top; its later commits meet B's rows through its dedup.
    let b_dir = dir.path().to_path_buf();
    let (b_store, b_src) = (store.clone(), vec![y.clone(), z.clone()]);
    let b_stored = Arc::new(AtomicU64::new(0));
    let stored = b_stored.clone();
    let fired = trawl_testkit::once_at("lake::uploaded", move || {
        let b = remote_lake(&b_dir, "mirror-b", &b_store);
        let s = trawl_testkit::ingest(&b, &b_src);
        stored.store(s.events_stored, Ordering::SeqCst);
    });
    let opts = IngestOptions {
        threads: 1,
        flush_bytes: 1,
        ..IngestOptions::default()
    };
    let s = trawl_testkit::ingest_with(&a, &[y.clone(), x.clone(), z.clone()], opts);
    assert!(fired.load(Ordering::SeqCst));
    assert!(s.commit_retries >= 1, "{s:?}");
    assert_eq!(events(&a), events(&local), "every event once");
    assert_eq!(
        s.events_stored + b_stored.load(Ordering::SeqCst),
        events(&local).len() as u64,
        "the two runs' counts add up: {s:?}"
    );
    let c = remote_lake(dir.path(), "mirror-c", &store);
    assert_eq!(events(&c), events(&local));
    let report = verify(&c).unwrap();
    assert!(report.is_clean(), "{report:?}");

    // Compaction in S3 (A committed object by object: many small files a day), from a third
    // machine: the same events, fewer files, the replaced objects deleted (no retention).
    let opts = CompactOptions {
        retain: std::time::Duration::ZERO,
        ..CompactOptions::default()
    };
    let summary = compact(&c, &opts).unwrap();
    assert!(summary.files_after < summary.files_before, "{summary:?}");
    assert_eq!(events(&c), events(&local));
    assert_eq!(
        events(&a),
        events(&local),
        "another mirror reads the compacted lake"
    );
    let snap = a.snapshot().unwrap();
    assert!(!snap.removed.is_empty());
    for t in &snap.removed {
        let gone = a.remote().unwrap().get(&t.file.path).unwrap();
        assert!(gone.is_none(), "{} not deleted", t.file.path);
    }
    let report = verify(&a).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    scenario.teardown();
}

/// The eventID hashes the lake holds, sorted (a rebuilt index's content hashes come from the
/// rebuilt records).
fn ids(lake: &Lake) -> Vec<u64> {
    events(lake).into_iter().map(|(id, _)| id).collect()
}

#[test]
fn a_lost_log_in_object_storage_is_rebuilt_and_every_mirror_follows() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let x = trail(dir.path(), "x", 31, 1500);
    let y = trail(dir.path(), "y", 32, 1500);
    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    ingest_small_commits(&a, std::slice::from_ref(&x));
    ingest_small_commits(&a, std::slice::from_ref(&y));
    // A compaction whose replaced files stay in the store (the default retention).
    let summary = compact(&a, &CompactOptions::default()).unwrap();
    assert!(summary.files_after < summary.files_before, "{summary:?}");
    let want = ids(&a);
    let rows = a.snapshot().unwrap().rows();
    assert_eq!(want.len() as u64, rows);
    // Machine B read the lake before the loss.
    let b = remote_lake(dir.path(), "mirror-b", &store);
    assert_eq!(ids(&b), want);

    // The log is lost from the store, and one dedup index with it.
    let remote = a.remote().unwrap();
    let log: Vec<String> = remote
        .list("_trawl/log/", None)
        .unwrap()
        .into_iter()
        .map(|l| l.path)
        .collect();
    let lost_index = a.snapshot().unwrap().files[0].index.clone();
    remote
        .delete_all(log.into_iter().chain([lost_index.clone()]).collect())
        .unwrap();

    // Machine C rebuilds it from the data files in the store.
    let c = remote_lake(dir.path(), "mirror-c", &store);
    assert_eq!(c.snapshot().unwrap().files.len(), 0);
    let r = trawl_lake::rebuild_ledger(&c).unwrap();
    assert_eq!(r.rows, rows, "{r:?}");
    assert_eq!(r.indexes_rebuilt, 1, "{r:?}");
    assert!(!r.replaced.is_empty(), "compaction's replaced files: {r:?}");
    assert!(r.skipped.is_empty(), "{r:?}");
    assert_eq!(ids(&c), want);
    assert!(remote.get(&lost_index).unwrap().is_some(), "index uploaded");
    assert_eq!(
        remote.list("_trawl/log/", None).unwrap().len(),
        1,
        "one entry lists the lake"
    );

    // A and B hold versions the store no longer has: they follow the rebuilt log.
    for mirror in ["mirror-a", "mirror-b"] {
        let m = remote_lake(dir.path(), mirror, &store);
        assert_eq!(m.snapshot().unwrap().version, r.version, "{mirror}");
        assert_eq!(ids(&m), want, "{mirror}");
        let report = verify(&m).unwrap();
        assert!(report.is_clean(), "{mirror}: {report:?}");
        assert!(
            report.manifests.is_empty(),
            "{mirror}: {:?}",
            report.manifests
        );
    }
    // The ledger came back with the rows: a re-run stores nothing, and reads again only
    // objects none of whose events were stored (re-deliveries of events another object
    // brought first, which of the two comes first depends on the ingest's threads), each
    // dropping at least one duplicate.
    let again = trawl_testkit::ingest(&b, &[x.clone(), y.clone()]);
    assert_eq!(again.events_stored, 0, "{again:?}");
    assert_eq!(again.conflicts, 0, "{again:?}");
    assert!(
        again.objects_read <= again.duplicates_dropped
            && again.objects_read * 10 < again.objects_found,
        "{again:?}"
    );

    // A damaged log (an entry that is not JSON): no mirror opens the lake, the error names
    // the entry, and the rebuild (which does not read the log) moves it aside with the rest.
    let damaged = format!("_trawl/log/{:020}.json", r.version + 1);
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"{ not json").unwrap();
    remote.upload_all(vec![(garbage, damaged.clone())]).unwrap();
    let open = |mirror: &str| {
        let store: Arc<dyn ObjectStore> = store.clone();
        Remote::new("s3://bucket/lake", store).map(|r| (dir.path().join(mirror), r))
    };
    let (m, rm) = open("mirror-e").unwrap();
    let err = Lake::open_remote(m, rm, false).unwrap_err().to_string();
    assert!(
        err.contains(&format!("s3://bucket/lake/{damaged}")),
        "{err}"
    );
    assert!(err.contains("--rebuild-ledger"), "{err}");
    let (m, rm) = open("mirror-e").unwrap();
    let e = Lake::open_remote_to_repair(m, rm).unwrap();
    let again = trawl_lake::rebuild_ledger(&e).unwrap();
    assert!(again.version > r.version + 1, "{again:?}");
    assert_eq!(again.rows, rows);
    assert_eq!(ids(&remote_lake(dir.path(), "mirror-b", &store)), want);
    let aside: Vec<String> = remote
        .list("_trawl/", None)
        .unwrap()
        .into_iter()
        .map(|l| l.path)
        .filter(|p| p.starts_with("_trawl/log.replaced-"))
        .collect();
    // The first rebuild found no log to move aside; the second moved the first's entry and
    // the damaged one.
    assert_eq!(r.old_log, None);
    let names: Vec<&str> = aside.iter().map(|p| &p[p.len() - 25..]).collect();
    assert_eq!(names, [&Layout::log_rel(r.version)[11..], &damaged[11..]]);
    scenario.teardown();
}

#[test]
fn threads_downloading_and_pulling_at_once_each_get_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    let commits = ingest_small_commits(&a, &[trail(dir.path(), "t", 5, 600)]).commits;
    assert!(commits > 3);
    let remote = a.remote().unwrap().clone();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let uploads = (0..16)
        .map(|i| {
            let p = src.join(format!("{i}"));
            // Sizes differ, so a file renamed from another thread's temporary is seen.
            std::fs::write(&p, vec![i as u8; 1000 + 7919 * i]).unwrap();
            (p, format!("_trawl/index/{i:04}.idx"))
        })
        .collect();
    remote.upload_all(uploads).unwrap();
    let layout = a.layout();
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (remote, layout, barrier) = (&remote, &layout, &barrier);
            s.spawn(move || {
                for round in 0..20 {
                    for i in 0..16 {
                        let rel = format!("_trawl/index/{i:04}.idx");
                        let local = layout.root().join(format!("t{t}-{round}-{i}"));
                        assert!(remote.download(&rel, &local).unwrap());
                        let got = std::fs::read(&local).unwrap();
                        assert_eq!(got, vec![i as u8; 1000 + 7919 * i], "{rel}");
                    }
                    // The same log entries written by every thread at once.
                    if t == 0 {
                        let mirror = layout.root().join("_trawl/log");
                        for e in std::fs::read_dir(&mirror).unwrap() {
                            std::fs::remove_file(e.unwrap().path()).unwrap();
                        }
                    }
                    barrier.wait();
                    remote.pull(layout).unwrap();
                    barrier.wait();
                    let snap = trawl_lake::log::Snapshot::load(layout).unwrap();
                    assert_eq!(snap.version, commits);
                    barrier.wait();
                }
            });
        }
    });
}

#[test]
fn two_compactions_in_object_storage_at_once_commit_one_and_lose_nothing() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    ingest_small_commits(&a, &[trail(dir.path(), "t", 51, 2000)]);
    let want = ids(&a);
    let files_before = a.snapshot().unwrap().files.len();
    // Machine C compacts; when its merged files are uploaded, machine D compacts the same
    // days and commits first.
    let (d_dir, d_store) = (dir.path().to_path_buf(), store.clone());
    let fired = trawl_testkit::once_at("lake::compact-before-commit", move || {
        let d = remote_lake(&d_dir, "mirror-d", &d_store);
        let s = compact(&d, &CompactOptions::default()).unwrap();
        assert!(s.version.is_some(), "{s:?}");
    });
    let c = remote_lake(dir.path(), "mirror-c", &store);
    let err = compact(&c, &CompactOptions::default()).unwrap_err();
    assert!(fired.load(Ordering::SeqCst));
    assert!(
        matches!(err, trawl_lake::LakeError::CompactedMeanwhile { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("s3://bucket/lake/events/"),
        "{err}"
    );
    // D's compaction holds every event once; C committed nothing.
    let e = remote_lake(dir.path(), "mirror-e", &store);
    assert_eq!(ids(&e), want);
    let snap = e.snapshot().unwrap();
    assert!(snap.files.len() < files_before);
    assert_eq!(snap.removed.len(), files_before);
    let report = verify(&e).unwrap();
    assert!(report.is_clean(), "{report:?}");
    scenario.teardown();
}

#[test]
fn a_lake_in_object_storage_takes_layouts_and_is_re_laid_out_by_compaction() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemory::new());
    let a = remote_lake(dir.path(), "mirror-a", &store);
    let by_account = trawl_lake::LayoutOptions::parse(
        &trawl_lake::LayoutOptions::default(),
        Some("dt,account"),
        Some(500),
        Some("eventname"),
    )
    .unwrap();
    let opts = IngestOptions {
        flush_bytes: 1,
        layout: Some(by_account.clone()),
        ..IngestOptions::default()
    };
    trawl_testkit::ingest_with(&a, &[trail(dir.path(), "t", 61, 2000)], opts);
    let want = events(&a);
    // Another machine's mirror sees the layout, and the files in their directories.
    let b = remote_lake(dir.path(), "mirror-b", &store);
    let snap = b.snapshot().unwrap();
    assert_eq!(snap.layout(), by_account);
    assert!(snap.files.iter().all(|f| f.path.contains("/account=")));
    assert_eq!(events(&b), want);
    // Compacted back to a directory a day, from that other machine.
    let s = compact(
        &b,
        &CompactOptions {
            layout: Some(trawl_lake::LayoutOptions::default()),
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.relaid_days, 3, "{s:?}");
    let c = remote_lake(dir.path(), "mirror-c", &store);
    let snap = c.snapshot().unwrap();
    assert_eq!(snap.files.len(), 3, "a file a day");
    assert!(
        snap.files
            .iter()
            .all(|f| f.layout.is_none() && !f.path.contains("/account="))
    );
    assert_eq!(events(&c), want);
    let report = verify(&c).unwrap();
    assert!(report.is_clean(), "{report:?}");
    scenario.teardown();
}
