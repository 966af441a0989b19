//! Dashboard tiles answered from cached partial answers, exactly.
//!
//! A lake grows by commits, and a commit's files never change (a compaction, which removes
//! files, starts a new era of the lake: partials are kept per era), so a tile's
//! [`Rollup::partial`] over the files of commits `a..=b` is computed once and kept. The
//! answer at version `w` merges the partials of a chain of commit spans that covers `1..=w`:
//! a new commit costs a query over its own files, not over the lake. Partials are grouped
//! by `dt` and carry where each group's `eventtime` values lie (`_tmin`, `_tmax`, `_tn`,
//! `_n`), so a time range picks the groups that lie wholly inside it and drops those wholly
//! outside; the days that hold a group that straddles one of its ends are queried directly
//! with the range itself. Every answer is the tile's own query's answer (the tests compare
//! them), from one snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use trawl_query::{QueryEngine, QueryError, StatementResult};

use crate::Range;
use crate::dashboards::Rollup;

mod scoped;
pub use scoped::Scoped;

/// Spans a chain may have before they are merged into one span over every commit (from the
/// partials alone, no query of the lake), so a page merges a few partials, not one a commit.
const MAX_SPANS: usize = 8;

/// Most events a filtered dashboard reads into memory once for all its tiles' partials of a
/// commit span; a filter that keeps more has each tile query the lake, as without a filter.
pub const SCOPED_ROWS: usize = 1_000_000;

/// Most bytes of events a filtered dashboard reads into memory for one commit span (the
/// read stops there, and each tile queries the lake).
pub const SCOPED_READ_BYTES: usize = 64 << 20;

/// Bytes of filtered dashboards' events kept at once for their tiles (more are read again).
const SCOPED_BYTES: u64 = 128 << 20;

/// Commit spans `(first, last)`, in order.
type Spans = BTreeSet<(u64, u64)>;

/// The events of a commit span a filtered dashboard reads once: (dashboard, scope, first,
/// last).
type RowsKey = (&'static str, String, u64, u64);

/// What a partial answer is of.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Key {
    tile: &'static str,
    /// What the partial is of besides its tile and span: the filters' predicate (`TRUE`
    /// without any), and the zone of the buckets when not UTC.
    scope: String,
    span: Span,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
enum Span {
    /// The files of commits `first..=last`, whatever the range.
    Commits(u64, u64),
    /// Snapshot `version` under the range `predicate` (which names the days it reads).
    Edge { version: u64, predicate: String },
}

#[derive(Debug)]
struct Partial {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Partial {
    fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }
}

/// The cache of partial answers a `trawl serve` keeps, bounded in bytes, with one
/// computation per partial however many requests want it at once.
pub struct TileCache {
    partials: moka::future::Cache<Key, Arc<Partial>>,
    /// The commit spans cached for each (tile, scope): where chains can start.
    spans: Mutex<HashMap<(&'static str, String), Spans>>,
    /// Sessions over the files of commit spans, by span and the era of the snapshot
    /// ([`QueryEngine::rewritten_at`]).
    engines: moka::future::Cache<(u64, u64, u64), Arc<QueryEngine>>,
    /// The events filtered dashboards read, while their tiles use them (`None`: more than
    /// [`TileCache::scoped_rows`]).
    rows: moka::future::Cache<RowsKey, Option<Arc<Partial>>>,
    /// Most events a filtered dashboard reads into memory ([`SCOPED_ROWS`]).
    scoped_rows: usize,
    /// Most bytes of them ([`SCOPED_READ_BYTES`]).
    scoped_bytes: usize,
    /// Partials of commit spans computed so far.
    computed: AtomicU64,
    /// Partials of the days across a range's ends computed so far.
    edges: AtomicU64,
    /// Reads of a filtered dashboard's events from the lake so far.
    scoped_reads: AtomicU64,
    /// Partials computed from a filtered dashboard's events in memory so far.
    from_events: AtomicU64,
    /// Partial queries of the lake running at once, at most: each holds its batches and
    /// hash tables, and more than the cores can run only share them.
    running: tokio::sync::Semaphore,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache")
            .field("entries", &self.partials.entry_count())
            .field("bytes", &self.partials.weighted_size())
            .finish_non_exhaustive()
    }
}

fn shared(e: Arc<QueryError>) -> QueryError {
    Arc::try_unwrap(e).unwrap_or_else(|e| QueryError::Execution(e.to_string()))
}

impl TileCache {
    /// A cache holding at most `max_bytes` of partial answers (least recently used go).
    pub fn new(max_bytes: u64) -> TileCache {
        TileCache {
            partials: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, p: &Arc<Partial>| u32::try_from(p.bytes()).unwrap_or(u32::MAX))
                .build(),
            spans: Mutex::new(HashMap::new()),
            // Used by the tiles of the pages that want the same span, then let go.
            engines: moka::future::Cache::builder()
                .max_capacity(8)
                .time_to_idle(std::time::Duration::from_secs(30))
                .build(),
            // Kept while the tiles of the pages that asked for them compute their partials.
            rows: moka::future::Cache::builder()
                .max_capacity(SCOPED_BYTES)
                .weigher(|_, p: &Option<Arc<Partial>>| {
                    p.as_ref()
                        .map_or(1, |p| u32::try_from(p.bytes()).unwrap_or(u32::MAX))
                })
                .time_to_idle(std::time::Duration::from_secs(10))
                .build(),
            scoped_rows: SCOPED_ROWS,
            scoped_bytes: SCOPED_READ_BYTES,
            computed: AtomicU64::new(0),
            edges: AtomicU64::new(0),
            scoped_reads: AtomicU64::new(0),
            from_events: AtomicU64::new(0),
            running: tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// This cache, reading at most `rows` events of a filtered dashboard into memory (0:
    /// every tile queries the lake).
    pub fn with_scoped_rows(mut self, rows: usize) -> TileCache {
        self.scoped_rows = rows;
        self
    }

    /// This cache, reading at most `bytes` of a filtered dashboard's events into memory.
    pub fn with_scoped_bytes(mut self, bytes: usize) -> TileCache {
        self.scoped_bytes = bytes;
        self
    }

    /// How many partial answers of commit spans were computed (not found in the cache).
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// How many partials of the days across a range's ends were computed (not found in the
    /// cache).
    pub fn edges(&self) -> u64 {
        self.edges.load(Ordering::Relaxed)
    }

    /// How many times a filtered dashboard's events were read from the lake.
    pub fn scoped_reads(&self) -> u64 {
        self.scoped_reads.load(Ordering::Relaxed)
    }

    /// How many partials were computed from a filtered dashboard's events in memory.
    pub fn from_events(&self) -> u64 {
        self.from_events.load(Ordering::Relaxed)
    }

    /// Bytes of partial answers held (after pending evictions run).
    pub async fn bytes(&self) -> u64 {
        self.partials.run_pending_tasks().await;
        self.partials.weighted_size()
    }

    /// The commit spans whose partials make up a chain over `1..=version`: the longest
    /// cached span at each step, then one new span for the rest.
    fn chain(&self, tile: &'static str, scope: &str, version: u64) -> Vec<(u64, u64)> {
        let mut spans = self
            .spans
            .lock()
            .expect("the span index lock is never poisoned");
        let set = spans.entry((tile, scope.to_string())).or_default();
        let mut out = Vec::new();
        let mut pos = 1;
        while pos <= version {
            let cached = set
                .range((pos, pos)..=(pos, version))
                .rev()
                .find(|&&(first, last)| {
                    self.partials.contains_key(&Key {
                        tile,
                        scope: scope.to_string(),
                        span: Span::Commits(first, last),
                    })
                })
                .copied();
            match cached {
                Some((_, last)) => {
                    out.push((pos, last));
                    pos = last + 1;
                }
                None => {
                    out.push((pos, version));
                    break;
                }
            }
        }
        // Spans evicted from the cache are forgotten.
        set.retain(|&(first, last)| {
            self.partials.contains_key(&Key {
                tile,
                scope: scope.to_string(),
                span: Span::Commits(first, last),
            })
        });
        out
    }

    /// A session over the files of commits `first..=last` of `engine`'s snapshot (the
    /// engine itself when that is all of them).
    async fn engine_for(
        &self,
        engine: &QueryEngine,
        first: u64,
        last: u64,
    ) -> Result<Option<Arc<QueryEngine>>, QueryError> {
        if first <= 1 && last >= engine.version() {
            return Ok(None);
        }
        let e = self
            .engines
            .try_get_with((first, last, engine.rewritten_at()), async {
                engine.commits(first, last).await.map(Arc::new)
            })
            .await
            .map_err(shared)?;
        Ok(Some(e))
    }

    /// Notes that the partial of a commit span is cached, so chains can start there.
    fn remember(&self, tile: &'static str, scope: &str, span: (u64, u64)) {
        self.spans
            .lock()
            .expect("the span index lock is never poisoned")
            .entry((tile, scope.to_string()))
            .or_default()
            .insert(span);
    }

    /// The events of commits `first..=last` that `filter` keeps, with the columns `scoped`
    /// names, read once for all the dashboard's tiles; `None` when there are more than
    /// [`TileCache::scoped_rows`] of them.
    async fn scoped_events(
        &self,
        engine: &QueryEngine,
        scoped: &Scoped,
        scope: &str,
        filter: &str,
        (first, last): (u64, u64),
    ) -> Result<Option<Arc<Partial>>, QueryError> {
        let key = (scoped.dashboard, scope.to_string(), first, last);
        self.rows
            .try_get_with(key, async {
                if self.scoped_rows == 0 {
                    return Ok(None);
                }
                self.scoped_reads.fetch_add(1, Ordering::Relaxed);
                let only = scoped
                    .predicate
                    .map(|p| format!(" AND ({p})"))
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT {} FROM {} WHERE {filter}{only} LIMIT {}",
                    scoped.columns.join(", "),
                    trawl_query::TABLE,
                    self.scoped_rows + 1
                );
                let asked = std::time::Instant::now();
                let _slot = self.slot().await;
                let started = std::time::Instant::now();
                let events = engine.run_within(&sql, self.scoped_bytes).await?;
                timed(
                    scoped.dashboard,
                    "its events",
                    (first, last),
                    asked,
                    started,
                );
                let Some(events) = events else {
                    return Ok(None);
                };
                let n: usize = events.batches.iter().map(RecordBatch::num_rows).sum();
                (n <= self.scoped_rows)
                    .then(|| partial_of(events))
                    .transpose()
            })
            .await
            .map_err(shared)
    }

    /// A turn to query the lake.
    async fn slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.running
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// The tile's answer over `range` at `engine`'s snapshot, from partials.
    pub async fn answer(
        &self,
        engine: &QueryEngine,
        tile: &'static str,
        rollup: &Rollup,
        range: &Range,
        scoped: Option<&Scoped>,
    ) -> Result<StatementResult, QueryError> {
        let filter = range.filter_predicate();
        let scoped = scoped.filter(|_| !range.filters.is_empty());
        // Partials differ by filter, by the zone their buckets are in, and by the era of the
        // snapshot: a compaction removes files of earlier commits, so spans cached before it
        // no longer describe the lake.
        let scope = match &range.zone {
            None => filter.clone(),
            Some(z) => format!("{filter} @ {z}"),
        };
        let scope = match engine.rewritten_at() {
            0 => scope,
            r => format!("{scope} # rewritten at {r}"),
        };
        let zoned = Rollup {
            partial: crate::dashboards::zoned(&rollup.partial, range.zone.as_deref()),
            merge: rollup.merge.clone(),
            keys: rollup.keys,
        };
        let rollup = &zoned;
        let version = engine.version();
        let mut parts = Vec::new();
        for (first, last) in self.chain(tile, &scope, version) {
            let key = Key {
                tile,
                scope: scope.clone(),
                span: Span::Commits(first, last),
            };
            let part = self
                .partials
                .try_get_with(key, async {
                    self.computed.fetch_add(1, Ordering::Relaxed);
                    let asked = std::time::Instant::now();
                    let sub = self.engine_for(engine, first, last).await?;
                    let sub = sub.as_deref().unwrap_or(engine);
                    // The tile's own query over the events the filters keep: only when it
                    // reads the table in FROM clauses alone (a table named elsewhere would
                    // read the lake unfiltered).
                    let in_memory = rollup
                        .partial
                        .replace("{range}", "TRUE")
                        .replace(&format!("FROM {}", trawl_query::TABLE), "FROM {partial}");
                    if let Some(s) = scoped
                        && !in_memory.contains(trawl_query::TABLE)
                        && let Some(events) = self
                            .scoped_events(sub, s, &scope, &filter, (first, last))
                            .await?
                    {
                        let _slot = self.slot().await;
                        let started = std::time::Instant::now();
                        self.from_events.fetch_add(1, Ordering::Relaxed);
                        let part = partial_of(
                            engine
                                .run_on(&in_memory, events.schema.clone(), events.batches.clone())
                                .await?,
                        );
                        timed(tile, "from events", (first, last), asked, started);
                        return part;
                    }
                    let sql = rollup.partial.replace("{range}", &filter);
                    let _slot = self.slot().await;
                    let started = std::time::Instant::now();
                    let part = run_partial(sub, &sql).await;
                    timed(tile, "from the lake", (first, last), asked, started);
                    part
                })
                .await
                .map_err(shared)?;
            self.remember(tile, &scope, (first, last));
            parts.push(part);
        }
        // A long chain is merged into one span over every commit, from the partials alone.
        if parts.len() > MAX_SPANS {
            let key = Key {
                tile,
                scope: scope.clone(),
                span: Span::Commits(1, version),
            };
            let merged = self
                .partials
                .try_get_with(key, compact(engine, rollup, &parts))
                .await
                .map_err(shared)?;
            self.remember(tile, &scope, (1, version));
            parts = vec![merged];
        }
        let window = Window {
            since: range.window.since_text(),
            until: range.window.until_text(),
        };
        // Each group's place against the range, once; the days with a group across an end
        // of the range are answered by the range itself.
        let mut placed = Vec::new();
        let mut straddling = BTreeSet::new();
        // The NULL day: the partition of events whose time could not be read.
        let mut null_straddles = false;
        for b in parts.iter().flat_map(|p| &p.batches) {
            let t = Times::of(b)?;
            let places: Vec<Place> = (0..b.num_rows()).map(|i| window.place(&t, i)).collect();
            for (i, place) in places.iter().enumerate() {
                if *place == Place::Across {
                    if t.dt.is_valid(i) {
                        straddling.insert(t.dt.value(i).to_string());
                    } else {
                        null_straddles = true;
                    }
                }
            }
            placed.push((b, t, places));
        }
        let mut rows = Vec::new();
        for (b, t, places) in placed {
            let keep: BooleanArray = places
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let straddles = if t.dt.is_valid(i) {
                        straddling.contains(t.dt.value(i))
                    } else {
                        null_straddles
                    };
                    Some(*p == Place::Inside && !straddles)
                })
                .collect();
            rows.push(filter_record_batch(b, &keep).map_err(internal)?);
        }
        if !straddling.is_empty() || null_straddles {
            let mut days: Vec<String> = straddling
                .iter()
                .map(|d| format!("dt = '{}'", d.replace('\'', "''")))
                .collect();
            if null_straddles {
                days.push("dt IS NULL".to_string());
            }
            let predicate = format!("{} AND ({})", range.predicate(), days.join(" OR "));
            let key = Key {
                tile,
                scope: scope.clone(),
                span: Span::Edge {
                    version,
                    predicate: predicate.clone(),
                },
            };
            let edge = self
                .partials
                .try_get_with(key, async {
                    self.edges.fetch_add(1, Ordering::Relaxed);
                    let asked = std::time::Instant::now();
                    let _slot = self.slot().await;
                    let started = std::time::Instant::now();
                    let part =
                        run_partial(engine, &rollup.partial.replace("{range}", &predicate)).await;
                    timed(tile, "edge days", (version, version), asked, started);
                    part
                })
                .await
                .map_err(shared)?;
            rows.extend(edge.batches.iter().cloned());
        }
        // Every partial has the partial query's nullable schema ([`partial_of`]).
        let schema = match parts.first() {
            Some(p) => p.schema.clone(),
            // An empty lake: the partial query's shape, over nothing.
            None => run_partial(engine, &rollup.partial.replace("{range}", "FALSE"))
                .await?
                .schema
                .clone(),
        };
        engine.run_on(&rollup.merge, schema, rows).await
    }
}

/// Logs (at debug level) how long a partial waited for a turn and then ran.
fn timed(
    what: &str,
    how: &str,
    (first, last): (u64, u64),
    asked: std::time::Instant,
    started: std::time::Instant,
) {
    tracing::debug!(
        "partial of {what} {how}, commits {first}..={last}: waited {} ms, ran {} ms",
        (started - asked).as_millis(),
        started.elapsed().as_millis()
    );
}

/// The partials of consecutive spans as one: groups added up (counts sum, time bounds
/// widen).
async fn compact(
    engine: &QueryEngine,
    rollup: &Rollup,
    parts: &[Arc<Partial>],
) -> Result<Arc<Partial>, QueryError> {
    let schema = parts[0].schema.clone();
    let batches: Vec<RecordBatch> = parts.iter().flat_map(|p| p.batches.clone()).collect();
    let keys = rollup.keys;
    let name = |i: usize| format!("\"{}\"", schema.field(i).name().replace('"', "\"\""));
    let mut select = Vec::new();
    for i in 0..schema.fields().len() {
        let column = name(i);
        select.push(match schema.field(i).name().as_str() {
            _ if i <= keys => column,
            "_tmin" => format!("min({column}) AS {column}"),
            "_tmax" => format!("max({column}) AS {column}"),
            _ => format!("sum({column}) AS {column}"),
        });
    }
    let groups: Vec<String> = (1..=keys + 1).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {} FROM {{partial}} GROUP BY {}",
        select.join(", "),
        groups.join(", ")
    );
    partial_of(engine.run_on(&sql, schema, batches).await?)
}

fn internal(e: arrow::error::ArrowError) -> QueryError {
    QueryError::Internal(format!("merging a tile's partial answers: {e}"))
}

/// Runs a partial query.
async fn run_partial(engine: &QueryEngine, sql: &str) -> Result<Arc<Partial>, QueryError> {
    let result = engine
        .run(sql)
        .await?
        .pop()
        .ok_or_else(|| QueryError::Plan("no statement".into()))?;
    partial_of(result)
}

/// A partial query's result with every column nullable, so that partials of different
/// commits (and their merges) share one schema whatever each one's nulls were.
fn partial_of(result: StatementResult) -> Result<Arc<Partial>, QueryError> {
    let schema: SchemaRef = Arc::new(Schema::new(
        result
            .schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batches = result
        .batches
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    Ok(Arc::new(Partial { schema, batches }))
}

/// A partial batch's `dt` and time columns.
struct Times {
    dt: arrow::array::StringArray,
    min: arrow::array::StringArray,
    max: arrow::array::StringArray,
    non_null: arrow::array::Int64Array,
    all: arrow::array::Int64Array,
}

impl Times {
    fn of(b: &RecordBatch) -> Result<Times, QueryError> {
        let text = |name: &str| -> Result<arrow::array::StringArray, QueryError> {
            let c = b.column_by_name(name).ok_or_else(|| missing(name))?;
            Ok(cast(c, &DataType::Utf8)
                .map_err(internal)?
                .as_string::<i32>()
                .clone())
        };
        let count = |name: &str| -> Result<arrow::array::Int64Array, QueryError> {
            let c = b.column_by_name(name).ok_or_else(|| missing(name))?;
            Ok(cast(c, &DataType::Int64)
                .map_err(internal)?
                .as_primitive::<Int64Type>()
                .clone())
        };
        Ok(Times {
            dt: text("dt")?,
            min: text("_tmin")?,
            max: text("_tmax")?,
            non_null: count("_tn")?,
            all: count("_n")?,
        })
    }
}

fn missing(name: &str) -> QueryError {
    QueryError::Internal(format!("a tile's partial query has no column {name}"))
}

/// Where a partial group lies against a range.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Place {
    /// Every row of the group matches the range.
    Inside,
    /// No row does.
    Outside,
    /// Some may: its day is queried with the range.
    Across,
}

/// A range's ends as the predicate compares them: `eventtime >= since AND eventtime <
/// until`, string comparisons, NULL never matching a bounded range.
struct Window {
    since: Option<String>,
    until: Option<String>,
}

impl Window {
    fn place(&self, t: &Times, i: usize) -> Place {
        if self.since.is_none() && self.until.is_none() {
            return Place::Inside;
        }
        let (n, all) = (t.non_null.value(i), t.all.value(i));
        if n == 0 || t.min.is_null(i) || t.max.is_null(i) {
            return Place::Outside;
        }
        let (min, max) = (t.min.value(i), t.max.value(i));
        let before = self.since.as_deref().is_some_and(|s| max < s);
        let after = self.until.as_deref().is_some_and(|u| min >= u);
        if before || after {
            return Place::Outside;
        }
        let from = self.since.as_deref().is_none_or(|s| min >= s);
        let to = self.until.as_deref().is_none_or(|u| max < u);
        if from && to && n == all {
            Place::Inside
        } else {
            Place::Across
        }
    }
}
