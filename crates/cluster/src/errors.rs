//! A cluster's errors as a person reads them. Ballista returns them as text: a task's
//! error debug-formatted inside the job's (`Job J failed: ... DataFusionError(Shared(
//! External(DataFusionError(Plan("date_add: unknown unit \"fortnight\"")))))`), and the
//! scheduler's refusals as a gRPC status (`Status { code: .., message: "..", metadata: .. }`).

/// `message` with the cause of a failed job or the text of a refusal taken out.
pub(crate) fn readable(message: &str) -> String {
    if let Some(refused) = status_message(message) {
        return format!("the cluster's scheduler refused the query: {refused}");
    }
    if let Some((job, cause)) = job_failure(message) {
        return format!("on the cluster (job {job}): {cause}");
    }
    if let Some(cause) = fetch_failure(message) {
        return format!(
            "on the cluster: reading the answer from an executor failed ({cause}); an executor \
             may have stopped: run the query again"
        );
    }
    message.to_string()
}

/// The message of a failed read of results from an executor, which comes back as a gRPC
/// status displayed by Arrow Flight (`code: 'Unknown error', message: "h2 protocol error: ..."`).
fn fetch_failure(text: &str) -> Option<String> {
    let at = text.find("code: '")?;
    let rest = &text[at..];
    let start = rest.find("message: \"")? + "message: \"".len();
    quoted(&rest[start..]).map(|(s, _)| s)
}

/// What a transport error says went wrong (`Connection refused`), or its whole text.
pub(crate) fn transport_cause(text: &str) -> String {
    let Some(at) = text.find("message: \"") else {
        return text.to_string();
    };
    quoted(&text[at + "message: \"".len()..]).map_or_else(|| text.to_string(), |(s, _)| s)
}

/// The `message: "..."` of a gRPC status, unescaped.
fn status_message(text: &str) -> Option<String> {
    let start = text.find("Status { code: ")?;
    let rest = &text[start..];
    let at = rest.find("message: \"")? + "message: \"".len();
    quoted(&rest[at..]).map(|(s, _)| s)
}

/// The job's id and the innermost quoted cause of its failure.
fn job_failure(text: &str) -> Option<(String, String)> {
    let start = text.find("Job ")? + "Job ".len();
    let job: String = text[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let rest = &text[start..];
    if !rest[job.len()..].starts_with(" failed") {
        return None;
    }
    // The innermost `("...")`: the last opening quote after a parenthesis.
    let Some(at) = rest.rfind("(\"") else {
        let cause = rest.rsplit(": ").next().unwrap_or(rest);
        return Some((job, cause.to_string()));
    };
    let (cause, _) = quoted(&rest[at + 2..])?;
    Some((job, cause))
}

/// The text of a Rust debug-formatted string that starts at `s` (after its opening
/// quote), unescaped, and what follows its closing quote.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_jobs_cause() {
        let text = r#"Execution error: Job 038HWR7ZWW000 failed: Job failed due to stage 0 failed: Task failed due to runtime execution error: DataFusionError(Shared(External(DataFusionError(Plan("date_add: unknown unit \"fortnight\"; use day")))))"#;
        assert_eq!(
            readable(text),
            r#"on the cluster (job 038HWR7ZWW000): date_add: unknown unit "fortnight"; use day"#
        );
    }

    #[test]
    fn a_refused_plan() {
        let text = r#"Execution error: Status { code: InvalidArgument, message: "Could not parse plan: no field \"x\"\n", metadata: MetadataMap { headers: {} }, source: None }"#;
        assert_eq!(
            readable(text),
            "the cluster's scheduler refused the query: Could not parse plan: no field \"x\"\n"
        );
    }

    #[test]
    fn a_failed_read_of_the_answer() {
        let text = r#"Arrow error: External error: code: 'Unknown error', message: "h2 protocol error: error reading a body from connection", source: hyper::Error(Body, Error { kind: Io(Custom { kind: BrokenPipe, error: "stream closed because of a broken pipe" }) })"#;
        assert_eq!(
            readable(text),
            "on the cluster: reading the answer from an executor failed (h2 protocol error: error \
             reading a body from connection); an executor may have stopped: run the query again"
        );
    }

    #[test]
    fn an_unreachable_scheduler() {
        let text = r#"Execution error: tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:50199, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))"#;
        assert_eq!(transport_cause(text), "Connection refused");
    }

    #[test]
    fn a_job_without_a_quoted_cause_and_other_text() {
        assert_eq!(
            readable("Job 01AB failed: all executors were lost"),
            "on the cluster (job 01AB): all executors were lost"
        );
        assert_eq!(readable("something else"), "something else");
    }
}
