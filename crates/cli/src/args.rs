//! Command-line flags (clap types mirroring the flags) and their resolution into settings.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use trawl_schema::{TimeWindow, parse_instant};

#[derive(Debug, Parser)]
#[command(
    name = "trawl",
    version,
    about = "AWS CloudTrail logs to a local, Athena-compatible Parquet lake, and SQL over it"
)]
pub(crate) struct Cli {
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Ingest CloudTrail logs (files or directory trees) into the lake.
    Ingest(IngestArgs),
    /// Run SQL (Athena/Trino dialect) against the lake's `cloudtrail_logs` table.
    Sql(SqlArgs),
    /// Generate a realistic synthetic trail, ingest it and show a few dashboard answers.
    Demo(DemoArgs),
    /// Write a seeded synthetic trail in CloudTrail's S3 key layout (for tests and benchmarks).
    Generate(GenerateArgs),
    /// Run the CloudTrail dashboards (general-operations, error-overview,
    /// console-login-overview, security-group-modifications, operational-account-activity).
    Report(ReportArgs),
    /// Check the lake: re-read every committed Parquet file against the log (size, checksum,
    /// rows, dedup index), list files no commit names and manifests behind the log. Exit 1 if
    /// a committed file is missing or damaged, or a manifest names a file no commit holds.
    Verify(VerifyArgs),
    /// Serve the dashboards, drill-down and a read-only SQL console as a local web app.
    Serve(ServeArgs),
    /// Validate the lake against CloudTrail's digest files: each digest's signature, the
    /// digest chain, every listed log file's SHA-256, and what no digest covers. Exit 0 when
    /// all is valid, 1 when something failed validation, 2 on error.
    Validate(ValidateArgs),
    /// Rewrite each day's small files into few large ones, sorted by event time, in one atomic
    /// commit (readers and a running ingest stay correct); delete files earlier compactions
    /// replaced once older than --retain.
    Compact(CompactArgs),
    /// Print what Athena, Trino, Spark or DuckDB need to read the lake: the flat table over the
    /// committed files (through the lake's symlink manifests, which it first brings up to date)
    /// and the Athena-shaped `cloudtrail_logs` view.
    Ddl(DdlArgs),
    /// Run every statement of a query set N times on one or more lakes: min, median and max
    /// wall time, rows, bytes scanned and Athena's estimated bill per statement and lake, and
    /// the ratio between lakes; with --baseline, exit 1 naming each statement that got slower.
    Bench(crate::tuning::BenchArgs),
    /// Describe the lake: layout, events, files and bytes, partitions, date range, and the raw
    /// trail it came from.
    Info(crate::tuning::InfoArgs),
    /// A principal's, access key's, IP's, role session's or resource's events in time order, a
    /// line each: outcome, source IP, user agent, the main request parameters in short, and the
    /// event id (docs/investigate.md).
    Timeline(crate::investigate::TimelineArgs),
    /// One row per principal, access key, source IP or account: first and last seen, events,
    /// services, regions, IPs, user agents, errors, access denied, console logins and MFA, top
    /// events; sorted so that a rare or new one stands out (docs/investigate.md).
    Summary(crate::investigate::SummaryArgs),
    /// Evaluate Sigma rules (files or directories of YAML, like SigmaHQ's
    /// rules/cloud/aws/cloudtrail) over the lake: each hit with the rule's title, id, level,
    /// tags and author, the event's time, principal, source IP and id, and the fields that
    /// matched (docs/investigate.md).
    Detect(crate::detect::DetectArgs),
    /// Run a node of a Ballista cluster that runs trawl's queries (`trawl sql --cluster`,
    /// `trawl report --cluster`): the scheduler, or an executor.
    Cluster(crate::cluster::ClusterArgs),
}

/// `--lake`, on the subcommands that read or write a lake.
#[derive(Debug, Clone, Args)]
pub(crate) struct LakeArg {
    /// The lake: a directory, or `s3://bucket/prefix` (several machines may write one lake in
    /// S3 at once).
    #[arg(long, env = "TRAWL_LAKE", default_value = "./trawl-lake")]
    pub lake: PathBuf,
    /// For a lake in S3: the local directory that caches its log and dedup indexes (one
    /// lake per mirror; default: ~/.cache/trawl/mirrors/<bucket>/<prefix>).
    #[arg(long, env = "TRAWL_MIRROR", value_name = "DIR")]
    pub mirror: Option<PathBuf>,
}

/// How to reach a lake in S3, on the subcommands that do not read sources.
#[derive(Debug, Args)]
pub(crate) struct S3Arg {
    /// For a lake in S3: the named profile of the AWS config files (default: the standard
    /// credential chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// For a lake in S3: an S3-compatible endpoint (MinIO, LocalStack...).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

impl S3Arg {
    pub(crate) fn options(&self) -> trawl_s3::S3Options {
        s3_options(&self.profile, &self.endpoint_url)
    }
}

/// How to reach S3 with `--profile` and `--endpoint-url`, the rest by default.
pub(crate) fn s3_options(
    profile: &Option<String>,
    endpoint_url: &Option<String>,
) -> trawl_s3::S3Options {
    trawl_s3::S3Options {
        profile: profile.clone(),
        endpoint_url: endpoint_url.clone(),
        ..trawl_s3::S3Options::default()
    }
}

/// `--geoip`, on the subcommands that answer geolocation questions.
#[derive(Debug, Args)]
pub(crate) struct GeoArg {
    /// MaxMind-format databases (GeoLite2/GeoIP2 City, Country, ASN, or DB-IP Lite; files or
    /// directories of .mmdb) for the geoip_* SQL functions and the geolocation tiles.
    #[arg(long, env = "TRAWL_GEOIP", value_delimiter = ':')]
    pub geoip: Vec<PathBuf>,
}

/// `--memory-limit`, on the subcommands that run queries.
#[derive(Debug, Args)]
pub(crate) struct MemoryArg {
    /// Memory the query session may hold (e.g. 2GiB, 512MiB): sorts, aggregates and joins
    /// spill to a temporary directory beyond it, other operators stop with an error that
    /// names the limit. Default: half of the machine's memory.
    #[arg(long, value_name = "SIZE", env = "TRAWL_MEMORY_LIMIT")]
    pub(crate) memory_limit: Option<bytesize::ByteSize>,
}

impl MemoryArg {
    pub(crate) fn engine(&self) -> trawl_query::EngineOptions {
        trawl_query::EngineOptions {
            memory_limit: self.memory_limit.map(bytes),
            spill_dir: None,
            distributed: None,
        }
    }
}

/// A size flag in bytes (saturating where `usize` is narrower).
pub(crate) fn bytes(size: bytesize::ByteSize) -> usize {
    usize::try_from(size.as_u64()).unwrap_or(usize::MAX)
}

/// What the subcommands that run queries (sql, report, serve) take: the lake, the
/// geolocation databases, the session's memory.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    pub(crate) lake: LakeArg,
    #[command(flatten)]
    pub(crate) s3: S3Arg,
    #[command(flatten)]
    pub(crate) geo: GeoArg,
    #[command(flatten)]
    pub(crate) memory: MemoryArg,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write a new commit log from the data files (for a lake whose log is lost or damaged);
    /// the old log is moved aside, not deleted.
    #[arg(long)]
    pub rebuild_ledger: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    /// Only the days overlapping [since, until) (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    /// Rows a compacted file holds at most; files with fewer than half as many are small.
    /// Memory does not grow with it (files are merged one row group at a time).
    #[arg(long, default_value_t = trawl_lake::compact::DEFAULT_TARGET_ROWS)]
    pub target_rows: usize,
    /// Keep the files compactions replaced this long (e.g. 1h, 0s) for queries that started
    /// before; older ones are deleted.
    #[arg(long, default_value = "1h")]
    pub retain: String,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The engines `trawl ddl` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum DdlEngine {
    Athena,
    Trino,
    Spark,
    Duckdb,
}

#[derive(Debug, Args)]
pub(crate) struct DdlArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    /// The engine whose SQL to print.
    #[arg(long, value_enum)]
    pub engine: DdlEngine,
    /// Where the engine reads the lake (e.g. `s3://bucket/trawl-lake` after copying the
    /// lake there); the manifests are rewritten to name files under it, and later ingests
    /// keep it. Default: the lake's own directory.
    #[arg(long, value_name = "URI")]
    pub location: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// Address to listen on (loopback by default: the lake is not meant for the network).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Allow an --addr other machines can reach. The app has no login: anyone who can
    /// connect reads the whole lake.
    #[arg(long)]
    pub allow_remote: bool,
    /// Sigma rules (files or directories, as `trawl detect --rules`) for the "Detections"
    /// page: each rule's hits over the page's range, the latest 50 linked to their events.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Seconds a SQL console statement may run before it is cancelled.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub sql_timeout: u64,
    /// Rows a SQL console result or CSV download keeps at most.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_rows: usize,
    /// Memory the SQL console's own session may hold (default: a quarter of
    /// --memory-limit), so a heavy console query cannot starve the dashboards.
    #[arg(long, value_name = "SIZE")]
    pub sql_memory_limit: Option<bytesize::ByteSize>,
    /// SQL console statements running at once, at most; more wait for a slot (within
    /// --sql-timeout), then get 503 (try again).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub sql_concurrency: usize,
    /// Seconds a page may take before it is answered 503 and its queries cancelled (more
    /// than --sql-timeout, which answers console statements first).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub request_timeout: u64,
    /// Seconds a client has to send a request's head; slow or idle connections are closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub header_timeout: u64,
    /// Connections open at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// Memory for the dashboard tiles' cached partial answers (per commit of the lake;
    /// least recently used go first). 0 turns the cache off: every page queries the lake.
    #[arg(long, value_name = "BYTES", default_value = "256MiB")]
    pub dashboard_cache: bytesize::ByteSize,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// A dashboard id, or `all`.
    #[arg(default_value = "all")]
    pub dashboard: String,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArg,
    /// Events at or after this time (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// The last period before the lake's newest event (offline data has no "now"):
    /// e.g. 48h, 7d, 30m.
    #[arg(long, conflicts_with = "since")]
    pub last: Option<String>,
    /// Sigma rules (files or directories, as `trawl detect --rules`): add a "Detections"
    /// section, over the given range (all events without one): each rule's hits counted, the
    /// latest 20 listed.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Every event in the lake. Without a range, each dashboard shows its default, as the
    /// block does: the year before the lake's newest event (48 hours for error-overview and
    /// operational-account-activity).
    #[arg(long, conflicts_with_all = ["since", "until", "last"])]
    pub all_time: bool,
    /// The time zone days, hours and weekdays are counted in: an IANA name
    /// (America/Los_Angeles, the block's) or an offset (+05:30).
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,
    /// Only events where COLUMN is VALUE, in every tile; repeat for several (all must hold):
    /// account=111122223333, region=us-east-1, user=alice, eventname=..., group_id=sg-...,
    /// network_interface_id=eni-..., sourceipaddress=..., resource=ARN or bucket or instance id.
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Output: table (terminal), json, or html (one self-contained, printable page with
    /// inline charts).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Table,
    Json,
    Html,
}

fn parse_filter(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(c, v)| (c.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{text}: write COLUMN=VALUE, e.g. group_id=sg-0123abcd"))
}

/// `48h`, `7d`, `30m`, `90s` as a duration.
pub(crate) fn parse_period(flag: &str, text: &str) -> anyhow::Result<chrono::Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{flag} {text}: write a number and a unit, e.g. 48h or 7d"))?;
    Ok(match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        _ => bail!("{flag} {text}: the unit must be s, m, h, d or w (e.g. 48h)"),
    })
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Directory to write `AWSLogs/...` under.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of distinct events.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Generator seed: the same seed gives the same trail.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days the events spread over, from 2024-03-01.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Events per delivered file.
    #[arg(long, default_value_t = 400)]
    pub events_per_file: usize,
    /// Fraction of events delivered a second time in another file.
    #[arg(long, default_value_t = 0.002)]
    pub duplicate_rate: f64,
    /// Also write CloudTrail digest files, one per account, region and hour, signed with the
    /// generator's TEST key; their signatures go to `.s3meta/<key>.json` (served as S3
    /// metadata by `trawl-s3-fake` when --out is a bucket's directory).
    #[arg(long)]
    pub digests: bool,
    /// The bucket the digest files name (the bucket --out is served as).
    #[arg(long, default_value = "trawl-gen-trail")]
    pub bucket: String,
    /// With --digests: write the test key in `aws cloudtrail list-public-keys` form here,
    /// for `trawl validate --public-keys`.
    #[arg(long, value_name = "FILE", requires = "digests")]
    pub public_keys_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// CloudTrail's public keys: the JSON `aws cloudtrail list-public-keys --start-time ...`
    /// prints (repeatable; one file per region the trail delivers from).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Fetch CloudTrail's public keys with its ListPublicKeys API (standard credential
    /// chain, --profile), for each region and the time span of the lake's digests.
    #[arg(long)]
    pub fetch_keys: bool,
    /// With --fetch-keys: also save the keys fetched, in `list-public-keys` form (keep it
    /// with the evidence; later runs can take it with --public-keys).
    #[arg(long, value_name = "FILE", requires = "fetch_keys")]
    pub save_keys: Option<PathBuf>,
    /// Events at or after this time (RFC 3339, or a date meaning midnight UTC): the log files
    /// holding them, and the digests of the hours from here on and of those files.
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Only these accounts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// Only these regions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Also re-read every listed log file at its source (local file or S3 object) and check
    /// it still hashes to what its digest lists. Without it, the hashes recorded at ingest
    /// are checked.
    #[arg(long)]
    pub reread: bool,
    /// For digests the lake read from a local copy (`aws s3 sync` keeps no object metadata):
    /// fetch their signatures from the digest objects in S3 (HEAD), and check them against
    /// the copy's content.
    #[arg(long)]
    pub fetch_signatures: bool,
    /// S3 (--reread, --fetch-signatures) and CloudTrail (--fetch-keys): the named profile of
    /// the AWS config files.
    #[arg(long)]
    pub profile: Option<String>,
    /// S3 (--reread, --fetch-signatures): an S3-compatible endpoint (CloudTrail's is AWS's, or
    /// AWS_ENDPOINT_URL_CLOUDTRAIL).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// table (default) or json: the evidence file, every hour and problem.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Do not keep the result in the lake (`_trawl/custody/validation.json`, which the
    /// report and the web app show as "Log integrity").
    #[arg(long)]
    pub no_save: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ValidateFormat {
    Table,
    Json,
}

/// How the lake's files are laid out (docs/tuning.md, "Layouts"). What is not given stays as
/// the lake has it (its latest files'), or the default for a new lake.
#[derive(Debug, Args)]
pub(crate) struct LayoutArgs {
    /// The directories of the files: `dt` (a directory a day, the default), `dt,account`
    /// (below each day, one per recipientAccountId) or `dt,region` (one per awsRegion). A
    /// filter on that column then skips the other directories.
    #[arg(long, value_name = "dt[,account|,region]")]
    pub partition_by: Option<String>,
    /// Rows of a Parquet row group, at most (default 131072): smaller groups let min/max
    /// statistics skip more of a file, for a larger footer.
    #[arg(long, value_name = "N")]
    pub row_group_rows: Option<usize>,
    /// The columns the rows of each file are sorted by (eventtime is always last, added if
    /// not named), e.g. `eventsource,eventtime`; default `eventtime`. Rows sorted by a
    /// column that queries filter on are pruned by row group.
    #[arg(long, value_name = "COLUMNS")]
    pub sort_by: Option<String>,
}

impl LayoutArgs {
    /// The layout asked for, what is not given as `lake` has it; `None` if nothing is given.
    pub(crate) fn resolve(
        &self,
        lake: &trawl_lake::Lake,
    ) -> anyhow::Result<Option<trawl_lake::LayoutOptions>> {
        if self.partition_by.is_none() && self.row_group_rows.is_none() && self.sort_by.is_none() {
            return Ok(None);
        }
        let base = lake.snapshot()?.layout();
        trawl_lake::LayoutOptions::parse(
            &base,
            self.partition_by.as_deref(),
            self.row_group_rows,
            self.sort_by.as_deref(),
        )
        .map(Some)
        .map_err(anyhow::Error::msg)
    }
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files, directories and S3 URLs (`s3://bucket[/prefix]`), mixed as needed: a
    /// CloudTrail layout (`AWSLogs/...`), or any tree of `.json.gz`/`.json`/`.jsonl` files.
    /// The form of each file is detected by content.
    #[arg(required = true)]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub lake: LakeArg,
    /// Keep events at or after this time (RFC 3339, or a date meaning midnight UTC). In S3,
    /// only delivery days from the day before are listed.
    #[arg(long)]
    pub since: Option<String>,
    /// Keep events before this time (RFC 3339, or a date meaning midnight UTC). In S3, only
    /// delivery days up to the day after are listed.
    #[arg(long)]
    pub until: Option<String>,
    /// S3: only these accounts (comma-separated 12-digit ids).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// S3: only these regions (comma-separated, e.g. us-east-1,eu-west-1).
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Only the K-th of N shares of the objects (K from 1), split by account and region, so
    /// that N processes (on N machines) can share one backfill: `--shard 1/3`, `2/3`, `3/3`,
    /// one after another into a local lake, or at once into an `s3://` lake. An event and its
    /// re-deliveries fall in one share. Objects outside the CloudTrail layout
    /// are shared by file name.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<trawl_ingest::layout::Shard>,
    /// S3 (sources, and an `s3://` lake): the named profile of the AWS config files (default:
    /// the standard credential chain: environment, AWS_PROFILE, SSO, web identity, container
    /// and instance roles).
    #[arg(long)]
    pub profile: Option<String>,
    /// S3 (sources, and an `s3://` lake): an S3-compatible endpoint (MinIO, Ceph,
    /// LocalStack...), addressed path-style (`AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL` are
    /// honoured too).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// S3: send unsigned requests (public buckets).
    #[arg(long)]
    pub no_sign_request: bool,
    /// S3: GET requests in flight at once (default: 64 per core, at least 64).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// S3: attempts per request (throttling, 5xx, timeouts, broken bodies) before the
    /// object is quarantined.
    #[arg(long, default_value_t = 10)]
    pub max_attempts: u32,
    /// Commit at least this often (seconds) while reading, so an interrupted run keeps
    /// what it read.
    #[arg(long, default_value_t = 30.0)]
    pub commit_interval: f64,
    /// Commit every this many MB of rows buffered in memory. Peak memory is about twice this
    /// (the rows buffered and the commit being written) plus the readers' working set and the
    /// dedup index; lower it on a small machine (more, smaller files).
    #[arg(long, value_name = "MB", default_value_t = 64)]
    pub buffer_mb: usize,
    /// EventIDs the dedup index keeps in memory (17-34 bytes each). Beyond, days already
    /// committed are dropped from memory and the eventIDs of the days being written are
    /// spilled to sorted files in the lake's staging directory (slower lookups).
    #[arg(long, value_name = "N", default_value_t = trawl_lake::IngestOptions::default().dedup_events)]
    pub dedup_events: usize,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Then run these Sigma rules (files or directories, as `trawl detect --rules`) over the
    /// events this run committed, and print their hits after the summary (before `--compact`).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub detect: Vec<PathBuf>,
    /// Then compact the days this run wrote to (`trawl compact` over them, keeping replaced
    /// files for the default retention).
    #[arg(long)]
    pub compact: bool,
    /// Fail on the first bad object or record instead of quarantining it.
    #[arg(long)]
    pub strict: bool,
    /// Parser threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Quarantine an object whose text passes this size (e.g. 64GiB; the events before are
    /// kept). Big objects are streamed, so this bounds the time a gzip bomb takes, not memory.
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(trawl_ingest::DEFAULT_MAX_OBJECT_BYTES))]
    pub max_object_bytes: bytesize::ByteSize,
    /// A record (an event, a JSON line) longer than this is not stored: it is quarantined
    /// as a bad record with its first 4 KiB, and the rest of its object is read on.
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(trawl_ingest::DEFAULT_MAX_RECORD_BYTES))]
    pub max_record_bytes: bytesize::ByteSize,
    /// Do not hash the objects read (SHA-256 of each one's decompressed content, kept in
    /// the ledger): `trawl validate` then cannot show they are the files CloudTrail signed.
    #[arg(long)]
    pub no_hash: bool,
    /// Show a progress bar: auto (when stderr is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    pub progress: When,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum When {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The SQL to run (several statements separated by `;`). Without SQL or -f, on a
    /// terminal: an interactive shell (\? for its commands).
    #[arg(conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file (`-` for stdin).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// After each statement, what it cost: wall time, rows, bytes read, partitions, files,
    /// row groups and pages scanned and pruned, and Amazon Athena's estimated bill on the raw
    /// trail and on this lake (docs/tuning.md). On stderr; with `--format json`, each
    /// statement prints `{"rows": [...], "stats": {...}}`.
    #[arg(long)]
    pub stats: bool,
    /// Athena's price per TB scanned, in US dollars, for the estimates of `--stats`.
    #[arg(long, default_value_t = trawl_tuning::DEFAULT_PRICE_PER_TB, value_name = "USD")]
    pub price_per_tb: f64,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArg,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to write the synthetic trail and its lake.
    #[arg(long, default_value = "./trawl-demo")]
    pub dir: PathBuf,
    /// Number of events to generate.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Generator seed: the same seed gives the same trail.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `--since` and `--until` on event time.
#[derive(Debug, Clone, Args)]
pub(crate) struct WindowArgs {
    /// Events at or after this time (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time.
    #[arg(long)]
    pub until: Option<String>,
}

impl WindowArgs {
    pub(crate) fn window(&self) -> anyhow::Result<TimeWindow> {
        window(self.since.as_deref(), self.until.as_deref())
    }
}

/// `--since`/`--until` as a time window (RFC 3339, or a date meaning midnight UTC).
pub(crate) fn window(since: Option<&str>, until: Option<&str>) -> anyhow::Result<TimeWindow> {
    let end = |flag: &str, text: Option<&str>| -> anyhow::Result<Option<i64>> {
        text.map(|t| parse_instant(t).map_err(|e| anyhow::anyhow!("--{flag} {e}")))
            .transpose()
    };
    TimeWindow::new(end("since", since)?, end("until", until)?)
        .map_err(|e| anyhow::anyhow!("--since and --until: {e}"))
}

/// Reads the SQL of `trawl sql`.
pub(crate) fn sql_text(args: &SqlArgs) -> anyhow::Result<String> {
    match (&args.sql, &args.file) {
        (Some(sql), _) => Ok(sql.clone()),
        (None, Some(f)) if f.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("reading SQL from stdin")
        }
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading SQL file {}", f.display()))
        }
        (None, None) => bail!(
            "give the SQL as an argument or with -f FILE (-f - reads stdin); on a terminal, `trawl sql` alone opens a shell"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_flags() {
        let cases = [
            ("2024-03-01", Some(1_709_251_200_000_000)),
            ("2024-03-01T00:00:00Z", Some(1_709_251_200_000_000)),
            ("2024-03-01T01:00:00+01:00", Some(1_709_251_200_000_000)),
            ("yesterday", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                window(Some(input), None).ok().and_then(|w| w.since),
                want,
                "{input}"
            );
        }
        let err = window(Some("yesterday"), None).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "--since \"yesterday\" is neither an RFC 3339 time (2024-03-01T12:00:00Z) nor a date (2024-03-01)"
        );
        assert!(window(Some("2024-03-02"), Some("2024-03-01")).is_err());
    }
}
