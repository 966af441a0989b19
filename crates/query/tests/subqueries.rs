//! Correlated subqueries whose correlation reads `useridentity` fields, the investigation
//! questions of issue 26 ("an event by a principal who logged in before", "a principal with
//! no login"), over `fixtures/sessions/principals.json`. Expected rows were worked out by hand
//! from that file (see fixtures/README.md): alice (A) logs in at 10:00 and 11:00 and assumes
//! a role at 10:05; bob (B) logs in at 10:10 and deletes a bucket at 10:20; carol (C) deletes
//! a bucket at 10:30; a role session (R) puts an object at 10:40; a service event without
//! ARN at 10:50. Event ids are fixture-0301 .. fixture-0308 in that order (11:00 is 0308).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_lake::Lake;
use trawl_query::QueryEngine;

#[path = "support/rows.rs"]
mod rows;

fn lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let summary = trawl_testkit::ingest(&lake, &[trawl_testkit::fixtures().join("sessions")]);
    assert_eq!(summary.events_stored, 8);
    (dir, lake)
}

/// Every row of the (single) result, its columns joined by a space.
async fn rows(engine: &QueryEngine, sql: &str) -> Vec<String> {
    rows::joined(engine, sql, " ").await
}

fn ids(ns: &[u32]) -> Vec<String> {
    ns.iter().map(|n| format!("fixture-03{n:02}")).collect()
}

#[tokio::test]
async fn exists_and_not_exists_correlate_on_struct_fields() {
    let (_dir, lake) = lake();
    let engine = QueryEngine::open(&lake).await.unwrap();
    // Non-login events of a principal who logged in before: alice's AssumeRole, bob's delete.
    let exists =
        "SELECT eventid FROM cloudtrail_logs t WHERE t.eventname <> 'ConsoleLogin' AND EXISTS (
        SELECT 1 FROM cloudtrail_logs s WHERE s.useridentity.arn = t.useridentity.arn
        AND s.eventname = 'ConsoleLogin' AND s.eventtime < t.eventtime) ORDER BY 1";
    assert_eq!(rows(&engine, exists).await, ids(&[2, 4]));
    let not_exists = exists.replace("AND EXISTS", "AND NOT EXISTS");
    assert_eq!(rows(&engine, &not_exists).await, ids(&[5, 6, 7]));
    // Unaliased inner table, the outer row's field compared with the inner one's.
    let unaliased = "SELECT eventid FROM cloudtrail_logs t WHERE EXISTS (
        SELECT 1 FROM cloudtrail_logs WHERE useridentity.arn = t.useridentity.arn
        AND eventname = 'DeleteBucket') ORDER BY 1";
    assert_eq!(rows(&engine, unaliased).await, ids(&[3, 4, 5]));
}

#[tokio::test]
async fn in_and_not_in_follow_sql_null_rules() {
    let (_dir, lake) = lake();
    let engine = QueryEngine::open(&lake).await.unwrap();
    let logged_in = "SELECT eventid FROM cloudtrail_logs t WHERE t.eventname <> 'ConsoleLogin'
        AND t.useridentity.arn IN (SELECT s.useridentity.arn FROM cloudtrail_logs s WHERE s.eventname = 'ConsoleLogin')
        ORDER BY 1";
    assert_eq!(rows(&engine, logged_in).await, ids(&[2, 4]));
    // NOT IN {B, C}: the service event's NULL ARN gives NULL, so it is not kept.
    let not_in = "SELECT eventid FROM cloudtrail_logs t WHERE t.useridentity.arn NOT IN
        (SELECT s.useridentity.arn FROM cloudtrail_logs s WHERE s.eventname = 'DeleteBucket') ORDER BY 1";
    assert_eq!(rows(&engine, not_in).await, ids(&[1, 2, 6, 8]));
    // With a NULL among the values, NOT IN is never true.
    let with_null = "SELECT count(*) FROM cloudtrail_logs t WHERE t.useridentity.arn NOT IN
        (SELECT s.useridentity.arn FROM cloudtrail_logs s WHERE s.eventname IN ('DeleteBucket', 'Other'))";
    assert_eq!(rows(&engine, with_null).await, ["0"]);
    // Correlated NOT IN: an event whose name no other event of the same principal has.
    // alice's two logins see each other; everything else is unique to its principal.
    let correlated = "SELECT eventid FROM cloudtrail_logs t WHERE t.eventname NOT IN
        (SELECT s.eventname FROM cloudtrail_logs s WHERE s.useridentity.arn = t.useridentity.arn
         AND s.eventid <> t.eventid) ORDER BY 1";
    assert_eq!(rows(&engine, correlated).await, ids(&[2, 3, 4, 5, 6, 7]));
    // Correlated NOT IN whose left side is itself a struct field; a NULL left side with
    // values present is NULL (not kept), with no values TRUE (kept).
    let left_field = "SELECT eventid FROM cloudtrail_logs t WHERE t.useridentity.arn NOT IN
        (SELECT s.useridentity.arn FROM cloudtrail_logs s WHERE s.eventname = t.eventname
         AND s.eventid <> t.eventid) ORDER BY 1";
    // ConsoleLogin: 0301 and 0308 share A (excluded), 0303 (B) is not among {A}: kept.
    // DeleteBucket: 0304 (B) vs {C} kept, 0305 (C) vs {B} kept. Others have no values.
    assert_eq!(rows(&engine, left_field).await, ids(&[2, 3, 4, 5, 6, 7]));
}

#[tokio::test]
async fn scalar_subqueries_correlate_on_struct_fields() {
    let (_dir, lake) = lake();
    let engine = QueryEngine::open(&lake).await.unwrap();
    let per_event = "SELECT eventid, (SELECT count(*) FROM cloudtrail_logs s
        WHERE s.useridentity.arn = t.useridentity.arn) AS n FROM cloudtrail_logs t ORDER BY 1";
    assert_eq!(
        rows(&engine, per_event).await,
        [
            "fixture-0301 3",
            "fixture-0302 3",
            "fixture-0303 2",
            "fixture-0304 2",
            "fixture-0305 1",
            "fixture-0306 1",
            "fixture-0307 0",
            "fixture-0308 3"
        ]
    );
    // In WHERE: principals with more than one event.
    let busy = "SELECT eventid FROM cloudtrail_logs t WHERE (SELECT count(*) FROM cloudtrail_logs s
        WHERE s.useridentity.arn = t.useridentity.arn) > 1 ORDER BY 1";
    assert_eq!(rows(&engine, busy).await, ids(&[1, 2, 3, 4, 8]));
    // A correlation other than `=` in a scalar subquery: DataFusion cannot run it, so it is
    // refused with what to write instead, never answered wrongly.
    let last_login = "SELECT eventid, (SELECT max(s.eventtime) FROM cloudtrail_logs s
        WHERE s.useridentity.arn = t.useridentity.arn AND s.eventtime < t.eventtime) AS last_login
        FROM cloudtrail_logs t";
    let err = engine.run(last_login).await.unwrap_err().to_string();
    assert!(
        err.contains("other than `=`") && err.contains("s.eventtime < t.eventtime"),
        "{err}"
    );
    // The same question as a join with GROUP BY, as the message says.
    let joined = "SELECT t.eventid, max(s.eventtime) FROM cloudtrail_logs t LEFT JOIN cloudtrail_logs s
        ON s.useridentity.arn = t.useridentity.arn AND s.eventname = 'ConsoleLogin' AND s.eventtime < t.eventtime
        WHERE t.eventname <> 'ConsoleLogin' GROUP BY t.eventid ORDER BY 1";
    assert_eq!(
        rows(&engine, joined).await,
        [
            "fixture-0302 2024-04-01T10:00:00Z",
            "fixture-0304 2024-04-01T10:10:00Z",
            "fixture-0305 NULL",
            "fixture-0306 NULL",
            "fixture-0307 NULL"
        ]
    );
    // Other inner fields beside the correlation.
    let named =
        "SELECT count(*) FROM cloudtrail_logs t WHERE (SELECT count(*) FROM cloudtrail_logs s
        WHERE s.useridentity.username IS NULL AND s.useridentity.arn = t.useridentity.arn) = 2";
    assert_eq!(rows(&engine, named).await, ["2"]);
    // A nested field of the session issuer, inner and outer.
    let issuer = "SELECT count(*) FROM cloudtrail_logs t WHERE t.useridentity.sessioncontext.sessionissuer.arn IS NOT NULL
        AND (SELECT count(*) FROM cloudtrail_logs s WHERE s.useridentity.sessioncontext.sessionissuer.username
             = t.useridentity.sessioncontext.sessionissuer.username) = 1";
    assert_eq!(rows(&engine, issuer).await, ["1"]);
}
