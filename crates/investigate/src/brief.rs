//! The main request parameters of an event in a few words, per event family: what an
//! analyst reads on a timeline line before drilling into the full JSON by event id.

use serde_json::Value;

/// At most this many characters of a brief (cut at a character boundary, `…` appended).
const MAX_CHARS: usize = 160;

/// The brief of an event from `eventsource`, `eventname` and its `requestParameters` JSON.
pub fn brief(source: &str, name: &str, request: Option<&str>) -> String {
    let Some(params) = request.and_then(|r| serde_json::from_str::<Value>(r).ok()) else {
        return String::new();
    };
    let text = match source {
        "s3.amazonaws.com" => s3(&params),
        "ec2.amazonaws.com" if name.contains("SecurityGroup") => security_group(&params),
        "sts.amazonaws.com" => sts(&params),
        "iam.amazonaws.com" => pick(
            &params,
            &[
                "userName",
                "roleName",
                "groupName",
                "policyArn",
                "accessKeyId",
            ],
        ),
        _ => None,
    }
    .unwrap_or_else(|| scalars(&params));
    cut(text)
}

fn cut(text: String) -> String {
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// A member's value as text: strings as they are, other scalars as JSON.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// `key=value` of the named members present, in that order.
fn pick(params: &Value, keys: &[&str]) -> Option<String> {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| Some(format!("{k}={}", scalar(params.get(*k)?)?)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// `s3://bucket/key` (or the bucket alone).
fn s3(params: &Value) -> Option<String> {
    let bucket = params.get("bucketName").and_then(scalar)?;
    Some(match params.get("key").and_then(scalar) {
        Some(key) => format!("s3://{bucket}/{key}"),
        None => format!("s3://{bucket}"),
    })
}

/// The group, and each rule as `protocol ports from` (`tcp 22 0.0.0.0/0`).
fn security_group(params: &Value) -> Option<String> {
    let group = params
        .get("groupId")
        .or_else(|| params.get("groupName"))
        .and_then(scalar)?;
    let mut rules = Vec::new();
    let items = params
        .pointer("/ipPermissions/items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in &items {
        let proto = p.get("ipProtocol").and_then(scalar).unwrap_or_default();
        let proto = if proto == "-1" {
            "all".to_string()
        } else {
            proto
        };
        let ports = match (
            p.get("fromPort").and_then(scalar),
            p.get("toPort").and_then(scalar),
        ) {
            (Some(a), Some(b)) if a == b => a,
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => String::new(),
        };
        let mut from: Vec<String> = Vec::new();
        for (list, key) in [
            ("/ipRanges/items", "cidrIp"),
            ("/ipv6Ranges/items", "cidrIpv6"),
            ("/groups/items", "groupId"),
        ] {
            for r in p
                .pointer(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                from.extend(r.get(key).and_then(scalar));
            }
        }
        let rule = [proto, ports, from.join(",")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        rules.push(rule);
    }
    Some(if rules.is_empty() {
        group
    } else {
        format!("{group} {}", rules.join("; "))
    })
}

/// The role (or federated user) asked for, and the session name.
fn sts(params: &Value) -> Option<String> {
    pick(
        params,
        &[
            "roleArn",
            "roleSessionName",
            "principalArn",
            "name",
            "sourceIdentity",
        ],
    )
}

/// Up to three top-level scalar members.
fn scalars(params: &Value) -> String {
    params
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", scalar(v)?)))
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_reads_its_main_parameters() {
        let b = |s: &str, n: &str, p: &str| brief(s, n, Some(p));
        assert_eq!(
            b(
                "s3.amazonaws.com",
                "GetObject",
                r#"{"bucketName":"logs","key":"a/b.txt","Host":"x"}"#
            ),
            "s3://logs/a/b.txt"
        );
        assert_eq!(
            b(
                "s3.amazonaws.com",
                "ListObjects",
                r#"{"bucketName":"logs"}"#
            ),
            "s3://logs"
        );
        assert_eq!(
            b(
                "ec2.amazonaws.com",
                "AuthorizeSecurityGroupIngress",
                r#"{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}},{"ipProtocol":"-1","groups":{"items":[{"groupId":"sg-2"}]}}]}}"#
            ),
            "sg-1 tcp 22 0.0.0.0/0; all sg-2"
        );
        assert_eq!(
            b(
                "sts.amazonaws.com",
                "AssumeRole",
                r#"{"roleArn":"arn:aws:iam::1:role/Admin","roleSessionName":"bob","durationSeconds":900}"#
            ),
            "roleArn=arn:aws:iam::1:role/Admin roleSessionName=bob"
        );
        assert_eq!(
            b(
                "iam.amazonaws.com",
                "CreateAccessKey",
                r#"{"userName":"eve"}"#
            ),
            "userName=eve"
        );
        // Other services: the first three scalar members.
        assert_eq!(
            b(
                "kms.amazonaws.com",
                "Decrypt",
                r#"{"keyId":"k","n":1,"o":{"x":1},"t":true,"z":2}"#
            ),
            "keyId=k n=1 t=true"
        );
        assert_eq!(brief("s3.amazonaws.com", "GetObject", None), "");
        assert_eq!(brief("s3.amazonaws.com", "GetObject", Some("not json")), "");
        let long = format!(r#"{{"bucketName":"{}"}}"#, "b".repeat(400));
        assert_eq!(
            brief("s3.amazonaws.com", "x", Some(&long)).chars().count(),
            MAX_CHARS + 1
        );
    }
}
