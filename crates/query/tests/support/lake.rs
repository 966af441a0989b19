//! Lakes of generated trails, for tests that query them.

use trawl_lake::{IngestOptions, Lake};

/// A lake holding a generated trail of `events` events over 7 days, without re-deliveries,
/// ingested with `opts`.
pub(crate) fn generated_lake(events: usize, opts: &IngestOptions) -> (tempfile::TempDir, Lake) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let lake = Lake::create(tmp.path().join("lake")).expect("a new lake");
    let trail = tmp.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events,
        duplicate_rate: 0.0,
        ..Default::default()
    };
    trawl_gen::write_trail(&trail, &spec).expect("a generated trail");
    trawl_testkit::ingest_with(&lake, &[trail], opts.clone());
    (tmp, lake)
}
