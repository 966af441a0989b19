//! Sigma over the lake: SigmaHQ's CloudTrail rules all compile; the Stratus Red Team
//! detonations of the real corpus raise the rules written for them (pairs written by hand
//! from reading the events); a benign generated trail hits only the rules whose false
//! positives say so, as many times as the trail's own records say; and each modifier,
//! condition, filter and correlation means what Sigma says, on records made here.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use trawl_detections::{Hit, RuleSet, load};
use trawl_lake::Lake;
use trawl_query::QueryEngine;
use trawl_schema::TimeWindow;

/// A directory of `../shared`, from `env` or beside the repository; a test fails (not skips)
/// when CI or the variable says it should be there.
fn shared(env: &str, rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| trawl_testkit::repo().join("..").join("shared").join(rel));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() || std::env::var_os(env).is_some() {
        panic!("{} not found: set {env} to shared/{rel}", dir.display());
    }
    eprintln!("skipping: {} not found (set {env})", dir.display());
    None
}

fn sigmahq() -> Option<PathBuf> {
    shared("TRAWL_SIGMA", "sigma/rules")
}

async fn run(lake: &Lake, set: &RuleSet) -> Vec<Hit> {
    let engine = QueryEngine::open(lake).await.unwrap();
    let mut hits = Vec::new();
    trawl_detections::run(&engine, set, &TimeWindow::default(), |h| {
        hits.push(h);
        Ok(())
    })
    .await
    .unwrap();
    hits
}

/// (rule file name, event id) of each hit.
fn pairs(hits: &[Hit]) -> BTreeSet<(String, String)> {
    hits.iter()
        .map(|h| {
            (
                h.rule
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
                h.event_id.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn write_gz(path: &Path, records: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(json!({ "Records": records }).to_string().as_bytes())
        .unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

#[test]
fn every_sigmahq_cloudtrail_rule_compiles_or_is_reported() {
    let Some(dir) = sigmahq() else { return };
    let set = load(&[dir]).unwrap();
    // shared/sigma/SOURCES.md: the 57 rules of rules/cloud/aws/cloudtrail at 8eaafff.
    assert_eq!(set.files, 57);
    assert_eq!(
        set.problems,
        vec![],
        "every SigmaHQ CloudTrail rule compiles"
    );
    assert_eq!(set.rules.len(), 57);
    // The DRL asks that matches carry title, id and author: every rule has them.
    for r in &set.rules {
        assert!(!r.info.title.is_empty() && r.info.id.is_some() && r.info.author.is_some());
        assert!(r.info.level.is_some(), "{}", r.info.title);
    }
    // One rule names a field CloudTrail does not write (`status`): said, and still run.
    let noted: Vec<&str> = set
        .rules
        .iter()
        .filter(|r| !r.notes.is_empty())
        .map(|r| r.info.file.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(noted, vec!["aws_delete_saml_provider.yml"]);
}

/// The Stratus Red Team detonations of the corpus, and the SigmaHQ rules they should raise,
/// written from reading each event against each rule (not from running the engine).
const STRATUS_EXPECTED: &[(&str, &str, &str)] = &[
    // defense-evasion.cloudtrail-delete: DeleteTrail, cloudtrail.amazonaws.com.
    (
        "aws_cloudtrail_disable_logging.yml",
        "ee73c230-44bc-4492-8542-cfb189eae287",
        "DeleteTrail",
    ),
    // defense-evasion.cloudtrail-stop: StopLogging.
    (
        "aws_cloudtrail_disable_logging.yml",
        "10163ed2-2253-469d-a5ee-cbc6651f8934",
        "StopLogging",
    ),
    // defense-evasion.vpc-remove-flow-logs: DeleteFlowLogs without an error code.
    (
        "aws_cloudtrail_vpc_flow_logs_deleted.yml",
        "ded2f5af-f3a5-46d2-a170-a23206a32c36",
        "DeleteFlowLogs",
    ),
    // exfiltration.ec2-security-group-open-port-22-ingress.
    (
        "aws_cloudtrail_security_group_change_ingress_egress.yml",
        "9fd68588-ecbf-4528-a345-199fa6bb0821",
        "AuthorizeSecurityGroupIngress",
    ),
    // exfiltration.ec2-share-ebs-snapshot: ModifySnapshotAttribute.
    (
        "aws_snapshot_backup_exfiltration.yml",
        "6897ff63-d738-445c-9e86-43e5b1f8e12f",
        "ModifySnapshotAttribute",
    ),
    // initial-access.console-login-without-mfa: MFAUsed "No" against the rule's 'NO'
    // (Sigma compares without case), ConsoleLogin Success.
    (
        "aws_cloudtrail_console_login_success_without_mfa.yml",
        "865d9377-9c6b-4fd7-8aad-725e95f6a140",
        "ConsoleLogin",
    ),
    // persistence.iam-backdoor-user and iam-create-admin-user: CreateAccessKey (the rule's
    // filter compares the caller's ARN with the literal text `responseElements.accessKey.
    // userName`, which no ARN contains).
    (
        "aws_iam_backdoor_users_keys.yml",
        "c64c4ded-ef03-4e5c-81eb-153b118d72f2",
        "CreateAccessKey",
    ),
    (
        "aws_iam_backdoor_users_keys.yml",
        "94faedcc-0fa4-46e6-9322-022e8e934f04",
        "CreateAccessKey",
    ),
    // persistence.lambda-layer-extension: UpdateFunctionConfiguration20150331v2 with a
    // `layers` list (the rule: startswith, and `layers|contains: '*'`, a member of a list).
    (
        "aws_new_lambda_layer_attached.yml",
        "da929d96-8e20-475c-a810-973addd64769",
        "UpdateFunctionConfiguration20150331v2",
    ),
    // privilege-escalation.iam-update-user-login-profile: the caller's ARN is not the
    // target user name (fieldref), so the filter does not drop it.
    (
        "aws_update_login_profile.yml",
        "a46a1a42-9ef1-48d4-9c61-507eb6d4019f",
        "UpdateLoginProfile",
    ),
    // credential-access.ec2-steal-instance-credentials and execution.ssm-send-command:
    // SendCommand without an error code.
    (
        "aws_cloudtrail_ssm_malicious_usage.yml",
        "2a5178c8-b4c7-44ba-b066-1ecc79b7087c",
        "SendCommand",
    ),
    (
        "aws_cloudtrail_ssm_malicious_usage.yml",
        "5288bfb8-e3fa-4c41-be02-6853521afe8b",
        "SendCommand",
    ),
    // defense-evasion.bedrock-guardrail-delete (a later version of the docs; its event id
    // is the cloudtrail-delete one's, copied by the docs' author).
    (
        "aws_cloudtrail_bedrock_guardrail_deleted.yml",
        "ee73c230-44bc-4492-8542-cfb189eae287",
        "DeleteGuardrail",
    ),
];

#[tokio::test]
async fn stratus_detonations_raise_the_rules_written_for_them() {
    let Some(rules) = sigmahq() else { return };
    let Some(corpus) = shared("TRAWL_CORPUS", "corpus/real") else {
        return;
    };
    let files: Vec<PathBuf> = walkdir::WalkDir::new(corpus.join("stratus-red-team/normalized"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    assert!(files.len() >= 40, "{} detonation files", files.len());
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &files);
    let set = load(&[rules]).unwrap();
    let hits = run(&lake, &set).await;

    // Every hit names its rule's title, id, level and author, and the event's time,
    // principal and the fields that matched.
    for h in &hits {
        assert!(h.rule.id.is_some() && h.rule.author.is_some() && h.rule.level.is_some());
        assert!(h.time.is_some() && h.principal.is_some(), "{h:?}");
        assert!(!h.fields.is_empty(), "{h:?}");
    }
    let noisy = "aws_sts_assumerole_misuse.yml";
    let got: BTreeSet<(String, String)> = pairs(&hits)
        .into_iter()
        .filter(|(rule, _)| rule != noisy)
        .collect();
    let want: BTreeSet<(String, String)> = STRATUS_EXPECTED
        .iter()
        .map(|(r, id, _)| (r.to_string(), id.to_string()))
        .collect();
    assert_eq!(got, want);
    let names: BTreeSet<&str> = hits
        .iter()
        .filter(|h| !h.rule.file.ends_with(noisy))
        .map(|h| h.event_name.as_deref().unwrap())
        .collect();
    let want_names: BTreeSet<&str> = STRATUS_EXPECTED.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(names, want_names);

    // "AWS STS AssumeRole Misuse" flags every call of a role session (its false positives
    // say so): exactly the events whose identity is an assumed role issued by a role.
    let mut sessions = BTreeSet::new();
    for f in &files {
        let text = std::io::read_to_string(flate2::read::MultiGzDecoder::new(
            std::fs::File::open(f).unwrap(),
        ))
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for r in v["Records"].as_array().unwrap() {
            let ui = &r["userIdentity"];
            if ui["type"] == "AssumedRole"
                && ui["sessionContext"]["sessionIssuer"]["type"] == "Role"
            {
                sessions.insert(r["eventID"].as_str().unwrap().to_string());
            }
        }
    }
    let misuse: BTreeSet<String> = pairs(&hits)
        .into_iter()
        .filter(|(rule, _)| rule == noisy)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(misuse, sessions);
    assert!(sessions.len() > 50);
}

#[tokio::test]
async fn a_benign_trail_hits_only_what_the_rules_call_false_positives() {
    let Some(rules) = sigmahq() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let spec = trawl_gen::TrailSpec {
        events: 4000,
        days: 2,
        duplicate_rate: 0.0,
        benign: true,
        seed: 11,
        ..Default::default()
    };
    let trail = tmp.path().join("trail");
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    let mut set = load(&[rules]).unwrap();
    let all = run(&lake, &set).await;

    // The generator's records say what each rule should see.
    let (mut roles, mut listing) = (0, 0);
    for r in trawl_gen::records(&spec) {
        let ui = &r["userIdentity"];
        let role =
            ui["type"] == "AssumedRole" && ui["sessionContext"]["sessionIssuer"]["type"] == "Role";
        roles += usize::from(role);
        listing += usize::from(r["eventName"] == "ListBuckets" && ui["type"] != "AssumedRole");
    }
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for (rule, _) in pairs(&all) {
        *by_rule.entry(rule).or_default() += 1;
    }
    // Two low rules, both for what their `falsepositives` describe: a role session's calls,
    // and an administrator listing buckets.
    assert_eq!(
        by_rule,
        BTreeMap::from([
            ("aws_enum_buckets.yml".to_string(), listing),
            ("aws_sts_assumerole_misuse.yml".to_string(), roles),
        ])
    );
    assert!(listing > 0 && roles > 0);
    // At medium and above, a quiet account raises nothing.
    set.keep_min_level("medium");
    assert!(run(&lake, &set).await.is_empty());
}

fn record(id: &str, time: &str, source: &str, name: &str, extra: Value) -> Value {
    let mut r = json!({
        "eventVersion": "1.09",
        "eventID": id,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.1",
        "userAgent": "Boto3/1.34",
        "recipientAccountId": "111122223333",
        "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/zed",
            "userName": "zed", "accountId": "111122223333"},
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn user(name: &str) -> Value {
    json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{name}"),
        "userName": name, "accountId": "111122223333"})
}

/// Records each fixture rule under fixtures/sigma/semantics is written against.
fn semantics_records() -> Vec<Value> {
    let t = "2024-05-01T10:00:00Z";
    vec![
        record(
            "e1",
            t,
            "s3.amazonaws.com",
            "PutBucketVersioning",
            json!({
            "userIdentity": user("alice"), "sourceIPAddress": "10.1.2.3", "userAgent": "aws-cli/2.15",
            "requestParameters": {"bucketName": "b1", "VersioningConfiguration": {"Status": "Suspended"}},
            "resources": [{"ARN": "arn:aws:s3:::b1", "type": "AWS::S3::Bucket"}]}),
        ),
        record(
            "e2",
            t,
            "ecs.amazonaws.com",
            "RunTask",
            json!({
            "userIdentity": user("carol"), "sourceIPAddress": "2001:db8::7",
            "requestParameters": {"count": 3, "containerDefinitions": [
                {"command": ["true"]},
                {"command": ["sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}),
        ),
        record(
            "e3",
            t,
            "iam.amazonaws.com",
            "UpdateLoginProfile",
            json!({
            "userIdentity": user("bob"), "requestParameters": {"userName": "bob"}}),
        ),
        record(
            "e4",
            t,
            "iam.amazonaws.com",
            "UpdateLoginProfile",
            json!({
            "userIdentity": user("carol"), "requestParameters": {"userName": "dave"}}),
        ),
        record(
            "e5",
            t,
            "s3.amazonaws.com",
            "deletebucket",
            json!({
            "errorCode": "AccessDenied", "requestParameters": {"bucketName": "b2"}}),
        ),
        record(
            "e6",
            t,
            "signin.amazonaws.com",
            "ConsoleLogin",
            json!({
            "eventType": "AwsConsoleSignIn", "additionalEventData": {"MFAUsed": "No"},
            "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        record(
            "e7",
            t,
            "ec2.amazonaws.com",
            "DescribeInstances",
            json!({
            "sourceIPAddress": "10.9.9.9", "requestParameters": {"count": 1}}),
        ),
        record(
            "e8",
            t,
            "ecs.amazonaws.com",
            "RunTask",
            json!({
            "requestParameters": {"count": 2}}),
        ),
    ]
}

#[tokio::test]
async fn modifiers_conditions_and_filters_mean_what_sigma_says() {
    let tmp = tempfile::tempdir().unwrap();
    write_gz(&tmp.path().join("trail/a.json.gz"), &semantics_records());
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[tmp.path().join("trail")]);
    let set = load(&[trawl_testkit::fixtures().join("sigma/semantics")]).unwrap();
    assert_eq!(set.problems, vec![]);
    assert_eq!((set.files, set.rules.len(), set.filters), (15, 14, 1));
    let hits = run(&lake, &set).await;
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rule, id) in pairs(&hits) {
        got.entry(rule).or_default().push(id);
    }
    let want: BTreeMap<String, Vec<String>> = [
        ("json_contains.yml", &["e1"][..]),
        ("list_member.yml", &["e2"]),
        ("fieldref.yml", &["e3"]),
        ("case_insensitive.yml", &["e5"]),
        // Each list is one `lower() IN`: any value, in any case.
        ("name_list.yml", &["e3", "e4", "e5"]),
        ("cidr_not.yml", &["e2", "e7"]),
        ("not_null.yml", &["e5"]),
        ("regex.yml", &["e1", "e3"]),
        ("all_of.yml", &["e1"]),
        ("resources.yml", &["e1"]),
        ("exists.yml", &["e6"]),
        // PutBucketVersioning and deletebucket contain "bucket"; the filter keeps what worked.
        ("any_s3.yml", &["e1"]),
        // RunTask matches `Run?ask`; e2's count 3 >= 3, e8's 2 is not.
        ("wildcard.yml", &["e2"]),
    ]
    .into_iter()
    .map(|(r, ids)| (r.to_string(), ids.iter().map(|s| s.to_string()).collect()))
    .collect();
    // `cased.yml` (DeleteBucket, exact case) matches nothing: the event says deletebucket.
    assert_eq!(got, want);

    // What matched is shown with the event's values.
    let h = hits
        .iter()
        .find(|h| h.rule.file.ends_with("list_member.yml"))
        .unwrap();
    let (field, value) = &h.fields[0];
    assert_eq!(field, "requestParameters.containerDefinitions.command");
    assert!(
        value.contains("$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "{value}"
    );
    let h = hits
        .iter()
        .find(|h| h.rule.file.ends_with("exists.yml"))
        .unwrap();
    assert!(
        h.fields
            .contains(&("additionalEventData.MFAUsed".into(), "No".into()))
    );
}

#[test]
fn rules_that_cannot_run_are_reported_by_file_and_the_others_load() {
    let dir = trawl_testkit::fixtures().join("sigma/broken");
    let set = load(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(set.files, 6);
    assert_eq!(set.rules.len(), 1);
    assert_eq!(
        set.rules[0].info.title,
        "The one good rule among the broken"
    );
    let reasons: BTreeMap<String, String> = set
        .problems
        .iter()
        .map(|p| {
            (
                p.file.file_name().unwrap().to_string_lossy().to_string(),
                p.reason.clone(),
            )
        })
        .collect();
    let expect = [
        ("keywords.yml", "keyword values"),
        ("windows.yml", "not CloudTrail's"),
        ("modifier.yml", "modifier `base64offset`"),
        ("not_yaml.yml", "YAML"),
        ("missing_name.yml", "`filter`"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    for (file, reason) in expect {
        assert!(
            reasons[file].contains(reason),
            "{file}: {} (wanted {reason})",
            reasons[file]
        );
    }
    // A path that is not there is an error naming it.
    let missing = dir.join("nope");
    let e = load(std::slice::from_ref(&missing))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&missing.display().to_string()), "{e}");
}

/// Per rule title: each hit's event id and the events of its window.
type Fired = BTreeMap<String, Vec<(Option<String>, Vec<String>)>>;

#[tokio::test]
async fn correlations_fire_on_their_windows_only() {
    let tmp = tempfile::tempdir().unwrap();
    let login = |id: &str, time: &str, ip: &str, who: &str| {
        record(
            id,
            time,
            "signin.amazonaws.com",
            "ConsoleLogin",
            json!({
            "sourceIPAddress": ip, "userIdentity": user(who), "eventType": "AwsConsoleSignIn",
            "errorMessage": "Failed authentication", "responseElements": {"ConsoleLogin": "Failure"}}),
        )
    };
    let by = |id: &str, time: &str, source: &str, name: &str, who: &str| {
        record(id, time, source, name, json!({"userIdentity": user(who)}))
    };
    let ct = "cloudtrail.amazonaws.com";
    let iam = "iam.amazonaws.com";
    let records = vec![
        // One address: three failures in four minutes (two users), then one more later.
        login("f1", "2024-05-01T10:00:00Z", "198.51.100.7", "alice"),
        login("f2", "2024-05-01T10:02:00Z", "198.51.100.7", "bob"),
        login("f3", "2024-05-01T10:04:00Z", "198.51.100.7", "alice"),
        login("f4", "2024-05-01T10:30:00Z", "198.51.100.7", "alice"),
        // Another: three failures twenty minutes apart, one user.
        login("g1", "2024-05-01T11:00:00Z", "198.51.100.8", "erin"),
        login("g2", "2024-05-01T11:20:00Z", "198.51.100.8", "erin"),
        login("g3", "2024-05-01T11:40:00Z", "198.51.100.8", "erin"),
        // Trail stopped then deleted by mallory within 3 minutes; by trent 10 minutes apart.
        by("t1", "2024-05-01T12:00:00Z", ct, "StopLogging", "mallory"),
        by("t2", "2024-05-01T12:03:00Z", ct, "DeleteTrail", "mallory"),
        by("t3", "2024-05-01T13:00:00Z", ct, "DeleteTrail", "trent"),
        by("t4", "2024-05-01T13:10:00Z", ct, "StopLogging", "trent"),
        // Policy before key (wrong order), then key, then policy again: fires on k3.
        by(
            "k1",
            "2024-05-01T14:00:00Z",
            iam,
            "AttachUserPolicy",
            "oscar",
        ),
        by(
            "k2",
            "2024-05-01T14:01:00Z",
            iam,
            "CreateAccessKey",
            "oscar",
        ),
        by(
            "k3",
            "2024-05-01T14:02:00Z",
            iam,
            "AttachUserPolicy",
            "oscar",
        ),
        // Victor: policy then key only.
        by(
            "k4",
            "2024-05-01T15:00:00Z",
            iam,
            "AttachUserPolicy",
            "victor",
        ),
        by(
            "k5",
            "2024-05-01T15:01:00Z",
            iam,
            "CreateAccessKey",
            "victor",
        ),
    ];
    write_gz(&tmp.path().join("trail/a.json.gz"), &records);
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[tmp.path().join("trail")]);
    let set = load(&[trawl_testkit::fixtures().join("sigma/correlations")]).unwrap();
    assert_eq!(set.problems, vec![]);
    assert_eq!((set.rules.len(), set.correlations.len()), (5, 4));
    let hits = run(&lake, &set).await;
    let fired: Fired = hits.iter().fold(BTreeMap::new(), |mut m, h| {
        m.entry(h.rule.title.clone())
            .or_default()
            .push((h.event_id.clone(), h.events.clone()));
        m
    });
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let want: Fired = [
        (
            "Three failed logins from one address in ten minutes",
            vec![(Some("f3".to_string()), ids(&["f1", "f2", "f3"]))],
        ),
        (
            "Failed logins for two users from one address in ten minutes",
            vec![(Some("f2".to_string()), ids(&["f1", "f2"]))],
        ),
        (
            "Trail stopped and deleted by one principal within five minutes",
            vec![(Some("t2".to_string()), ids(&["t1", "t2"]))],
        ),
        (
            "Key created, then a policy attached, by one principal within five minutes",
            vec![(Some("k3".to_string()), ids(&["k1", "k2", "k3"]))],
        ),
        // `generate: true` on the temporal rule: its base rules' own hits too.
        (
            "Trail deleted",
            vec![
                (Some("t2".to_string()), vec![]),
                (Some("t3".to_string()), vec![]),
            ],
        ),
        (
            "Trail stopped",
            vec![
                (Some("t1".to_string()), vec![]),
                (Some("t4".to_string()), vec![]),
            ],
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(fired, want);
    // The group is named with the hit.
    let spray = hits
        .iter()
        .find(|h| h.rule.title.starts_with("Failed logins for two"))
        .unwrap();
    assert!(
        spray
            .fields
            .contains(&("sourceIPAddress".into(), "198.51.100.7".into()))
    );
    assert!(
        spray
            .fields
            .contains(&("distinct values".into(), "2".into()))
    );
}

#[tokio::test]
async fn the_demo_intrusion_raises_the_rules_it_was_written_for() {
    let Some(rules) = sigmahq() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2024-03-08T13:00:00Z")
        .unwrap()
        .to_utc();
    trawl_gen::story::write_intrusion(&tmp.path().join("trail"), start, "111122223333").unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[tmp.path().join("trail")]);
    let hits = run(&lake, &load(&[rules]).unwrap()).await;
    // Written from the story (crates/gen/src/story.rs), event by event.
    let misuse = "aws_sts_assumerole_misuse.yml";
    let want: BTreeSet<(String, String)> = [
        ("aws_sts_getcalleridentity_trufflehog.yml", 1),
        ("aws_cloudtrail_pua_trufflehog.yml", 1),
        ("aws_enum_buckets.yml", 2),
        ("aws_iam_backdoor_users_keys.yml", 4),
        ("aws_cloudtrail_disable_logging.yml", 7),
        ("aws_cloudtrail_vpc_flow_logs_deleted.yml", 8),
        ("aws_cloudtrail_security_group_change_ingress_egress.yml", 9),
        ("aws_snapshot_backup_exfiltration.yml", 10),
        ("aws_update_login_profile.yml", 11),
        ("aws_cloudtrail_console_login_success_without_mfa.yml", 12),
        // The role session's five calls.
        (misuse, 7),
        (misuse, 8),
        (misuse, 9),
        (misuse, 10),
        (misuse, 11),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_string(), trawl_gen::story::event_id(n)))
    .collect();
    assert_eq!(pairs(&hits), want);
}
