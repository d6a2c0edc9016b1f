//! The results cache: a finished query's batches kept in memory, keyed by
//! what decides them, so a dashboard that repeats a query gets its answer
//! without running it again.
//!
//! **The key** ([`key`]) is the statement's logical plan as planned (tables
//! resolved, parameters bound, with its schema), the session settings that
//! change results (catalog, schema, time zone, properties) and the version
//! of every table the plan reads, as its catalog names it
//! ([`CatalogSource::read_version`]): for an Iceberg table its uuid,
//! metadata file and snapshot; for a streamed table also the hot tail's
//! generation. The providers of a plan are loaded when it is planned and
//! read exactly that version, so an entry is never stale: a commit, a schema
//! change or a new tail chunk makes a new key, and the old entry is simply
//! never asked for again (it ages out). No time-to-live is involved.
//!
//! **Not kept:** statements other than queries (EXPLAIN, DDL, session
//! statements), plans calling a function that is not immutable (`now()`,
//! `random()`, `current_timezone()` ...), plans with unbound parameters,
//! plans reading anything without a version (`system.*`,
//! `information_schema`, table functions, files), plans reading no table,
//! results larger than an eighth of the cache, and queries that fail, are
//! killed or whose client stops reading early.
//!
//! **Bounded:** entries are evicted least recently used first so that the
//! batches held (Arrow buffer sizes) plus keys stay within the capacity
//! (`[server] results_cache_size`). `SET SESSION results_cache = false`
//! bypasses the cache both ways. Hits, misses and uncacheable queries are
//! counted in `contango_results_cache_*` metrics.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use contango_common::{CatalogSource, Session};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result as DFResult;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::Stream;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge};

/// The session property that turns the cache off for a session.
pub const PROPERTY: &str = "results_cache";

/// Capacity when the configuration names none.
pub const DEFAULT_CAPACITY: usize = 256 << 20;

/// Results of finished queries, by key, least recently used evicted first.
#[derive(Debug)]
pub struct ResultsCache {
    capacity: usize,
    max_entry: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Arc<str>, Entry>,
    /// Keys by last use (a clock tick per use).
    by_use: BTreeMap<u64, Arc<str>>,
    bytes: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
    bytes: usize,
    used: u64,
}

/// A cached result.
#[derive(Debug, Clone)]
pub struct Hit {
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
}

impl Hit {
    /// The result as a stream, as the query produced it.
    pub fn stream(self) -> SendableRecordBatchStream {
        let batches: Vec<DFResult<RecordBatch>> = self.batches.iter().cloned().map(Ok).collect();
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema,
            futures::stream::iter(batches),
        ))
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl ResultsCache {
    /// A cache of at most `capacity` bytes; one result may take an eighth.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            max_entry: capacity / 8,
            state: Mutex::default(),
        }
    }

    /// Bytes held (batches and keys).
    pub fn bytes(&self) -> usize {
        self.state.lock().bytes
    }

    /// Results held.
    pub fn entries(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// The result kept under `key`, if any (counted as a hit or a miss).
    pub fn get(&self, key: &str) -> Option<Hit> {
        let mut state = self.state.lock();
        state.clock += 1;
        let now = state.clock;
        let Some(entry) = state.entries.get_mut(key) else {
            METRICS.misses.inc();
            return None;
        };
        let before = std::mem::replace(&mut entry.used, now);
        let hit = Hit {
            schema: entry.schema.clone(),
            batches: entry.batches.clone(),
        };
        if let Some(k) = state.by_use.remove(&before) {
            state.by_use.insert(now, k);
        }
        METRICS.hits.inc();
        Some(hit)
    }

    /// Keeps `batches` under `key`, evicting the least recently used
    /// results until it fits; a result over the entry limit is not kept.
    fn insert(&self, key: String, schema: SchemaRef, batches: Vec<RecordBatch>, bytes: usize) {
        let bytes = bytes + key.len();
        if bytes > self.max_entry {
            return;
        }
        let key: Arc<str> = key.into();
        let mut state = self.state.lock();
        if let Some(old) = state.entries.remove(&key) {
            state.by_use.remove(&old.used);
            state.bytes -= old.bytes;
        }
        while state.bytes + bytes > self.capacity {
            let Some((_, oldest)) = state.by_use.pop_first() else {
                break;
            };
            if let Some(old) = state.entries.remove(&oldest) {
                state.bytes -= old.bytes;
            }
        }
        state.clock += 1;
        let used = state.clock;
        state.by_use.insert(used, key.clone());
        state.entries.insert(
            key,
            Entry {
                schema,
                batches: batches.into(),
                bytes,
                used,
            },
        );
        state.bytes += bytes;
        METRICS.bytes.set(state.bytes as i64);
        METRICS.entries.set(state.entries.len() as i64);
    }

    /// `stream`, whose batches are kept under `key` once it ends without
    /// error (not when it fails, is dropped early or grows too large).
    pub fn recording(
        self: &Arc<Self>,
        key: String,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        Box::pin(Recording {
            schema: stream.schema(),
            inner: stream,
            cache: self.clone(),
            key: Some(key),
            batches: Vec::new(),
            bytes: 0,
        })
    }
}

/// Whether `session` uses the cache (`results_cache`, default true).
pub fn enabled(session: &Session) -> bool {
    !crate::engine::session_property(session, PROPERTY)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

/// The cache key of `plan` planned in `session`, or `None` when its result
/// may not be kept (see the module docs); counted as uncacheable then.
pub fn key(
    plan: &LogicalPlan,
    session: &Session,
    catalogs: &[Arc<dyn CatalogSource>],
) -> Option<String> {
    let key = cacheable_key(plan, session, catalogs);
    if key.is_none() {
        METRICS.uncacheable.inc();
    }
    key
}

fn cacheable_key(
    plan: &LogicalPlan,
    session: &Session,
    catalogs: &[Arc<dyn CatalogSource>],
) -> Option<String> {
    let mut versions = Vec::new();
    let mut cacheable = true;
    plan.apply_with_subqueries(|node| {
        cacheable &= match node {
            LogicalPlan::TableScan(scan) => match source_as_provider(&scan.source)
                .ok()
                .and_then(|p| catalogs.iter().find_map(|c| c.read_version(p.as_ref())))
            {
                Some(version) => {
                    versions.push(version);
                    true
                }
                None => false,
            },
            LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_) => false,
            _ => true,
        };
        if cacheable {
            node.apply_expressions(|e| {
                e.apply(|e| {
                    cacheable &= deterministic(e);
                    Ok(continue_while(cacheable))
                })
            })?;
        }
        Ok(continue_while(cacheable))
    })
    .ok()?;
    if !cacheable || versions.is_empty() {
        return None;
    }
    let mut key = String::new();
    let _ = writeln!(
        key,
        "{}\u{1f}{}\u{1f}{}\u{1f}{:?}",
        session.catalog, session.schema, session.time_zone, session.properties
    );
    for version in versions {
        key.push_str(&version);
        key.push('\n');
    }
    let _ = write!(key, "{}", plan.display_indent_schema());
    Some(key)
}

fn continue_while(go_on: bool) -> TreeNodeRecursion {
    if go_on {
        TreeNodeRecursion::Continue
    } else {
        TreeNodeRecursion::Stop
    }
}

/// Whether `e` (this node, not its children) gives the same value every
/// time for the same input.
fn deterministic(e: &Expr) -> bool {
    let immutable = |v: Volatility| v == Volatility::Immutable;
    match e {
        Expr::ScalarFunction(f) => immutable(f.func.signature().volatility),
        Expr::AggregateFunction(f) => immutable(f.func.signature().volatility),
        Expr::WindowFunction(w) => immutable(w.fun.signature().volatility),
        Expr::ScalarVariable(..) | Expr::Placeholder(_) => false,
        _ => true,
    }
}

/// A result stream whose batches are kept when it ends.
struct Recording {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    cache: Arc<ResultsCache>,
    /// `None` once the result can no longer be kept.
    key: Option<String>,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

impl Stream for Recording {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(next) => next,
            Poll::Pending => return Poll::Pending,
        };
        match &next {
            Some(Ok(batch)) if this.key.is_some() => {
                this.bytes += batch.get_array_memory_size();
                if this.bytes > this.cache.max_entry {
                    this.key = None;
                    this.batches = Vec::new();
                } else {
                    this.batches.push(batch.clone());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => {
                this.key = None;
                this.batches = Vec::new();
            }
            None => {
                if let Some(key) = this.key.take() {
                    let batches = std::mem::take(&mut this.batches);
                    this.cache
                        .insert(key, this.schema.clone(), batches, this.bytes);
                }
            }
        }
        Poll::Ready(next)
    }
}

impl RecordBatchStream for Recording {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

struct Metrics {
    hits: IntCounter,
    misses: IntCounter,
    uncacheable: IntCounter,
    bytes: IntGauge,
    entries: IntGauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    use contango_common::metrics::register;
    let counter =
        |name: &str, help: &str| register(IntCounter::new(name, help).expect("valid counter"));
    let gauge = |name: &str, help: &str| register(IntGauge::new(name, help).expect("valid gauge"));
    Metrics {
        hits: counter(
            "contango_results_cache_hits_total",
            "Queries answered from the results cache.",
        ),
        misses: counter(
            "contango_results_cache_misses_total",
            "Cacheable queries the results cache did not hold (they ran, and are kept when they finish).",
        ),
        uncacheable: counter(
            "contango_results_cache_uncacheable_total",
            "Queries whose results may not be cached (non-deterministic functions, tables without a version, statements).",
        ),
        bytes: gauge(
            "contango_results_cache_bytes",
            "Bytes held by the results cache.",
        ),
        entries: gauge(
            "contango_results_cache_entries",
            "Results held by the results cache.",
        ),
    }
});

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: i64) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        (schema, batch)
    }

    #[test]
    fn least_recently_used_results_go_first_and_bytes_stay_within_capacity() {
        let (schema, b) = batch(1000);
        let size = b.get_array_memory_size();
        // Room for three results of one batch (plus their short keys).
        let cache = ResultsCache {
            capacity: size * 3 + 16,
            max_entry: size * 2,
            state: Mutex::default(),
        };
        for k in ["a", "b", "c"] {
            cache.insert(k.into(), schema.clone(), vec![b.clone()], size);
        }
        assert_eq!(cache.entries(), 3);
        assert!(cache.get("a").is_some()); // a is now the most recent
        cache.insert("d".into(), schema.clone(), vec![b.clone()], size);
        assert_eq!(cache.entries(), 3);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some());
        assert!(cache.get("c").is_some());
        assert!(cache.get("d").is_some());
        assert!(cache.bytes() <= size * 3 + 16);
        assert_eq!(cache.get("d").unwrap().rows(), 1000);
    }

    #[test]
    fn a_result_over_an_eighth_of_the_cache_is_not_kept() {
        let (schema, b) = batch(1000);
        let size = b.get_array_memory_size();
        let cache = ResultsCache::new(size * 4);
        cache.insert("big".into(), schema, vec![b], size);
        assert_eq!(cache.entries(), 0);
        assert_eq!(cache.bytes(), 0);
    }

    /// A catalog `mem` whose table `s.t` is versioned by a shared counter.
    #[derive(Debug)]
    struct Versioned {
        provider: Arc<datafusion::catalog::MemoryCatalogProvider>,
        table: Arc<dyn datafusion::catalog::TableProvider>,
        version: Arc<std::sync::atomic::AtomicU64>,
    }

    #[async_trait::async_trait]
    impl CatalogSource for Versioned {
        fn name(&self) -> &str {
            "mem"
        }
        fn provider(&self) -> Arc<dyn datafusion::catalog::CatalogProvider> {
            self.provider.clone()
        }
        async fn refresh(&self) -> contango_common::error::Result<()> {
            Ok(())
        }
        fn read_version(
            &self,
            provider: &dyn datafusion::catalog::TableProvider,
        ) -> Option<String> {
            std::ptr::addr_eq(provider, Arc::as_ptr(&self.table)).then(|| {
                format!(
                    "v{}",
                    self.version.load(std::sync::atomic::Ordering::SeqCst)
                )
            })
        }
    }

    async fn keys(sqls: &[&str]) -> Vec<Option<String>> {
        use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
        let (schema, b) = batch(10);
        let tables = Arc::new(MemorySchemaProvider::new());
        let table: Arc<dyn datafusion::catalog::TableProvider> =
            Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![vec![b]]).unwrap());
        tables.register_table("t".into(), table.clone()).unwrap();
        let provider = Arc::new(datafusion::catalog::MemoryCatalogProvider::new());
        provider.register_schema("s", tables).unwrap();
        let version = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let source = Arc::new(Versioned {
            provider,
            table,
            version: version.clone(),
        });
        let catalogs: Vec<Arc<dyn CatalogSource>> = vec![source];
        let engine = crate::QueryEngine::new(catalogs.clone());
        let session = Session::new("alice", "mem", "s");
        let mut out = Vec::new();
        for sql in sqls {
            if *sql == "COMMIT" {
                version.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                continue;
            }
            let planned = engine.plan(&session, sql).await.unwrap();
            out.push(key(planned.logical_plan(), &session, &catalogs));
        }
        out
    }

    #[tokio::test]
    async fn equal_plans_over_equal_versions_share_a_key_and_any_difference_splits_it() {
        let k = keys(&[
            "SELECT sum(x) FROM t",
            "select  SUM(x)  from T -- the same plan",
            "COMMIT",
            "SELECT sum(x) FROM t",
            "SELECT sum(x) FROM t WHERE x > (SELECT 1)",
            "SELECT sum(x) FROM t WHERE x > (SELECT 2)",
            "SELECT x FROM t ORDER BY x LIMIT 3",
            "SELECT x FROM t ORDER BY x LIMIT 3 OFFSET 1",
            "SELECT avg(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT avg(x) OVER (ORDER BY x ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t",
        ])
        .await;
        let k: Vec<String> = k.into_iter().map(|k| k.expect("cacheable")).collect();
        assert_eq!(k[0], k[1], "the same plan, written differently");
        assert_ne!(k[0], k[2], "a new version of the table");
        for i in [3, 5, 7] {
            assert_ne!(k[i], k[i + 1], "{}", k[i]);
        }
    }

    #[tokio::test]
    async fn volatile_functions_and_unversioned_reads_have_no_key() {
        let k = keys(&[
            "SELECT sum(x), now() FROM t",
            "SELECT sum(x) FROM t WHERE random() < 2",
            "SELECT 1",
            "SELECT count(*) FROM (VALUES (1), (2)) v(a)",
            "EXPLAIN SELECT sum(x) FROM t",
        ])
        .await;
        assert!(k.iter().all(Option::is_none), "{k:?}");
    }

    #[tokio::test]
    async fn only_a_stream_read_to_its_end_without_error_is_kept() {
        use futures::StreamExt;
        let (schema, b) = batch(10);
        let cache = Arc::new(ResultsCache::new(1 << 20));
        let source = |items: Vec<DFResult<RecordBatch>>| -> SendableRecordBatchStream {
            Box::pin(RecordBatchStreamAdapter::new(
                schema.clone(),
                futures::stream::iter(items),
            ))
        };
        // Read to the end: kept, and replayed equal.
        let mut s = cache.recording("done".into(), source(vec![Ok(b.clone()), Ok(b.clone())]));
        while s.next().await.is_some() {}
        let hit = cache.get("done").expect("kept");
        let replayed: Vec<RecordBatch> = hit.stream().map(|b| b.unwrap()).collect().await;
        assert_eq!(replayed, vec![b.clone(), b.clone()]);
        // Dropped after one batch: not kept.
        let mut s = cache.recording("early".into(), source(vec![Ok(b.clone()), Ok(b.clone())]));
        s.next().await;
        drop(s);
        assert!(cache.get("early").is_none());
        // Failed: not kept.
        let failed = datafusion::error::DataFusionError::Execution("boom".into());
        let mut s = cache.recording("failed".into(), source(vec![Ok(b.clone()), Err(failed)]));
        while s.next().await.is_some() {}
        assert!(cache.get("failed").is_none());
    }
}
