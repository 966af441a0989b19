//! Ingest behaviour on the fixtures in `fixtures/`: every input form, bad input,
//! idempotency, dedup and conflicts, time windows, crash recovery and the writer lock.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::{Path, PathBuf};

use trawl_ingest::{discover_local, walk_local};
use trawl_lake::{IngestOptions, IngestSummary, Lake, LakeError};
use trawl_schema::TimeWindow;

use trawl_testkit::fixtures;

/// Ingests `paths` as `trawl ingest` does: the local listing consumed as the run goes.
fn run(lake: &Lake, paths: &[PathBuf], opts: &IngestOptions) -> Result<IngestSummary, LakeError> {
    let listing = walk_local(paths, None).expect("sources exist");
    lake.ingest(listing).options(opts.clone()).run()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn event(id: &str, time: &str, name: &str) -> serde_json::Value {
    serde_json::json!({"eventVersion": "1.09", "eventTime": time, "eventSource": "iam.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "eventID": id, "readOnly": false})
}

fn write_records(path: &Path, records: &[serde_json::Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    std::fs::write(path, gz(&body)).unwrap();
}

#[test]
fn every_input_form_is_detected_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let s = run(
        &lake,
        &[fixtures().join("forms")],
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(s.objects_read, 8, "{s:?}");
    assert!(s.quarantined.is_empty(), "{:?}", s.quarantined);
    assert_eq!(s.bad_records, 0);
    // records.json 2, lines.jsonl 2, array.json 1, bom.json 1, cloudwatch.json 2,
    // eventbridge.json 1, insight.json 1; the digest file is counted, not stored.
    assert_eq!(s.events_stored, 10);
    assert_eq!(s.digests, 1);
    assert_eq!(s.insights, 1);
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.rows(), 10);
    assert_eq!(
        snap.ledger.len(),
        8,
        "every object, digest included, is in the ledger"
    );
    assert_eq!(lake.sources().unwrap().len(), 8);
    let digests = std::fs::read_to_string(lake.layout().digests(1)).unwrap();
    assert!(
        digests.contains("\"digestStartTime\":\"2024-03-01T09:00:00Z\""),
        "{digests}"
    );
    // Partitioned by the event's date: 2024-03-02T23:59:59Z lands in dt=2024-03-02.
    let dts: std::collections::BTreeSet<&str> = snap.files.iter().map(|f| f.dt.as_str()).collect();
    assert_eq!(
        dts.into_iter().collect::<Vec<_>>(),
        vec!["2024-03-01", "2024-03-02"]
    );
}

#[test]
fn bad_objects_are_quarantined_and_good_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in std::fs::read_dir(fixtures().join("bad")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, src.join(f.file_name().unwrap())).unwrap();
    }
    let big = gz(&serde_json::to_vec(
        &serde_json::json!({"Records": [event("big", "2024-03-01T00:00:00Z", "X")]}),
    )
    .unwrap());
    std::fs::write(src.join("truncated.json.gz"), &big[..big.len() / 2]).unwrap();
    std::fs::write(src.join("bomb.json.gz"), gz(&vec![b' '; 4 << 20])).unwrap();
    write_records(
        &src.join("good.json.gz"),
        &[event("good-1", "2024-03-01T00:00:00Z", "CreateUser")],
    );
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        read: trawl_ingest::ReadOptions {
            max_object_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = run(&lake, std::slice::from_ref(&src), &opts).unwrap();

    let mut reasons: Vec<(String, String)> = s
        .quarantined
        .iter()
        .map(|q| {
            (
                Path::new(&q.path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                q.reason.clone(),
            )
        })
        .collect();
    reasons.sort();
    let names: Vec<&str> = reasons.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "bomb.json.gz",
            "empty.json.gz",
            "invalid.json",
            "not-gzip.json.gz",
            "records-not-array.json",
            "truncated.json.gz"
        ]
    );
    for (name, reason) in &reasons {
        assert!(
            reason.contains(&format!("{}/{name}", src.display())),
            "reason must name the object: {reason}"
        );
    }
    let reason_of = |n: &str| &reasons.iter().find(|(name, _)| name == n).unwrap().1;
    assert!(reason_of("bomb.json.gz").contains("decompresses to more than 1048576 bytes"));
    assert!(reason_of("truncated.json.gz").contains("gzip stream is corrupt or truncated"));
    assert!(reason_of("records-not-array.json").contains("`Records` is an object"));
    assert!(reason_of("empty.json.gz").contains("empty"));

    // mixed.jsonl: two good records kept, a broken line and a non-object quarantined.
    assert_eq!(s.bad_records, 2);
    assert_eq!(s.events_stored, 3, "good.json.gz 1 + mixed.jsonl 2");
    assert!(!s.is_clean());
    let bad = std::fs::read_to_string(lake.layout().quarantine(1)).unwrap();
    assert_eq!(bad.lines().count(), 2);
    assert!(
        bad.contains("record 1 (value 1) is not valid JSON"),
        "{bad}"
    );
    assert!(bad.contains("is a number, not an event object"), "{bad}");

    // Quarantined objects stay out of the ledger: the next run tries them again.
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.quarantined.len(), 6);
    let again = run(&lake, &[src], &opts).unwrap();
    assert_eq!(again.objects_read, 6);
    assert_eq!(again.events_stored, 0);
}

#[test]
fn strict_mode_stops_at_the_first_bad_object() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        strict: true,
        threads: 1,
        ..Default::default()
    };
    let err = run(&lake, &[fixtures().join("bad/invalid.json")], &opts).unwrap_err();
    assert!(err.to_string().contains("invalid.json: not JSON"), "{err}");
    assert_eq!(lake.snapshot().unwrap().version, 0, "nothing committed");
}

#[test]
fn reingest_changes_nothing_and_copies_are_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 3000,
        duplicate_rate: 0.01,
        ..Default::default()
    };
    let stats = trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let first = run(
        &lake,
        std::slice::from_ref(&trail),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(first.events_stored, 3000);
    assert_eq!(first.duplicates_dropped as usize, stats.duplicates);
    assert!(stats.duplicates > 0);
    let version = lake.snapshot().unwrap().version;

    let second = run(
        &lake,
        std::slice::from_ref(&trail),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(second.objects_skipped as usize, stats.files);
    assert_eq!(
        (second.objects_read, second.events_stored, second.commits),
        (0, 0, 0)
    );
    assert_eq!(
        lake.snapshot().unwrap().version,
        version,
        "a no-op run commits nothing"
    );

    // The same objects under another path: read again, every event a duplicate.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for (i, p) in stats.paths.iter().enumerate() {
        std::fs::copy(p, copy.join(format!("{i}.json.gz"))).unwrap();
    }
    let third = run(&lake, &[copy], &IngestOptions::default()).unwrap();
    assert_eq!(third.events_stored, 0);
    assert_eq!(third.duplicates_dropped as usize, 3000 + stats.duplicates);
    assert_eq!(lake.snapshot().unwrap().rows(), 3000);
}

#[test]
fn same_event_id_with_other_content_is_kept_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_records(
        &src.join("a.json.gz"),
        &[event("same-id", "2024-03-01T00:00:00Z", "CreateUser")],
    );
    write_records(
        &src.join("b.json.gz"),
        &[event("same-id", "2024-03-01T00:00:00Z", "DeleteUser")],
    );
    write_records(
        &src.join("c.json.gz"),
        &[event("same-id", "2024-03-01T00:00:00Z", "CreateUser")],
    );
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let s = run(
        &lake,
        &[src],
        &IngestOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (s.events_stored, s.conflicts, s.duplicates_dropped),
        (2, 1, 1)
    );
}

#[test]
fn time_window_filters_and_a_wider_window_reads_again() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_records(
        &src.join("a.json.gz"),
        &[
            event("w1", "2024-02-29T23:59:59Z", "A"),
            event("w2", "2024-03-01T00:00:00Z", "B"),
            event("w3", "2024-03-01T23:59:59Z", "C"),
            event("w4", "2024-03-02T00:00:00Z", "D"),
            event("w5", "not a time", "E"),
        ],
    );
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let day = |d: &str| {
        chrono::DateTime::parse_from_rfc3339(d)
            .unwrap()
            .timestamp_micros()
    };
    let mut opts = IngestOptions::default();
    opts.read.window = TimeWindow {
        since: Some(day("2024-03-01T00:00:00Z")),
        until: Some(day("2024-03-02T00:00:00Z")),
    };
    let s = run(&lake, std::slice::from_ref(&src), &opts).unwrap();
    assert_eq!((s.events_stored, s.outside_window), (2, 3));
    // Same window again: skipped. No window: read again, the two already in are duplicates.
    assert_eq!(
        run(&lake, std::slice::from_ref(&src), &opts)
            .unwrap()
            .objects_read,
        0
    );
    let wide = run(&lake, &[src], &IngestOptions::default()).unwrap();
    assert_eq!(
        (
            wide.objects_read,
            wide.events_stored,
            wide.duplicates_dropped
        ),
        (1, 3, 2)
    );
}

#[test]
fn leftovers_of_a_crashed_commit_are_removed_before_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_records(
        &src.join("a.json.gz"),
        &[event("c1", "2024-03-01T00:00:00Z", "A")],
    );
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    run(&lake, std::slice::from_ref(&src), &IngestOptions::default()).unwrap();
    let snap = lake.snapshot().unwrap();
    let committed = lake.root().join(&snap.files[0].path);
    // What a crash between "rename data files" and "write log entry" leaves behind.
    let orphan = lake
        .root()
        .join(trawl_lake::Layout::data_file("2024-03-01", 2, 0));
    std::fs::copy(&committed, &orphan).unwrap();
    std::fs::create_dir_all(lake.layout().staging(2)).unwrap();
    std::fs::write(lake.layout().staging(2).join("0000.parquet"), b"partial").unwrap();
    std::fs::create_dir_all(lake.layout().quarantine(2).parent().unwrap()).unwrap();
    std::fs::write(lake.layout().quarantine(2), b"{}\n").unwrap();

    write_records(
        &src.join("b.json.gz"),
        &[event("c2", "2024-03-01T00:00:01Z", "B")],
    );
    let s = run(&lake, &[src], &IngestOptions::default()).unwrap();
    assert_eq!(s.events_stored, 1);
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.rows(), 2);
    assert!(
        !lake.layout().quarantine(2).exists(),
        "side file of the crashed commit removed"
    );
    assert!(!lake.layout().staging(2).exists());
    // Version 2 is now the real commit: its file is the new one, not the planted orphan.
    let files: Vec<PathBuf> = snap
        .files
        .iter()
        .map(|f| lake.root().join(&f.path))
        .collect();
    assert!(
        files.contains(&orphan),
        "version 2's data file took the orphan's name"
    );
    let bytes = std::fs::read(&orphan).unwrap();
    assert_eq!(
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)),
        snap.files[1].xxh3
    );
}

#[test]
fn a_second_writer_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let _held = lake.lock().unwrap();
    let err = run(
        &lake,
        &[fixtures().join("forms/records.json")],
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, LakeError::Locked(_)), "{err}");
    assert!(
        err.to_string().contains("another trawl process is writing"),
        "{err}"
    );
}

#[test]
fn opening_a_directory_that_is_not_a_lake_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = Lake::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("no trawl lake at") && err.to_string().contains("trawl ingest"),
        "{err}"
    );
}

#[test]
fn data_files_are_zstd_sorted_with_bloom_filters() {
    use arrow::array::AsArray;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 2000,
        days: 1,
        ..Default::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    run(&lake, &[trail], &IngestOptions::default()).unwrap();
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.files.len(), 1);
    let path = lake.root().join(&snap.files[0].path);

    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let rg = meta.row_group(0);
    assert!(
        rg.sorting_columns().is_some_and(|s| !s.is_empty()),
        "sorting_columns recorded"
    );
    for (i, col) in rg.columns().iter().enumerate() {
        let name = col.column_path().string();
        assert!(
            matches!(col.compression(), parquet::basic::Compression::ZSTD(_)),
            "{name}: {:?}",
            col.compression()
        );
        let bloom = col.bloom_filter_offset().is_some();
        let wanted = trawl_schema::BLOOM_COLUMNS.contains(&name.as_str());
        assert_eq!(bloom, wanted, "bloom filter on column {i} {name}");
        if name == "eventtime" {
            assert!(
                col.statistics()
                    .is_some_and(|s| s.min_bytes_opt().is_some()),
                "eventtime has min/max"
            );
        }
    }
    let batches: Vec<arrow::array::RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut last = i64::MIN;
    for b in &batches {
        let ts = b
            .column_by_name("eventtime_ts")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        for t in ts.iter().flatten() {
            assert!(t >= last, "rows sorted by event time");
            last = t;
        }
    }
    assert!(
        snap.files[0].min_time.as_deref().unwrap() <= snap.files[0].max_time.as_deref().unwrap()
    );
}

#[test]
fn dedup_holds_across_many_commits_and_evicted_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    // 60 days (more partitions than stay loaded) and a commit after every object.
    let spec = trawl_gen::TrailSpec {
        events: 6000,
        days: 60,
        events_per_file: 100,
        duplicate_rate: 0.0,
        ..Default::default()
    };
    let stats = trawl_gen::write_trail(&trail, &spec).unwrap();
    // The earliest files delivered again under a path read last: by then their partitions
    // have been evicted, so dedup must reload them from the committed index files.
    let mut first: Vec<&PathBuf> = stats.paths.iter().collect();
    first.sort();
    let redelivered = dir.path().join("zz-redelivered");
    std::fs::create_dir_all(&redelivered).unwrap();
    let mut copied = 0;
    for (i, p) in first.iter().take(5).enumerate() {
        std::fs::copy(p, redelivered.join(format!("{i}.json.gz"))).unwrap();
        copied += trawl_ingest::read_object(
            &discover_local(&[(*p).clone()], None).unwrap().objects[0],
            &Default::default(),
        )
        .unwrap()
        .records;
    }
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        flush_bytes: 1,
        threads: 2,
        ..Default::default()
    };
    let s = run(&lake, &[trail, redelivered], &opts).unwrap();
    assert_eq!(s.events_stored, 6000);
    assert_eq!(s.duplicates_dropped as usize, copied);
    assert_eq!(s.conflicts, 0);
    assert!(
        s.commits as usize >= stats.files / 2,
        "{} commits for {} files",
        s.commits,
        stats.files
    );
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.rows(), 6000);
    assert_eq!(snap.version, s.lake_version);
}

#[test]
fn a_dedup_index_over_its_memory_budget_spills_to_disk_and_drops_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 6000,
        days: 2,
        events_per_file: 200,
        duplicate_rate: 0.05,
        ..Default::default()
    };
    let stats = trawl_gen::write_trail(&trail, &spec).unwrap();
    assert!(stats.duplicates > 100, "{} duplicates", stats.duplicates);
    // The whole trail again under another path: a second run where every event is a
    // duplicate, found in partitions reloaded from the committed index files.
    let again = dir.path().join("again");
    for p in &stats.paths {
        let to = again.join(p.strip_prefix(&trail).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(p, to).unwrap();
    }
    // Each day holds ~3,000 eventIDs: a budget of 500 spills several runs per day.
    for budget in [IngestOptions::default().dedup_events, 500] {
        let lake = Lake::create(dir.path().join(format!("lake-{budget}"))).unwrap();
        let opts = IngestOptions {
            dedup_events: budget,
            flush_bytes: 256 << 10,
            ..Default::default()
        };
        let first = run(&lake, std::slice::from_ref(&trail), &opts).unwrap();
        assert_eq!(first.events_stored, 6000, "budget {budget}");
        assert_eq!(first.duplicates_dropped as usize, stats.duplicates);
        assert_eq!(first.conflicts, 0);
        let second = run(&lake, std::slice::from_ref(&again), &opts).unwrap();
        assert_eq!(second.events_stored, 0, "budget {budget}");
        assert_eq!(second.duplicates_dropped as usize, 6000 + stats.duplicates);
        if budget == 500 {
            assert!(
                first.dedup_spilled >= 5000,
                "{} spilled",
                first.dedup_spilled
            );
            assert!(
                second.dedup_spilled >= 5000,
                "{} spilled",
                second.dedup_spilled
            );
        } else {
            assert_eq!(first.dedup_spilled + second.dedup_spilled, 0);
        }
        assert_eq!(lake.snapshot().unwrap().rows(), 6000);
        // The spilled runs are the run's own: none is left behind.
        let staging = lake.root().join("_trawl/staging");
        let left: Vec<_> = walkdir::WalkDir::new(&staging)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().to_path_buf())
            .collect();
        assert!(left.is_empty(), "left in staging: {left:?}");
    }
}

#[test]
fn a_source_that_changes_or_vanishes_after_listing_is_reported_and_read_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (keep, grow, gone) = (
        src.join("keep.json.gz"),
        src.join("grow.json.gz"),
        src.join("gone.json.gz"),
    );
    write_records(&keep, &[event("k-1", "2024-03-01T00:00:00Z", "A")]);
    write_records(&grow, &[event("g-1", "2024-03-01T00:00:00Z", "A")]);
    write_records(&gone, &[event("v-1", "2024-03-01T00:00:00Z", "A")]);
    let objects = discover_local(std::slice::from_ref(&src), None)
        .unwrap()
        .objects;
    // Between the listing and the read: one file is rewritten, another deleted.
    write_records(
        &grow,
        &[
            event("g-1", "2024-03-01T00:00:00Z", "A"),
            event("g-2", "2024-03-01T00:01:00Z", "A"),
        ],
    );
    std::fs::remove_file(&gone).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let s = lake.ingest(objects.into_iter().map(Ok)).run().unwrap();
    assert_eq!(s.events_stored, 1, "only the unchanged file is read");
    let reasons: Vec<(String, String)> = s
        .quarantined
        .iter()
        .map(|q| (q.path.clone(), q.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    let reason = |p: &Path| {
        reasons
            .iter()
            .find(|(path, _)| path == &p.display().to_string())
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{} not reported: {reasons:?}", p.display()))
    };
    assert!(
        reason(&grow).contains("changed since it was listed"),
        "{reasons:?}"
    );
    assert!(reason(&gone).contains("vanished"), "{reasons:?}");
    // The next run reads the changed file as it is now.
    let s = run(&lake, &[src], &IngestOptions::default()).unwrap();
    assert_eq!(s.events_stored, 2);
    assert!(s.quarantined.is_empty());
}

/// `n` events from `first`, spread over two days, with a request body to give them size.
fn many_events(first: usize, n: usize) -> Vec<serde_json::Value> {
    (first..first + n)
        .map(|i| {
            let mut e = event(
                &format!("ev-{i}"),
                &format!("2024-03-0{}T{:02}:{:02}:00Z", 1 + i % 2, i / 60 % 24, i % 60),
                "PutObject",
            );
            e["requestParameters"] = serde_json::json!({"bucketName": "b", "key": format!("k/{i}"), "pad": "x".repeat(200)});
            e
        })
        .collect()
}

/// Objects over 20 kB streamed in chunks of 32 KiB: the test objects stream in many.
fn streamed_reads() -> trawl_ingest::ReadOptions {
    trawl_ingest::ReadOptions {
        stream_min_bytes: 20_000,
        stream_chunk_bytes: 32 << 10,
        ..Default::default()
    }
}

#[test]
fn a_big_object_is_streamed_and_committed_in_parts_without_losing_or_doubling_rows() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_records(&src.join("big.json.gz"), &many_events(0, 3000));
    // A small object that repeats two of the big one's events and adds three.
    let mut small = many_events(2998, 5);
    small.swap(0, 4);
    write_records(&src.join("small.json.gz"), &small);
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        read: streamed_reads(),
        // Commit after every chunk: the big object's rows span many commits.
        flush_bytes: 1,
        threads: 2,
        ..Default::default()
    };
    let s = run(&lake, std::slice::from_ref(&src), &opts).unwrap();
    assert!(s.is_clean(), "{s:?}");
    assert_eq!(
        (s.events_stored, s.duplicates_dropped, s.conflicts),
        (3003, 2, 0)
    );
    assert!(s.commits > 10, "{} commits", s.commits);
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.rows(), 3003);
    // Which of the two copies counts as the duplicate depends on which object is read first.
    let sources = lake.sources().unwrap();
    let source = |name: &str| &sources[&src.join(name).display().to_string()];
    let (big, small) = (source("big.json.gz"), source("small.json.gz"));
    assert_eq!(big.events + big.duplicates, 3000);
    assert_eq!(small.events + small.duplicates, 5);
    assert_eq!(big.events + small.events, 3003);
    let again = run(&lake, &[src], &opts).unwrap();
    assert_eq!((again.objects_skipped, again.events_stored), (2, 0));
}

#[test]
fn a_big_object_cut_short_keeps_its_first_events_and_is_read_again_when_whole() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let path = src.join("big.json.gz");
    write_records(&path, &many_events(0, 3000));
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() * 6 / 10]).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        read: streamed_reads(),
        ..Default::default()
    };
    let s = run(&lake, std::slice::from_ref(&src), &opts).unwrap();
    let kept = s.events_stored;
    assert!(kept > 1000 && kept < 3000, "{kept} kept");
    assert_eq!(s.quarantined.len(), 1);
    let reason = &s.quarantined[0].reason;
    assert!(
        reason.starts_with(&format!(
            "{}: gzip stream is corrupt or truncated",
            path.display()
        )) && reason.contains(&format!(
            "the {kept} events read before the fault are stored"
        )),
        "{reason}"
    );
    assert_eq!(lake.snapshot().unwrap().rows(), kept);
    // The whole object, delivered again: read again, nothing doubled.
    std::fs::write(&path, &whole).unwrap();
    let s = run(&lake, &[src], &opts).unwrap();
    assert!(s.is_clean(), "{s:?}");
    assert_eq!((s.events_stored, s.duplicates_dropped), (3000 - kept, kept));
    assert_eq!(lake.snapshot().unwrap().rows(), 3000);
}

/// Counts objects finished, for a listing to look at as it is pulled.
#[derive(Default)]
struct Finished(std::sync::atomic::AtomicU64);

impl trawl_lake::Progress for Finished {
    fn object_done(&self, _raw_bytes: u64, _events: u64) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn the_listing_is_consumed_as_objects_finish_and_small_objects_share_commits() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // 300 objects over three days, two regions.
    for n in 0..300 {
        let day = 1 + n % 3;
        let region = ["us-east-1", "eu-west-1"][n % 2];
        let path = src.join(format!(
            "AWSLogs/111122223333/CloudTrail/{region}/2024/03/0{day}/111122223333_CloudTrail_{region}_2024030{day}T{:02}{:02}Z_{n}.json.gz",
            n / 60 % 24,
            n % 60
        ));
        let id = format!("00000000-0000-4000-8000-{n:012}");
        let time = format!("2024-03-0{day}T{:02}:{:02}:00Z", n / 60 % 24, n % 60);
        write_records(&path, &[event(&id, &time, "GetUser")]);
    }
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let finished = Finished::default();
    // What had finished when each entry was pulled, and the order of the objects' days.
    let seen = std::sync::Mutex::new((Vec::new(), Vec::new()));
    let listing = walk_local(&[src], None).unwrap().inspect(|listed| {
        let mut seen = seen.lock().unwrap();
        seen.0.push(finished.0.load(SeqCst));
        let uri = &listed.as_ref().unwrap().uri;
        seen.1
            .push(trawl_ingest::delivery_stamp(uri).unwrap() / 10_000);
    });
    let opts = IngestOptions {
        threads: 2,
        flush_bytes: 4 << 20,
        ..IngestOptions::default()
    };
    let s = lake
        .ingest(listing)
        .options(opts.clone())
        .progress(&finished)
        .run()
        .unwrap();
    assert_eq!(
        (s.objects_found, s.objects_read, s.events_stored),
        (300, 300, 300)
    );
    // One-event objects are buffered by what their rows take (a few hundred KB in all), not
    // by the Arrow capacity each object's batch was built with (~300 KB each).
    assert_eq!(s.commits, 1, "{s:?}");
    assert_eq!(s.files_written, 3, "a file per day: {s:?}");
    let (pulled, days) = seen.into_inner().unwrap();
    assert_eq!(pulled.len(), 300);
    // Readers hold a few objects each, so most of the listing is pulled after objects are done.
    assert!(
        pulled[150] > 0 && pulled[299] >= 200,
        "the listing was drained before objects finished: {:?}",
        &pulled[..]
    );
    // A day at a time, across regions.
    assert!(days.is_sorted(), "{days:?}");
    let again = run(&lake, &[dir.path().join("src")], &opts).unwrap();
    assert_eq!(
        (
            again.objects_found,
            again.objects_skipped,
            again.objects_read
        ),
        (300, 300, 0)
    );
}
