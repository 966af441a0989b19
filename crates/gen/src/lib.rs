//! A seeded generator of realistic CloudTrail trails, written in CloudTrail's S3 key layout
//! (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz`).
//!
//! The same seed gives the same bytes. The mix covers every identity type, console logins
//! with and without MFA and failed ones, security-group changes (opened to the world among
//! them), EC2 instance changes, errors, root activity, S3 data events, and a few events
//! delivered twice (as CloudTrail sometimes does).
//!
//! ```
//! let spec = trawl_gen::TrailSpec { events: 50, ..Default::default() };
//! let records: Vec<_> = trawl_gen::records(&spec).collect();
//! assert_eq!(records.len(), 50);
//! assert!(records.iter().all(|r| r["eventID"].is_string()));
//! ```

mod digests;
pub mod story;
pub use digests::{DigestSpec, DigestStats, Signer, TEST_SIGNING_KEY, write_digests};

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrailSpec {
    pub seed: u64,
    pub events: usize,
    /// First event time; events spread uniformly over `days`.
    pub start: DateTime<Utc>,
    pub days: u32,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Events per delivered file (CloudTrail delivers roughly every 5 minutes).
    pub events_per_file: usize,
    /// Fraction of events delivered a second time in another file.
    pub duplicate_rate: f64,
    /// Hash each file's content as it is written ([`LogFile::sha256`]), for
    /// [`write_digests`]; off by default (it costs about 7% of the generation time).
    pub hash_files: bool,
    /// Everyday work only: object reads and writes, and describe/list/get calls (the first
    /// half of the default mix), without console logins, security group, instance, IAM, STS
    /// or trail changes. What a detection run on a quiet account sees.
    pub benign: bool,
}

impl Default for TrailSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            events: 10_000,
            start: Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap(),
            days: 7,
            accounts: vec!["111122223333".into(), "444455556666".into()],
            regions: vec![
                "us-east-1".into(),
                "eu-west-1".into(),
                "ap-southeast-2".into(),
            ],
            events_per_file: 400,
            duplicate_rate: 0.002,
            hash_files: false,
            benign: false,
        }
    }
}

const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "mallory",
];
const ROLES: &[&str] = &[
    "Admin",
    "ReadOnly",
    "DeployRole",
    "LambdaExecution",
    "OrganizationAccountAccessRole",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
    "Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0",
];
const IPS: &[&str] = &[
    "203.0.113.10",
    "198.51.100.23",
    "192.0.2.55",
    "81.2.69.142",
    "175.16.199.7",
    "89.160.20.112",
    "2001:db8::1",
    "216.160.83.56",
    "67.43.156.12",
    "202.196.224.5",
];

struct Gen<'a> {
    rng: StdRng,
    spec: &'a TrailSpec,
}

impl Gen<'_> {
    fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.rng.random_range(0..items.len())]
    }

    /// A security-group change in one of the shapes CloudTrail writes: rules in
    /// `ipPermissions.items[*]` (one or two, each with one or more address ranges, an IPv6
    /// range, a prefix list or a peer group; empty lists as `{}`), a revoke by rule id,
    /// `ModifySecurityGroupRules` with capitalised keys, a network interface's groups, a new
    /// group (its id in the response) or a deleted one.
    fn security_group_change(&mut self) -> (&'static str, Value, Value) {
        let gid = |g: &mut Self| format!("sg-0{:016x}", g.rng.random::<u64>() % 0x1_0000_0000);
        let group = gid(self);
        let port = *self.pick(&[22, 443, 3389, 5432]);
        let cidr = |g: &mut Self| {
            if g.rng.random_bool(0.25) {
                "0.0.0.0/0".to_string()
            } else {
                format!("10.{}.0.0/16", g.rng.random_range(0..255))
            }
        };
        let request_id = self.uuid();
        match self.rng.random_range(0..20) {
            0..=11 => {
                let name = *self.pick(&[
                    "AuthorizeSecurityGroupIngress",
                    "RevokeSecurityGroupIngress",
                    "AuthorizeSecurityGroupEgress",
                    "RevokeSecurityGroupEgress",
                ]);
                let rules = self.rng.random_range(1..=2);
                let mut items = Vec::new();
                for r in 0..rules {
                    let ranges: Vec<Value> = (0..self.rng.random_range(1..=2))
                        .map(|_| json!({"cidrIp": cidr(self), "description": "added by trawl-gen"}))
                        .collect();
                    let v6 = if self.rng.random_bool(0.2) {
                        json!({"items": [{"cidrIpv6": "::/0"}]})
                    } else {
                        json!({})
                    };
                    let groups = if r == 1 {
                        json!({"items": [{"groupId": gid(self), "userId": "111122223333"}]})
                    } else {
                        json!({})
                    };
                    let p = if r == 1 { 443 } else { port };
                    items.push(
                        json!({"ipProtocol": "tcp", "fromPort": p, "toPort": p, "groups": groups,
                        "ipRanges": {"items": ranges}, "ipv6Ranges": v6, "prefixListIds": {}}),
                    );
                }
                (
                    name,
                    json!({"groupId": group, "ipPermissions": {"items": items}}),
                    json!({"requestId": request_id, "_return": true}),
                )
            }
            12..=13 => {
                let name = *self.pick(&["RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"]);
                let rule = format!("sgr-0{:016x}", self.rng.random::<u64>());
                (
                    name,
                    json!({"groupId": group, "securityGroupRuleIds": {"items": [{"securityGroupRuleId": rule}]}}),
                    json!({"requestId": request_id, "_return": true}),
                )
            }
            14..=15 => {
                let rule = format!("sgr-0{:016x}", self.rng.random::<u64>());
                let c = cidr(self);
                (
                    "ModifySecurityGroupRules",
                    json!({"ModifySecurityGroupRulesRequest": {"GroupId": group, "SecurityGroupRule": {
                        "SecurityGroupRuleId": rule, "tag": 1,
                        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIpv4": c}}}}),
                    json!({"ModifySecurityGroupRulesResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                        "requestId": request_id, "return": true}}),
                )
            }
            16..=17 => {
                let eni = format!("eni-0{:016x}", self.rng.random::<u64>());
                let other = gid(self);
                (
                    "ModifyNetworkInterfaceAttribute",
                    json!({"networkInterfaceId": eni, "groupSet": {"items": [{"groupId": group}, {"groupId": other}]}}),
                    json!({"requestId": request_id, "_return": true}),
                )
            }
            18 => (
                "CreateSecurityGroup",
                json!({"groupName": "trawl-gen", "groupDescription": "made by trawl-gen", "vpcId": "vpc-0abc"}),
                json!({"requestId": request_id, "_return": true, "groupId": group}),
            ),
            _ => (
                "DeleteSecurityGroup",
                json!({"groupId": group}),
                json!({"requestId": request_id, "_return": true, "groupId": group}),
            ),
        }
    }

    fn uuid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
            (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
            u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
        )
    }

    fn key_id(&mut self, prefix: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let tail: String = (0..16)
            .map(|_| A[self.rng.random_range(0..A.len())] as char)
            .collect();
        format!("{prefix}{tail}")
    }

    fn identity(&mut self, account: &str, kind: u32) -> Value {
        match kind {
            0 => {
                json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"),
                        "accountId": account, "accessKeyId": self.key_id("ASIA")})
            }
            1 => {
                let user = *self.pick(USERS);
                json!({"type": "IAMUser", "principalId": self.key_id("AIDA"), "arn": format!("arn:aws:iam::{account}:user/{user}"),
                       "accountId": account, "accessKeyId": self.key_id("AKIA"), "userName": user})
            }
            2 | 3 => {
                let role = *self.pick(ROLES);
                let user = *self.pick(USERS);
                let rid = self.key_id("AROA");
                json!({"type": "AssumedRole", "principalId": format!("{rid}:{user}"),
                       "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{user}"), "accountId": account,
                       "accessKeyId": self.key_id("ASIA"),
                       "sessionContext": {
                           "sessionIssuer": {"type": "Role", "principalId": rid, "arn": format!("arn:aws:iam::{account}:role/{role}"),
                                             "accountId": account, "userName": role},
                           "webIdFederationData": {},
                           "attributes": {"creationDate": "2024-03-01T00:00:00Z", "mfaAuthenticated": if self.rng.random_bool(0.3) {"true"} else {"false"}}}})
            }
            4 => {
                json!({"type": "AWSService", "invokedBy": *self.pick(&["ec2.amazonaws.com", "lambda.amazonaws.com", "cloudtrail.amazonaws.com"])})
            }
            5 => {
                let user = *self.pick(USERS);
                json!({"type": "FederatedUser", "principalId": format!("{account}:{user}"),
                       "arn": format!("arn:aws:sts::{account}:federated-user/{user}"), "accountId": account,
                       "accessKeyId": self.key_id("ASIA"),
                       "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": self.key_id("AIDA"),
                           "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account, "userName": user},
                           "attributes": {"creationDate": "2024-03-01T00:00:00Z", "mfaAuthenticated": "false"}}})
            }
            6 => {
                json!({"type": "AWSAccount", "principalId": self.key_id("AIDA"), "accountId": "999988887777",
                        "invokedBy": "AWS Internal"})
            }
            _ => {
                let user = *self.pick(USERS);
                json!({"type": "IdentityCenterUser", "accountId": account,
                       "onBehalfOf": {"userId": self.uuid(), "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1234567890"},
                       "credentialId": self.uuid(), "principalId": format!("{user}@example.com")})
            }
        }
    }

    fn event(&mut self, t: DateTime<Utc>) -> Value {
        let account = self.pick(&self.spec.accounts).clone();
        let region = self.pick(&self.spec.regions).clone();
        let roll = self.rng.random_range(0..100u32);
        let roll = if self.spec.benign { roll % 50 } else { roll };
        let ip = (*self.pick(IPS)).to_string();
        let agent = (*self.pick(AGENTS)).to_string();
        let mut ev = json!({
            "eventVersion": "1.09",
            "userIdentity": {},
            "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "",
            "eventName": "",
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
        });
        let (source, name, identity_kind, read_only, params, response, resources, mgmt) = match roll
        {
            0..=29 => {
                let (name, ro) = *self.pick(&[
                    ("GetObject", true),
                    ("PutObject", false),
                    ("HeadObject", true),
                    ("DeleteObject", false),
                ]);
                let bucket = *self.pick(&["logs-archive", "app-assets", "finance-reports"]);
                let key = format!(
                    "data/{}/{}.json",
                    t.format("%Y/%m/%d"),
                    self.rng.random_range(0..10_000)
                );
                (
                    "s3.amazonaws.com",
                    name,
                    *self.pick(&[1, 2, 3, 4]),
                    ro,
                    json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key}),
                    Value::Null,
                    json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                        {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
                    false,
                )
            }
            30..=49 => {
                let name = *self.pick(&[
                    "DescribeInstances",
                    "DescribeSecurityGroups",
                    "DescribeVpcs",
                    "GetCallerIdentity",
                    "ListBuckets",
                    "Decrypt",
                ]);
                let src = match name {
                    "GetCallerIdentity" => "sts.amazonaws.com",
                    "ListBuckets" => "s3.amazonaws.com",
                    "Decrypt" => "kms.amazonaws.com",
                    _ => "ec2.amazonaws.com",
                };
                (
                    src,
                    name,
                    *self.pick(&[1, 2, 3, 4, 5]),
                    true,
                    json!({"maxResults": 1000}),
                    Value::Null,
                    Value::Null,
                    true,
                )
            }
            50..=57 => {
                let success = self.rng.random_bool(0.8);
                let mfa = self.rng.random_bool(0.6);
                let kind = if self.rng.random_bool(0.1) { 0 } else { 1 };
                ev["eventType"] = json!("AwsConsoleSignIn");
                ev["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if mfa {"Yes"} else {"No"}});
                if !success {
                    ev["errorMessage"] = json!("Failed authentication");
                }
                (
                    "signin.amazonaws.com",
                    "ConsoleLogin",
                    kind,
                    false,
                    Value::Null,
                    json!({"ConsoleLogin": if success {"Success"} else {"Failure"}}),
                    Value::Null,
                    true,
                )
            }
            58..=63 => {
                let (name, request, response) = self.security_group_change();
                (
                    "ec2.amazonaws.com",
                    name,
                    *self.pick(&[1, 2, 3]),
                    false,
                    request,
                    response,
                    Value::Null,
                    true,
                )
            }
            64..=71 => {
                let name = *self.pick(&[
                    "RunInstances",
                    "StartInstances",
                    "StopInstances",
                    "TerminateInstances",
                ]);
                let iid = format!("i-0{:016x}", self.rng.random::<u64>());
                (
                    "ec2.amazonaws.com",
                    name,
                    *self.pick(&[1, 2, 3, 4]),
                    false,
                    json!({"instancesSet": {"items": [{"instanceId": iid}]}}),
                    json!({"instancesSet": {"items": [{"instanceId": iid, "currentState": {"code": 16, "name": "running"}}]}}),
                    Value::Null,
                    true,
                )
            }
            72..=79 => {
                let name = *self.pick(&[
                    "CreateUser",
                    "AttachRolePolicy",
                    "CreateAccessKey",
                    "PutRolePolicy",
                    "DeleteUser",
                ]);
                (
                    "iam.amazonaws.com",
                    name,
                    *self.pick(&[0, 1, 2]),
                    false,
                    json!({"userName": *self.pick(USERS), "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
                    Value::Null,
                    Value::Null,
                    true,
                )
            }
            80..=87 => {
                let name = *self.pick(&[
                    "AssumeRole",
                    "AssumeRoleWithSAML",
                    "AssumeRoleWithWebIdentity",
                    "GetSessionToken",
                ]);
                (
                    "sts.amazonaws.com",
                    name,
                    *self.pick(&[1, 4, 7]),
                    true,
                    json!({"roleArn": format!("arn:aws:iam::{account}:role/{}", *self.pick(ROLES)), "roleSessionName": *self.pick(USERS), "durationSeconds": 3600}),
                    json!({"credentials": {"accessKeyId": self.key_id("ASIA"), "expiration": "Mar 1, 2024, 1:00:00 PM"}}),
                    json!([{"ARN": format!("arn:aws:iam::{account}:role/{}", *self.pick(ROLES)), "accountId": account, "type": "AWS::IAM::Role"}]),
                    true,
                )
            }
            _ => {
                let name = *self.pick(&[
                    "CreateBucket",
                    "PutBucketPolicy",
                    "DeleteTrail",
                    "StopLogging",
                    "CreateKey",
                    "GetSecretValue",
                ]);
                let src = match name {
                    "DeleteTrail" | "StopLogging" => "cloudtrail.amazonaws.com",
                    "CreateKey" => "kms.amazonaws.com",
                    "GetSecretValue" => "secretsmanager.amazonaws.com",
                    _ => "s3.amazonaws.com",
                };
                (
                    src,
                    name,
                    *self.pick(&[0, 1, 2, 6]),
                    false,
                    json!({"name": "thing"}),
                    Value::Null,
                    Value::Null,
                    true,
                )
            }
        };
        ev["userIdentity"] = self.identity(&account, identity_kind);
        ev["eventSource"] = json!(source);
        ev["eventName"] = json!(name);
        if self.rng.random_range(0..100) < 7 && name != "ConsoleLogin" {
            let (code, msg) = *self.pick(&[
                (
                    "AccessDenied",
                    "User is not authorized to perform this operation",
                ),
                (
                    "Client.UnauthorizedOperation",
                    "You are not authorized to perform this operation.",
                ),
                ("ThrottlingException", "Rate exceeded"),
                ("NoSuchBucket", "The specified bucket does not exist"),
                ("ValidationException", "1 validation error detected"),
            ]);
            ev["errorCode"] = json!(code);
            ev["errorMessage"] = json!(msg);
        }
        ev["requestParameters"] = params;
        ev["responseElements"] = response;
        ev["requestID"] = json!(self.uuid());
        ev["eventID"] = json!(self.uuid());
        ev["readOnly"] = json!(read_only);
        if !resources.is_null() {
            ev["resources"] = resources;
        }
        if ev.get("eventType").is_none() {
            ev["eventType"] = json!("AwsApiCall");
        }
        ev["managementEvent"] = json!(mgmt);
        ev["recipientAccountId"] = json!(account);
        ev["eventCategory"] = json!(if mgmt { "Management" } else { "Data" });
        if agent != "console.amazonaws.com" {
            ev["tlsDetails"] = json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                      "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))});
        }
        ev
    }
}

/// Event times, sorted: uniform over the days, busier around 14:00 UTC.
fn times(spec: &TrailSpec) -> Vec<DateTime<Utc>> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x7153_7153);
    let span = i64::from(spec.days.max(1)) * 86_400;
    let score = |s: i64| ((s % 86_400) - 14 * 3600).abs();
    let mut secs: Vec<i64> = (0..spec.events)
        .map(|_| {
            let a = rng.random_range(0..span);
            let b = rng.random_range(0..span);
            if rng.random_bool(0.5) && score(b) < score(a) {
                b
            } else {
                a
            }
        })
        .collect();
    secs.sort_unstable();
    secs.into_iter()
        .map(|s| spec.start + Duration::seconds(s))
        .collect()
}

/// The trail's events, in time order.
pub fn records(spec: &TrailSpec) -> impl Iterator<Item = Value> + '_ {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(spec.seed),
        spec,
    };
    times(spec).into_iter().map(move |t| g.event(t))
}

/// What [`write_trail`] wrote.
#[derive(Debug, Clone, Default)]
pub struct TrailStats {
    pub files: usize,
    /// Distinct events (duplicated deliveries counted once).
    pub events: usize,
    /// Events written a second time in another file.
    pub duplicates: usize,
    pub json_bytes: u64,
    pub gz_bytes: u64,
    pub paths: Vec<PathBuf>,
    /// Each file written, as a CloudTrail digest file lists it ([`write_digests`]).
    pub logs: Vec<LogFile>,
}

/// A log file written, with what a digest file says of it.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// The S3 key, relative to the trail's directory (`AWSLogs/...`).
    pub key: String,
    pub account: String,
    pub region: String,
    pub delivered: DateTime<Utc>,
    /// SHA-256 of the decompressed content, lowercase hex ([`TrailSpec::hash_files`]).
    pub sha256: Option<String>,
    pub oldest_event: Option<String>,
    pub newest_event: Option<String>,
}

/// Writes the trail under `dir` in CloudTrail's S3 key layout. Files group events by
/// account, region and delivery time; the key's date is the delivery date, which for
/// events just before midnight is the next day.
pub fn write_trail(dir: &Path, spec: &TrailSpec) -> std::io::Result<TrailStats> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5eed);
    let mut stats = TrailStats::default();
    // Each open file as its events' JSON text: a trail of big files is not held as values.
    let mut open: std::collections::BTreeMap<(String, String), Pending> = Default::default();
    let mut dups = Vec::new();
    let per_file = spec.events_per_file.max(1);
    for ev in records(spec) {
        stats.events += 1;
        if rng.random_bool(spec.duplicate_rate.clamp(0.0, 1.0)) {
            dups.push(ev.clone());
        }
        let key = (
            ev["recipientAccountId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            ev["awsRegion"].as_str().unwrap_or_default().to_string(),
        );
        let buf = open.entry(key.clone()).or_default();
        buf.push(&ev);
        if buf.events >= per_file {
            let chunk = std::mem::take(buf);
            write_file(dir, &key.0, &key.1, chunk, &mut rng, spec, &mut stats)?;
        }
    }
    for ((account, region), chunk) in std::mem::take(&mut open) {
        if chunk.events > 0 {
            write_file(dir, &account, &region, chunk, &mut rng, spec, &mut stats)?;
        }
    }
    // Re-deliver the duplicates, each in a file of its own, as CloudTrail does.
    stats.duplicates = dups.len();
    for dup in dups {
        let account = dup["recipientAccountId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let region = dup["awsRegion"].as_str().unwrap_or_default().to_string();
        let mut one = Pending::default();
        one.push(&dup);
        write_file(dir, &account, &region, one, &mut rng, spec, &mut stats)?;
    }
    Ok(stats)
}

/// The events of a file being filled, as the JSON text of its `Records` members.
#[derive(Default)]
struct Pending {
    text: Vec<u8>,
    events: usize,
    /// The earliest event time.
    first: Option<String>,
    /// The latest event time, for the delivery time.
    last: Option<String>,
}

impl Pending {
    fn push(&mut self, ev: &Value) {
        if self.events > 0 {
            self.text.push(b',');
        }
        serde_json::to_writer(&mut self.text, ev).expect("serialisable");
        self.events += 1;
        if let Some(t) = ev["eventTime"].as_str() {
            if self.last.as_deref().is_none_or(|last| t > last) {
                self.last = Some(t.to_string());
            }
            if self.first.as_deref().is_none_or(|first| t < first) {
                self.first = Some(t.to_string());
            }
        }
    }
}

fn write_file(
    dir: &Path,
    account: &str,
    region: &str,
    chunk: Pending,
    rng: &mut StdRng,
    spec: &TrailSpec,
    stats: &mut TrailStats,
) -> std::io::Result<()> {
    let last = chunk.last.as_deref().unwrap_or("2024-01-01T00:00:00Z");
    let last = DateTime::parse_from_rfc3339(last)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(spec.start);
    let delivered = last + Duration::minutes(rng.random_range(3..15));
    let rel = format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{:016X}.json.gz",
        delivered.format("%Y/%m/%d"),
        delivered.format("%Y%m%dT%H%MZ"),
        rng.random::<u64>()
    );
    let path = dir.join(&rel);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    let mut body = Vec::with_capacity(chunk.text.len() + 14);
    body.extend_from_slice(b"{\"Records\":[");
    body.extend_from_slice(&chunk.text);
    body.extend_from_slice(b"]}");
    stats.logs.push(LogFile {
        key: rel.clone(),
        account: account.to_string(),
        region: region.to_string(),
        delivered,
        sha256: spec.hash_files.then(|| digests::sha256_hex(&body)),
        oldest_event: chunk.first.clone(),
        newest_event: chunk.last.clone(),
    });
    drop(chunk);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&body)?;
    let gz = gz.finish()?;
    std::fs::write(&path, &gz)?;
    stats.files += 1;
    stats.json_bytes += body.len() as u64;
    stats.gz_bytes += gz.len() as u64;
    stats.paths.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_trail() {
        let spec = TrailSpec {
            events: 200,
            ..Default::default()
        };
        let a: Vec<Value> = records(&spec).collect();
        let b: Vec<Value> = records(&spec).collect();
        assert_eq!(a, b);
        let other: Vec<Value> = records(&TrailSpec {
            seed: 7,
            ..spec.clone()
        })
        .collect();
        assert_ne!(a, other);
    }

    #[test]
    fn covers_the_dashboard_cases() {
        let spec = TrailSpec {
            events: 3000,
            ..Default::default()
        };
        let all: Vec<Value> = records(&spec).collect();
        let has = |f: &dyn Fn(&Value) -> bool| all.iter().any(f);
        assert!(has(&|e| e["eventName"] == "ConsoleLogin"
            && e["responseElements"]["ConsoleLogin"] == "Failure"));
        assert!(has(
            &|e| e["eventName"] == "ConsoleLogin" && e["additionalEventData"]["MFAUsed"] == "No"
        ));
        assert!(has(&|e| e["userIdentity"]["type"] == "Root"));
        assert!(has(&|e| e["eventName"] == "AuthorizeSecurityGroupIngress"
            && e["requestParameters"].to_string().contains("0.0.0.0/0")));
        assert!(has(&|e| e["errorCode"] == "AccessDenied"));
        assert!(has(
            &|e| e["eventCategory"] == "Data" && e["resources"].is_array()
        ));
        for t in [
            "IAMUser",
            "AssumedRole",
            "AWSService",
            "FederatedUser",
            "AWSAccount",
            "IdentityCenterUser",
        ] {
            assert!(
                has(&|e| e["userIdentity"]["type"] == t),
                "identity type {t}"
            );
        }
    }
}
