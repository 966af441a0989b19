//! The geoip_* SQL functions over a MaxMind-format database built by the test.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use trawl_geo::{GeoDb, testing};
use trawl_query::QueryEngine;

fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default().with_null("NULL"))
                    .unwrap()
            })
            .collect();
        for r in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    rows
}

#[tokio::test]
async fn geoip_functions_locate_classify_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city.mmdb");
    testing::write_city_db(&city, &testing::sample_places()).unwrap();
    let asn = dir.path().join("asn.mmdb");
    testing::write_asn_db(&asn, &[("89.160.0.0/16", 29518, "Bredband2 AB")]).unwrap();
    let db = Arc::new(GeoDb::open(&[city, asn]).unwrap());
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let engine = QueryEngine::open_with_geo(&lake, Some(db)).await.unwrap();
    let out = engine
        .run(
            "SELECT ip, geoip_country(ip), geoip_country_code(ip), geoip_city(ip), geoip_lat(ip), \
             geoip_lon(ip), geoip_asn(ip), geoip_as_org(ip) FROM (VALUES ('89.160.20.112'), \
             ('81.2.69.142'), ('ec2.amazonaws.com'), ('AWS Internal'), ('10.0.0.1'), ('8.8.8.8'), \
             (NULL)) AS t(ip)",
        )
        .await
        .unwrap();
    let rows = cells(&out[0].batches);
    let want = [
        "89.160.20.112|Sweden|SE|Linköping|58.4167|15.6167|29518|Bredband2 AB",
        "81.2.69.142|United Kingdom|GB|London|51.5142|-0.0931|NULL|NULL",
        "ec2.amazonaws.com|(AWS service)|NULL|NULL|NULL|NULL|NULL|NULL",
        "AWS Internal|(AWS internal)|NULL|NULL|NULL|NULL|NULL|NULL",
        "10.0.0.1|(private or reserved address)|NULL|NULL|NULL|NULL|NULL|NULL",
        "8.8.8.8|Unknown|NULL|NULL|NULL|NULL|NULL|NULL",
        "NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
    ];
    let got: Vec<String> = rows.iter().map(|r| r.join("|")).collect();
    assert_eq!(got, want);

    // Without a database the functions exist and say how to get one.
    let plain = QueryEngine::open(&lake).await.unwrap();
    let err = plain
        .run("SELECT geoip_city('89.160.20.112')")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--geoip") && err.contains("GeoLite2"), "{err}");
}
