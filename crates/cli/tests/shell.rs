//! `trawl sql` with no SQL on a terminal: the shell, driven in a pseudo-terminal as a
//! person would: type, complete, cancel, quit.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::process::Command;

use trawl_testkit::stderr;

fn trawl(args: &[&str]) -> std::process::Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

/// What the line editor prints when it starts reading a line (bracketed paste on), once per
/// line however often it redraws the prompt.
const READY: &str = "\u{1b}[?2004h";

/// Waits until the shell reads a line, then types `line` and Enter, as a person waits for
/// the prompt (input typed while a statement runs is not reliably kept by the editor).
fn ask(p: &mut rexpect::session::PtySession, line: &str) {
    p.exp_string(READY).unwrap();
    p.send_line(line).unwrap();
}

#[test]
fn a_person_types_completes_cancels_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 3_000,
        days: 2,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(&["ingest", "--lake", &lake, trail.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let history = dir.path().join("history");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trawl"));
    cmd.args(["sql", "--lake", &lake])
        .env("TRAWL_HISTORY", &history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env_remove("TRAWL_LAKE");
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    p.exp_string("\\q to quit").unwrap();

    // A statement over two lines, ended by `;`.
    ask(&mut p, "SELECT count(*) AS n");
    p.send_line("FROM cloudtrail_logs;").unwrap();
    p.exp_string("3000").unwrap();
    p.exp_string("1 row in").unwrap();

    // Tab completes a struct field's path and a function name.
    p.exp_string(READY).unwrap();
    p.send("SELECT useridentity.sessionc").unwrap();
    p.send("\t").unwrap();
    p.send(".sessionissuer.usern").unwrap();
    p.send("\t").unwrap();
    p.send(" AS who, approx_disti").unwrap();
    p.send("\t").unwrap();
    p.send_line("(eventname) AS d FROM cloudtrail_logs GROUP BY 1 ORDER BY 1 LIMIT 1;")
        .unwrap();
    // The line as completed (a name the query could not resolve would end in `error:`, not
    // in a row).
    p.exp_string("useridentity.sessioncontext.sessionissuer.username")
        .unwrap();
    p.exp_string("1 row in").unwrap();

    // Ctrl-C cancels a long query (a hundred billion rows), its work stops, and the shell
    // goes on. (Short enough not to wrap on an 80-column terminal: its echo is matched.)
    ask(
        &mut p,
        "SELECT sum(value % 7) FROM generate_series(1, 100000000000);",
    );
    // Once the line is read (the editor leaves raw mode, where Ctrl-C only clears the line).
    p.exp_string("000);").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').unwrap();
    if let Err(e) = p.exp_string("cancelled") {
        panic!("no `cancelled` after Ctrl-C: {e}");
    }
    let asked = std::time::Instant::now();
    ask(&mut p, "SELECT 2 AS two;");
    p.exp_string("| 2 ").unwrap();
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(20),
        "the next statement waited {:?}: the cancelled one still ran",
        asked.elapsed()
    );

    // Commands: tables, describe, stats, format.
    ask(&mut p, ".tables");
    p.exp_string("cloudtrail_logs").unwrap();
    ask(&mut p, "\\d cloudtrail_logs");
    p.exp_string("useridentity").unwrap();
    ask(&mut p, "\\stats");
    p.exp_string("stats on").unwrap();
    ask(&mut p, ".format csv");
    ask(
        &mut p,
        "SELECT eventname FROM cloudtrail_logs WHERE eventtime >= '2024-03-02' LIMIT 2;",
    );
    p.exp_string("eventname").unwrap();
    p.exp_string("partitions 1 of 2 (2024-03-02)").unwrap();
    p.exp_string("Athena estimate").unwrap();
    ask(&mut p, "SELECT nosuchcolumn FROM cloudtrail_logs;");
    p.exp_string("error:").unwrap();
    ask(&mut p, "\\q");
    p.exp_eof().unwrap();

    // The history keeps each statement, the multi-line one as typed.
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("FROM cloudtrail_logs;"), "{h}");
    assert!(h.contains(".tables"), "{h}");
}
