//! A small intrusion planted in a trail (`trawl demo`), for the worked example of
//! docs/investigate.md: a leaked long-term key of `alice` is tried from an unknown address
//! with TruffleHog, lists buckets, creates a backdoor user with a key of its own, which
//! assumes an administrator role; the role session stops the trail, deletes flow logs, opens
//! SSH to the world, shares a snapshot with another account, resets `bob`'s console password,
//! and `bob` signs in without MFA. Every event has a fixed id, so that the docs and the tests
//! can name them.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// Where the intruder comes from.
pub const INTRUDER_IP: &str = "203.0.113.66";
/// alice's leaked key.
pub const LEAKED_KEY: &str = "AKIAEXAMPLELEAKED001";
/// The backdoor user's key, created by the intruder.
pub const BACKDOOR_KEY: &str = "AKIAEXAMPLEBACKDOOR1";
/// The key of the administrator role session the backdoor key opens.
pub const SESSION_KEY: &str = "ASIAEXAMPLESESSION01";
/// The role session's name.
pub const SESSION_NAME: &str = "maintenance";

/// The event id of the story's `n`-th event (1-based).
pub fn event_id(n: usize) -> String {
    format!("5e551011-0000-4000-8000-{n:012}")
}

/// The story's events, from `start`, in `account` (us-east-1).
pub fn intrusion(start: DateTime<Utc>, account: &str) -> Vec<Value> {
    let alice = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE0001",
        "arn": format!("arn:aws:iam::{account}:user/alice"), "accountId": account,
        "accessKeyId": LEAKED_KEY, "userName": "alice"});
    let backdoor = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEBACKDOOR1",
        "arn": format!("arn:aws:iam::{account}:user/svc-backup"), "accountId": account,
        "accessKeyId": BACKDOOR_KEY, "userName": "svc-backup"});
    let role_arn = format!("arn:aws:iam::{account}:role/AdminRole");
    let session = json!({"type": "AssumedRole",
        "principalId": format!("AROAEXAMPLEADMINROLE:{SESSION_NAME}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/AdminRole/{SESSION_NAME}"),
        "accountId": account, "accessKeyId": SESSION_KEY,
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEADMINROLE",
            "arn": role_arn, "accountId": account, "userName": "AdminRole"},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-01-01T00:00:00Z", "mfaAuthenticated": "false"}}});
    let bob = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEBOB000001",
        "arn": format!("arn:aws:iam::{account}:user/bob"), "accountId": account, "userName": "bob"});
    let cli = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64";
    // (minutes after start, who, source, name, user agent, request, response)
    let steps: Vec<(i64, &Value, &str, &str, &str, Value, Value)> = vec![
        (
            0,
            &alice,
            "sts",
            "GetCallerIdentity",
            "TruffleHog",
            json!(null),
            json!(null),
        ),
        (
            2,
            &alice,
            "s3",
            "ListBuckets",
            cli,
            json!({"Host": "s3.amazonaws.com"}),
            json!(null),
        ),
        (
            5,
            &alice,
            "iam",
            "CreateUser",
            cli,
            json!({"userName": "svc-backup"}),
            json!({"user": {"userName": "svc-backup", "arn": format!("arn:aws:iam::{account}:user/svc-backup")}}),
        ),
        (
            6,
            &alice,
            "iam",
            "CreateAccessKey",
            cli,
            json!({"userName": "svc-backup"}),
            json!({"accessKey": {"accessKeyId": BACKDOOR_KEY, "status": "Active", "userName": "svc-backup"}}),
        ),
        (
            7,
            &alice,
            "iam",
            "AttachUserPolicy",
            cli,
            json!({"userName": "svc-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            json!(null),
        ),
        (
            20,
            &backdoor,
            "sts",
            "AssumeRole",
            cli,
            json!({"roleArn": role_arn, "roleSessionName": SESSION_NAME, "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": SESSION_KEY, "expiration": "Jan 1, 2030, 12:00:00 AM"},
                "assumedRoleUser": {"assumedRoleId": format!("AROAEXAMPLEADMINROLE:{SESSION_NAME}"),
                    "arn": format!("arn:aws:sts::{account}:assumed-role/AdminRole/{SESSION_NAME}")}}),
        ),
        (
            25,
            &session,
            "cloudtrail",
            "StopLogging",
            cli,
            json!({"name": format!("arn:aws:cloudtrail:us-east-1:{account}:trail/management")}),
            json!(null),
        ),
        (
            26,
            &session,
            "ec2",
            "DeleteFlowLogs",
            cli,
            json!({"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-0a1b2c3d4e5f60718", "tag": 1}}}),
            json!(null),
        ),
        (
            27,
            &session,
            "ec2",
            "AuthorizeSecurityGroupIngress",
            cli,
            json!({"groupId": "sg-0badc0ffee0000001", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22,
                "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            json!({"_return": true}),
        ),
        (
            28,
            &session,
            "ec2",
            "ModifySnapshotAttribute",
            cli,
            json!({"snapshotId": "snap-0feedbeef0000001", "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": [{"userId": "999999999999"}]}}}),
            json!(null),
        ),
        (
            30,
            &session,
            "iam",
            "UpdateLoginProfile",
            cli,
            json!({"userName": "bob"}),
            json!(null),
        ),
    ];
    let mut events: Vec<Value> = steps
        .into_iter()
        .enumerate()
        .map(|(i, (min, who, svc, name, agent, req, resp))| {
            json!({"eventVersion": "1.09", "userIdentity": who,
                "eventTime": (start + Duration::minutes(min)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "eventSource": format!("{svc}.amazonaws.com"), "eventName": name,
                "awsRegion": "us-east-1", "sourceIPAddress": INTRUDER_IP, "userAgent": agent,
                "requestParameters": req, "responseElements": resp,
                "requestID": format!("5e551011-aaaa-4000-8000-{:012}", i + 1),
                "eventID": event_id(i + 1), "readOnly": matches!(name, "GetCallerIdentity" | "ListBuckets"),
                "eventType": "AwsApiCall", "managementEvent": true,
                "recipientAccountId": account, "eventCategory": "Management"})
        })
        .collect();
    let n = events.len() + 1;
    events.push(json!({"eventVersion": "1.09", "userIdentity": bob,
        "eventTime": (start + Duration::minutes(31)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
        "sourceIPAddress": INTRUDER_IP,
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
        "requestParameters": null, "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No", "MFAUsed": "No"},
        "eventID": event_id(n), "readOnly": false, "eventType": "AwsConsoleSignIn",
        "managementEvent": true, "recipientAccountId": account, "eventCategory": "Management"}));
    events
}

/// Writes [`intrusion`] as one delivered CloudTrail object under `dir`; returns its path.
pub fn write_intrusion(
    dir: &Path,
    start: DateTime<Utc>,
    account: &str,
) -> std::io::Result<PathBuf> {
    let delivered = start + Duration::minutes(40);
    let path = dir.join(format!(
        "AWSLogs/{account}/CloudTrail/us-east-1/{}/{account}_CloudTrail_us-east-1_{}_5E5510115E551011.json.gz",
        delivered.format("%Y/%m/%d"),
        delivered.format("%Y%m%dT%H%MZ"),
    ));
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    let body = json!({ "Records": intrusion(start, account) }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(body.as_bytes())?;
    std::fs::write(&path, gz.finish()?)?;
    Ok(path)
}
