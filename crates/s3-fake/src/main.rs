//! `trawl-s3-fake --root DIR [--port P] [--latency-ms MS]`: serves the buckets under DIR
//! (one directory each) over the S3 protocol on loopback, for benchmarks. Prints the
//! endpoint on stdout, then serves until killed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Parser)]
struct Opt {
    /// Directory whose subdirectories are the buckets.
    #[arg(long)]
    root: PathBuf,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

fn main() -> anyhow::Result<std::convert::Infallible> {
    let opt = Opt::parse();
    let faults = trawl_s3_fake::Faults {
        latency: Duration::from_millis(opt.latency_ms),
        ..Default::default()
    };
    let server = trawl_s3_fake::FakeS3::start(&opt.root, opt.port, faults)?;
    println!("{}", server.endpoint());
    // Serve until killed (the benchmark script ends us by PID); report connections and
    // requests on stderr every few seconds when asked to.
    let report = std::env::var_os("TRAWL_FAKE_STATS").is_some();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        if report {
            let c = server.counters();
            eprintln!(
                "connections {} lists {} gets {}",
                c.connections(),
                c.lists(),
                c.gets()
            );
        }
    }
}
