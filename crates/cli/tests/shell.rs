//! `trawl sql` with no SQL on a terminal: the shell, driven in a pseudo-terminal as a
//! person would: type, complete, cancel, quit.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::process::Command;

use trawl_testkit::stderr;

fn trawl(args: &[&str]) -> std::process::Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
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
    p.exp_string("trawl> ").unwrap();

    // A statement over two lines, ended by `;`.
    p.send_line("SELECT count(*) AS n").unwrap();
    p.send_line("FROM cloudtrail_logs;").unwrap();
    p.exp_string("3000").unwrap();
    p.exp_string("1 row in").unwrap();

    // Tab completes a struct field's path and a function name.
    p.send("SELECT useridentity.sessionc").unwrap();
    p.send("\t").unwrap();
    p.send(".sessionissuer.usern").unwrap();
    p.send("\t").unwrap();
    p.send(" AS who, approx_disti").unwrap();
    p.send("\t").unwrap();
    p.send_line("(eventname) AS d FROM cloudtrail_logs GROUP BY 1 ORDER BY 1 LIMIT 1;")
        .unwrap();
    p.exp_string("who").unwrap();
    p.exp_string("1 row in").unwrap();

    // Ctrl-C cancels a long query and the shell goes on.
    // (Joins of hundreds of millions of rows, which yield between batches.)
    p.send_line(
        "SELECT count(*) FROM cloudtrail_logs a JOIN cloudtrail_logs b ON a.eventsource = b.eventsource \
         JOIN cloudtrail_logs c ON b.eventsource = c.eventsource WHERE a.eventname <> 'x';",
    )
    .unwrap();
    // Once the line is read (the editor leaves raw mode, where Ctrl-C only clears the line).
    p.exp_string("<> 'x';").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').unwrap();
    if let Err(e) = p.exp_string("cancelled") {
        panic!("no `cancelled` after Ctrl-C: {e}");
    }

    // Commands: tables, describe, stats, format.
    p.send_line(".tables").unwrap();
    p.exp_string("cloudtrail_logs").unwrap();
    p.send_line("\\d cloudtrail_logs").unwrap();
    p.exp_string("useridentity").unwrap();
    p.send_line("\\stats").unwrap();
    p.exp_string("stats on").unwrap();
    p.send_line(".format csv").unwrap();
    p.send_line("SELECT eventname FROM cloudtrail_logs WHERE eventtime >= '2024-03-02' LIMIT 2;")
        .unwrap();
    p.exp_string("eventname").unwrap();
    p.exp_string("partitions 1 of 2 (2024-03-02)").unwrap();
    p.exp_string("Athena estimate").unwrap();
    p.send_line("SELECT nosuchcolumn FROM cloudtrail_logs;")
        .unwrap();
    p.exp_string("error:").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();

    // The history keeps each statement, the multi-line one as typed.
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("FROM cloudtrail_logs;"), "{h}");
    assert!(h.contains(".tables"), "{h}");
}
