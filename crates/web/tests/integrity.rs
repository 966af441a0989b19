//! "Log integrity" in the web app: the lake's latest `trawl validate`, on its own page and as
//! a line on each dashboard, read again when the validation or the lake changes.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_lake::Lake;

mod common;

#[test]
fn the_page_and_the_dashboards_show_the_latest_validation() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 800,
        days: 1,
        events_per_file: 50,
        hash_files: true,
        ..trawl_gen::TrailSpec::default()
    };
    let stats = trawl_gen::write_trail(&trail, &spec).unwrap();
    let signer = trawl_gen::Signer::test_key();
    let written =
        trawl_gen::write_digests(&trail, &stats.logs, &Default::default(), &signer).unwrap();
    trawl_testkit::ingest(&lake, std::slice::from_ref(&trail));
    let addr = common::serve(
        lake.clone(),
        None,
        trawl_web::Limits::default(),
        trawl_web::ServerLimits::default(),
    );
    let get = |path: &str| trawl_testkit::http_get(addr, path);

    let (status, _, page) = get("/integrity");
    assert_eq!(status, 200);
    assert!(page.contains("Not validated"), "{page}");
    let (_, _, dash) = get("/dashboards/general-operations?all=1");
    assert!(dash.contains("Log integrity: not validated (run"), "{dash}");

    // Validated from a local copy: the digests have no signatures, so it fails, and says why.
    let keys_path = dir.path().join("keys.json");
    let keys_json =
        signer.public_keys_json(written.first_start.unwrap(), written.last_end.unwrap());
    std::fs::write(&keys_path, keys_json.to_string()).unwrap();
    let mut keys = trawl_custody::PublicKeys::default();
    keys.add_file(&keys_path).unwrap();
    let v = trawl_custody::validate(&lake, &keys, &Default::default(), Default::default()).unwrap();
    assert!(v.summary.failed);
    trawl_custody::save(&lake, &v).unwrap();
    let (_, _, page) = get("/integrity");
    assert!(
        page.contains(&trawl_report::html::escape(&v.summary.line())),
        "{page}"
    );
    assert!(page.contains("no signature"), "{page}");
    let (_, _, dash) = get("/dashboards/general-operations?all=1");
    assert!(
        dash.contains(
            "Log integrity: not validated for this whole range (latest validation: FAILED)"
        ),
        "{dash}"
    );
}
