//! The security-group tile on every shape of change (`fixtures/security-groups/shapes.json`,
//! rows counted by hand in its README's order), directly and from cached partial answers, and
//! the `group_id` filter finding a group wherever the tile finds it.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::PathBuf;

use serde_json::Value;
use trawl_report::{Range, TileCache};

fn fixture() -> PathBuf {
    trawl_testkit::fixtures().join("security-groups/shapes.json")
}

async fn engine() -> (trawl_query::QueryEngine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let summary = trawl_testkit::ingest(&lake, &[fixture()]);
    assert_eq!(summary.events_stored, 9);
    (trawl_query::QueryEngine::open(&lake).await.unwrap(), dir)
}

/// The tile's rows without the columns every row shares (time, user, address), as JSON text.
async fn rows(
    engine: &trawl_query::QueryEngine,
    cache: Option<&TileCache>,
    range: &Range,
) -> Vec<String> {
    let d = trawl_report::dashboards::find("security-group-modifications").unwrap();
    let r = trawl_report::run_cached(engine, cache, &d, range, false, None)
        .await
        .unwrap();
    let t = r
        .tiles
        .iter()
        .find(|t| t.id == "security-group-modifications")
        .unwrap();
    let keep = [
        "eventname",
        "group_id",
        "network_interface_id",
        "direction",
        "rule_id",
        "protocol",
        "from_port",
        "to_port",
        "peer",
        "open_to_world",
    ];
    let at: Vec<usize> = keep
        .iter()
        .map(|k| t.columns.iter().position(|c| c == k).unwrap())
        .collect();
    t.rows
        .iter()
        .map(|r| {
            serde_json::to_string(&at.iter().map(|&i| r[i].clone()).collect::<Vec<Value>>())
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn every_shape_gives_a_row_per_rule_and_peer() {
    let (engine, _dir) = engine().await;
    let expected = [
        // 9: ipPermissions.items is not a list: the event stays, without a rule.
        r#"["AuthorizeSecurityGroupIngress","sg-0odd",null,"ingress",null,null,null,null,null,false]"#,
        r#"["DeleteSecurityGroup","sg-0old",null,null,null,null,null,null,null,false]"#,
        // 7: the new group's id comes from the response.
        r#"["CreateSecurityGroup","sg-0new",null,null,null,null,null,null,null,false]"#,
        // 6: a row per group of the network interface.
        r#"["ModifyNetworkInterfaceAttribute","sg-0eni1","eni-0abc",null,null,null,null,null,null,false]"#,
        r#"["ModifyNetworkInterfaceAttribute","sg-0eni2","eni-0abc",null,null,null,null,null,null,false]"#,
        // 5: revoked by rule id.
        r#"["RevokeSecurityGroupEgress","sg-0rev",null,"egress","sgr-04",null,null,null,null,false]"#,
        r#"["RevokeSecurityGroupEgress","sg-0rev",null,"egress","sgr-05",null,null,null,null,false]"#,
        // 4, 3: ModifySecurityGroupRules, a list of two, then one object.
        r#"["ModifySecurityGroupRules","sg-0mod",null,null,"sgr-02","-1",null,null,"::/0",true]"#,
        r#"["ModifySecurityGroupRules","sg-0mod",null,null,"sgr-03","udp",53,53,"sg-0dns",false]"#,
        r#"["ModifySecurityGroupRules","sg-0mod",null,null,"sgr-01","tcp",22,22,"0.0.0.0/0",true]"#,
        // 2: the older top-level form.
        r#"["AuthorizeSecurityGroupIngress","sg-0legacy",null,"ingress",null,"tcp",3389,3389,"203.0.113.0/24",false]"#,
        // 1: two rules, five peers; ports given as text ("443") read as numbers.
        r#"["AuthorizeSecurityGroupIngress","sg-0multi",null,"ingress",null,"tcp",22,22,"0.0.0.0/0",true]"#,
        r#"["AuthorizeSecurityGroupIngress","sg-0multi",null,"ingress",null,"tcp",22,22,"10.0.0.0/8",false]"#,
        r#"["AuthorizeSecurityGroupIngress","sg-0multi",null,"ingress",null,"tcp",22,22,"::/0",true]"#,
        r#"["AuthorizeSecurityGroupIngress","sg-0multi",null,"ingress",null,"tcp",443,443,"pl-0s3",false]"#,
        r#"["AuthorizeSecurityGroupIngress","sg-0multi",null,"ingress",null,"tcp",443,443,"sg-0peer",false]"#,
    ];
    assert_eq!(rows(&engine, None, &Range::default()).await, expected);
    // The same rows from the cache's partial answers.
    let cache = TileCache::new(64 << 20);
    assert_eq!(
        rows(&engine, Some(&cache), &Range::default()).await,
        expected
    );
}

#[tokio::test]
async fn a_group_filter_finds_the_group_wherever_the_tile_shows_it() {
    let (engine, _dir) = engine().await;
    let only = |group: &str| Range::default().filtered("group_id", group).unwrap();
    // A network interface's second group, a new group (response), a rule change's group.
    let eni = rows(&engine, None, &only("sg-0eni2")).await;
    assert_eq!(eni.len(), 2, "{eni:?}");
    assert!(eni.iter().all(|r| r.contains("eni-0abc")));
    let new = rows(&engine, None, &only("sg-0new")).await;
    assert_eq!(new.len(), 1);
    assert!(new[0].contains("CreateSecurityGroup"));
    assert_eq!(rows(&engine, None, &only("sg-0mod")).await.len(), 3);
    // Two filters: both must hold.
    let both = Range::default()
        .filtered("group_id", "sg-0mod")
        .unwrap()
        .filtered("eventname", "AuthorizeSecurityGroupIngress")
        .unwrap();
    assert!(rows(&engine, None, &both).await.is_empty());
    // An unknown filter column is refused, naming the known ones.
    let err = Range::default()
        .filtered("bucket", "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"bucket\" is not a filter column") && err.contains("account, region"),
        "{err}"
    );
}
