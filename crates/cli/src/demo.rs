//! `trawl demo`: a synthetic trail, ingested, with a few dashboard-style answers.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use trawl_gen::TrailSpec;
use trawl_lake::Lake;

use crate::args::{DemoArgs, Format, When};
use crate::render;

/// The questions the demo answers, as Athena-style SQL.
pub(crate) const QUESTIONS: &[(&str, &str)] = &[
    (
        "Top 10 events",
        "SELECT eventname, count(*) AS events FROM cloudtrail_logs GROUP BY eventname ORDER BY events DESC, eventname LIMIT 10",
    ),
    (
        "Console logins per user (failed = responseElements.ConsoleLogin 'Failure')",
        "SELECT coalesce(useridentity.username, useridentity.type) AS user, \
         count_if(json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success') AS successful, \
         count_if(json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure') AS failed, count(*) AS total \
         FROM cloudtrail_logs WHERE eventname = 'ConsoleLogin' GROUP BY 1 ORDER BY total DESC, user LIMIT 10",
    ),
    (
        "Security group rules opened to 0.0.0.0/0",
        "SELECT eventtime, eventname, useridentity.arn AS who, sourceipaddress \
         FROM cloudtrail_logs WHERE eventname LIKE '%SecurityGroup%' AND requestparameters LIKE '%\"0.0.0.0/0\"%' \
         ORDER BY eventtime DESC LIMIT 5",
    ),
    (
        "Root activity",
        "SELECT eventname, count(*) AS events FROM cloudtrail_logs WHERE useridentity.type = 'Root' GROUP BY 1 ORDER BY events DESC, eventname LIMIT 5",
    ),
    (
        "Top error codes",
        "SELECT errorcode, count(*) AS events FROM cloudtrail_logs WHERE errorcode IS NOT NULL GROUP BY 1 ORDER BY events DESC, errorcode LIMIT 5",
    ),
];

pub(crate) fn run(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let trail_dir = a.dir.join("trail");
    let spec = TrailSpec {
        seed: a.seed,
        events: a.events,
        days: 14,
        ..TrailSpec::default()
    };
    let mut err = std::io::stderr();
    if !trail_dir.exists() {
        writeln!(
            err,
            "writing a synthetic trail of {} events to {} ...",
            a.events,
            trail_dir.display()
        )?;
        let stats = trawl_gen::write_trail(&trail_dir, &spec)
            .with_context(|| format!("writing {}", trail_dir.display()))?;
        // The worked example of docs/investigate.md: a small intrusion, mid-trail.
        let story = spec.start
            + chrono::Duration::days(i64::from(spec.days / 2))
            + chrono::Duration::hours(13);
        trawl_gen::story::write_intrusion(&trail_dir, story, &spec.accounts[0])
            .with_context(|| format!("writing {}", trail_dir.display()))?;
        writeln!(
            err,
            "  {} files, {:.1} MB of JSON, {} re-delivered events",
            stats.files,
            stats.json_bytes as f64 / 1e6,
            stats.duplicates
        )?;
    } else {
        writeln!(
            err,
            "reusing the trail in {} (delete it to regenerate)",
            trail_dir.display()
        )?;
    }
    let lake = Lake::create(a.dir.join("lake"))?;
    // Read as `trawl ingest` reads it.
    let sources = trawl_s3::SourceSpec {
        sources: vec![trail_dir.display().to_string()],
        exclude: Some(lake.root().to_path_buf()),
        ..trawl_s3::SourceSpec::default()
    }
    .open(&|_| {})?;
    let bar = crate::Bar::new(When::Auto);
    let summary = lake
        .ingest(sources.listing)
        .fetch(&sources.fetch)
        .progress(&bar)
        .run()?;
    bar.bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    render::write_summary(&mut out, &summary)?;
    let rt = trawl_query::query_runtime()?;
    let engine = rt.block_on(trawl_query::QueryEngine::open(&lake))?;
    for (title, sql) in QUESTIONS {
        writeln!(out, "\n{title}")?;
        let results = rt.block_on(engine.run(sql))?;
        for r in results {
            render::write_result(&mut out, Format::Table, &r.batches, &r.schema)?;
        }
    }
    let root = lake.root().display();
    writeln!(
        out,
        "\nNext:\n  trawl sql --lake {root} \"SELECT eventsource, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC\"\n  \
         trawl report all --lake {root} --format html --out report.html\n  \
         trawl serve --lake {root}          # the dashboards at http://127.0.0.1:8080/\n  \
         trawl summary --lake {root} --by ip  # the rare addresses first: {ip} is the intruder\n  \
         trawl timeline --lake {root} --ip {ip}\n  \
         trawl detect --lake {root} --rules PATH/TO/sigma/rules/cloud/aws/cloudtrail",
        ip = trawl_gen::story::INTRUDER_IP
    )?;
    Ok(crate::exit(summary.is_clean()))
}
