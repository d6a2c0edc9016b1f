//! Every query the server is running or ran recently, for
//! `system.runtime.queries` and `CALL system.runtime.kill_query`.
//!
//! Endpoints register a query when it is submitted, attach a canceller (how
//! that endpoint stops the query's stream) and report its end state.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMillisecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::Stream;
use futures::task::AtomicWaker;
use parking_lot::Mutex;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use std::pin::Pin;
use std::task::{Context, Poll};

use contango_common::Session;
use contango_common::error::{ContangoError, ErrorKind, Result};

/// Finished queries kept for `system.runtime.queries`.
const FINISHED_KEPT: usize = 200;

type Canceller = Box<dyn Fn(ContangoError) + Send + Sync>;

/// One registered query.
pub struct QueryEntry {
    /// Trino-style query id (`20261124_120000_00001_contango`).
    pub id: String,
    /// Who submitted it.
    pub user: String,
    /// Client name, if it sent one.
    pub source: Option<String>,
    /// The SQL text.
    pub sql: String,
    /// When it was submitted.
    pub created: DateTime<Utc>,
    /// Which endpoint runs it (`flight`, `trino`).
    pub endpoint: &'static str,
    /// Set when it is killed: long function calls stop early (see
    /// [`contango_common::stop`]).
    pub stop: contango_common::stop::QueryStop,
    state: Mutex<EntryState>,
    rows: AtomicU64,
    bytes: AtomicU64,
    metrics: Arc<QueryMetrics>,
}

struct EntryState {
    state: &'static str,
    ended: Option<DateTime<Utc>>,
    error: Option<ContangoError>,
    canceller: Option<Canceller>,
    /// The timers enforcing the query's time limits, stopped when it ends.
    timers: Vec<tokio::task::AbortHandle>,
    /// The admission slot the query holds until it ends.
    slot: Option<crate::limits::Slot>,
}

impl fmt::Debug for QueryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryEntry")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("state", &self.state.lock().state)
            .finish()
    }
}

impl QueryEntry {
    /// Current state: QUEUED, PLANNING, RUNNING, FINISHED or FAILED.
    pub fn state(&self) -> &'static str {
        self.state.lock().state
    }

    /// The kind of error the query failed with, once it failed.
    pub fn error(&self) -> Option<ErrorKind> {
        self.state.lock().error.as_ref().map(ContangoError::kind)
    }

    /// The error a query ended with; a query that ended without one
    /// reports that it is over. `None` while it has not ended.
    pub fn ended_with(&self) -> Option<ContangoError> {
        let s = self.state.lock();
        s.ended?;
        Some(s.error.clone().unwrap_or_else(|| {
            ContangoError::invalid(format!("Query {} has already finished", self.id))
        }))
    }

    /// Marks the query as being planned.
    pub fn planning(&self) {
        let mut s = self.state.lock();
        if s.ended.is_none() {
            s.state = "PLANNING";
        }
    }

    /// Sets how this query is stopped (called by the endpoint that runs it).
    pub fn on_cancel(&self, canceller: impl Fn(ContangoError) + Send + Sync + 'static) {
        self.state.lock().canceller = Some(Box::new(canceller));
    }

    /// Marks the query as producing results.
    pub fn running(&self) {
        let mut s = self.state.lock();
        if s.ended.is_none() {
            s.state = "RUNNING";
        }
    }

    /// Counts result rows sent (and their in-memory bytes).
    pub fn sent(&self, rows: usize, bytes: usize) {
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Marks the query as ended (successfully when `error` is `None`); the
    /// first end recorded wins.
    pub fn finish(&self, error: Option<ErrorKind>) {
        self.end(error.map(|kind| ContangoError::new(kind, "query failed")));
    }

    /// Marks the query as failed with `error` (kept for [`Self::ended_with`]).
    pub fn finish_with(&self, error: &ContangoError) {
        self.end(Some(error.clone()));
    }

    fn end(&self, error: Option<ContangoError>) {
        let mut s = self.state.lock();
        if s.ended.is_none() {
            s.state = if error.is_some() {
                "FAILED"
            } else {
                "FINISHED"
            };
            let ended = Utc::now();
            s.ended = Some(ended);
            let kind = error.as_ref().map(ContangoError::kind);
            s.error = error;
            s.canceller = None;
            s.slot = None;
            for timer in s.timers.drain(..) {
                timer.abort();
            }
            let seconds = (ended - self.created).num_microseconds().unwrap_or(0) as f64 / 1e6;
            self.metrics.record(
                self.endpoint,
                kind,
                seconds,
                self.rows.load(Ordering::Relaxed),
                self.bytes.load(Ordering::Relaxed),
            );
        }
    }

    /// Kills the query with EXCEEDED_TIME_LIMIT if it has not ended `limit`
    /// after now (the timer stops when it ends). Needs a Tokio runtime; without
    /// one the limit is not enforced.
    pub fn limit_run_time(self: &Arc<Self>, limit: std::time::Duration) {
        self.limit_time(limit, "Query exceeded maximum run time limit of");
    }

    /// Like [`Self::limit_run_time`], for `query_max_execution_time` (set
    /// when the query is admitted, so queueing does not count).
    pub fn limit_execution_time(self: &Arc<Self>, limit: std::time::Duration) {
        self.limit_time(limit, "Query exceeded the maximum execution time limit of");
    }

    fn limit_time(self: &Arc<Self>, limit: std::time::Duration, message: &'static str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let entry = Arc::downgrade(self);
        let timer = runtime.spawn(async move {
            tokio::time::sleep(limit).await;
            if let Some(entry) = entry.upgrade() {
                entry.kill(ContangoError::new(
                    ErrorKind::ExceededTimeLimit,
                    format!("{message} {}", format_duration(limit)),
                ));
            }
        });
        let mut s = self.state.lock();
        if s.ended.is_some() {
            timer.abort();
        } else {
            s.timers.push(timer.abort_handle());
        }
    }

    /// Holds the admission `slot` until the query ends or
    /// [`release_slot`](Self::release_slot) (released at once if it already
    /// has ended).
    pub fn hold_slot(&self, slot: crate::limits::Slot) {
        let mut s = self.state.lock();
        if s.ended.is_none() {
            s.slot = Some(slot);
        }
    }

    /// Gives the admission slot back while the query waits for its client
    /// (planned, not yet fetched).
    pub fn release_slot(&self) {
        let slot = self.state.lock().slot.take();
        drop(slot);
    }

    /// Stops the query with `error`; false when it had already ended.
    pub fn kill(&self, error: ContangoError) -> bool {
        let canceller = {
            let mut s = self.state.lock();
            if s.ended.is_some() {
                return false;
            }
            s.canceller.take()
        };
        self.stop.stop();
        if let Some(cancel) = canceller {
            cancel(error.clone());
        }
        self.finish_with(&error);
        true
    }
}

/// A duration as Trino prints one (`10.00m`, `1.50s`, `250.00ms`).
pub fn format_duration(d: std::time::Duration) -> String {
    let seconds = d.as_secs_f64();
    let (value, unit) = if seconds >= 86_400.0 {
        (seconds / 86_400.0, "d")
    } else if seconds >= 3_600.0 {
        (seconds / 3_600.0, "h")
    } else if seconds >= 60.0 {
        (seconds / 60.0, "m")
    } else if seconds >= 1.0 {
        (seconds, "s")
    } else {
        (seconds * 1e3, "ms")
    };
    format!("{value:.2}{unit}")
}

/// Registry of live and recent queries, shared by every endpoint.
#[derive(Default)]
pub struct QueryTracker {
    entries: Mutex<VecDeque<Arc<QueryEntry>>>,
    counter: AtomicU64,
    metrics: Arc<QueryMetrics>,
}

/// Upper bounds (seconds) of the query latency histogram buckets.
const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Counters of ended queries, by endpoint, for Prometheus: a handle on the
/// process-wide families in [`contango_common::metrics::registry`]
/// (`contango_queries_total`, `contango_query_errors_total`,
/// `contango_query_duration_seconds`, `contango_query_rows_total`,
/// `contango_query_bytes_total`), so every tracker of the process adds to
/// the same series.
#[derive(Debug, Default)]
pub struct QueryMetrics(());

/// The query families, registered once on first use.
struct QueryFamilies {
    queries: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    rows: IntCounterVec,
    bytes: IntCounterVec,
}

static QUERY_FAMILIES: LazyLock<QueryFamilies> = LazyLock::new(|| {
    use contango_common::metrics::register;
    let counter = |name: &str, help: &str, labels: &[&str]| {
        register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"))
    };
    QueryFamilies {
        queries: counter(
            "contango_queries_total",
            "Queries ended, by endpoint and state.",
            &["endpoint", "state"],
        ),
        errors: counter(
            "contango_query_errors_total",
            "Failed queries by Trino error name.",
            &["endpoint", "error_name"],
        ),
        duration: register(
            HistogramVec::new(
                HistogramOpts::new(
                    "contango_query_duration_seconds",
                    "Query latency, submission to end.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["endpoint"],
            )
            .expect("valid histogram"),
        ),
        rows: counter(
            "contango_query_rows_total",
            "Result rows sent.",
            &["endpoint"],
        ),
        bytes: counter(
            "contango_query_bytes_total",
            "Result bytes sent (Flight: Arrow buffer size; Trino: JSON text).",
            &["endpoint"],
        ),
    }
});

impl QueryMetrics {
    fn record(
        &self,
        endpoint: &'static str,
        error: Option<ErrorKind>,
        seconds: f64,
        rows: u64,
        bytes: u64,
    ) {
        let f = &*QUERY_FAMILIES;
        let finished = f.queries.with_label_values(&[endpoint, "FINISHED"]);
        let failed = f.queries.with_label_values(&[endpoint, "FAILED"]);
        // Both states are exported (at 0) from an endpoint's first query on.
        match error {
            None => finished.inc(),
            Some(kind) => {
                failed.inc();
                crate::limits::count_exceeded(kind);
                f.errors
                    .with_label_values(&[endpoint, kind.trino_error_name()])
                    .inc();
            }
        }
        f.duration.with_label_values(&[endpoint]).observe(seconds);
        f.rows.with_label_values(&[endpoint]).inc_by(rows);
        f.bytes.with_label_values(&[endpoint]).inc_by(bytes);
    }
}

impl fmt::Debug for QueryTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryTracker")
            .field("queries", &self.entries.lock().len())
            .finish()
    }
}

impl QueryTracker {
    /// Query counters for Prometheus.
    pub fn metrics(&self) -> &Arc<QueryMetrics> {
        &self.metrics
    }

    /// Registers a new query run by `endpoint` and returns its entry (state QUEUED).
    pub fn register(
        &self,
        endpoint: &'static str,
        user: &str,
        source: Option<&str>,
        sql: &str,
    ) -> Arc<QueryEntry> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let created = Utc::now();
        let entry = Arc::new(QueryEntry {
            id: format!("{}_{n:05}_contango", created.format("%Y%m%d_%H%M%S")),
            user: user.to_string(),
            source: source.map(str::to_string),
            sql: sql.to_string(),
            created,
            endpoint,
            stop: contango_common::stop::QueryStop::default(),
            state: Mutex::new(EntryState {
                state: "QUEUED",
                ended: None,
                error: None,
                canceller: None,
                timers: Vec::new(),
                slot: None,
            }),
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            metrics: self.metrics.clone(),
        });
        let mut entries = self.entries.lock();
        entries.push_back(entry.clone());
        // Forget the oldest finished queries beyond the history bound.
        let finished = entries
            .iter()
            .filter(|e| e.state.lock().ended.is_some())
            .count();
        let mut excess = finished.saturating_sub(FINISHED_KEPT);
        entries.retain(|e| {
            if excess > 0 && e.state.lock().ended.is_some() {
                excess -= 1;
                false
            } else {
                true
            }
        });
        entry
    }

    /// The query with `id`, if known.
    pub fn get(&self, id: &str) -> Option<Arc<QueryEntry>> {
        self.entries.lock().iter().find(|e| e.id == id).cloned()
    }

    /// All known queries, oldest first.
    pub fn list(&self) -> Vec<Arc<QueryEntry>> {
        self.entries.lock().iter().cloned().collect()
    }

    /// `kill_query`: stops query `id` on behalf of `session`'s user, who
    /// must own it or be an administrator.
    pub fn kill(&self, session: &Session, id: &str, message: Option<&str>) -> Result<()> {
        let entry = self
            .get(id)
            .ok_or_else(|| ContangoError::not_found(format!("Query {id} not found")))?;
        if entry.user != session.user && !session.admin {
            return Err(ContangoError::permission_denied(format!(
                "Access Denied: Cannot kill query {id} owned by another user"
            )));
        }
        let message = match message {
            Some(m) => format!("Query killed. Message: {m}"),
            None => "Query killed. No message provided.".to_string(),
        };
        if !entry.kill(ContangoError::new(ErrorKind::Killed, message)) {
            return Err(ContangoError::invalid(format!(
                "Query {id} has already finished"
            )));
        }
        Ok(())
    }

    /// `system.runtime.queries` as a table provider, read at scan time:
    /// every query, or with `viewer` only that user's (a user who is not
    /// an administrator never sees another user's SQL text).
    pub fn table(self: &Arc<Self>, viewer: Option<&str>) -> Arc<dyn TableProvider> {
        Arc::new(QueriesTable {
            tracker: self.clone(),
            viewer: viewer.map(str::to_string),
        })
    }
}

/// Shared between a tracked stream and its entry's canceller.
#[derive(Default)]
struct KillSwitch {
    error: Mutex<Option<ContangoError>>,
    waker: AtomicWaker,
}

/// What a tracked stream counts as bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The batches' Arrow buffer sizes (Flight SQL sends Arrow).
    Arrow,
    /// Nothing: the endpoint counts the bytes of its own encoding
    /// ([`QueryEntry::sent`] with zero rows), e.g. Trino's JSON text.
    RowsOnly,
}

/// A result stream registered as `entry`: `kill_query` ends it with the kill
/// error (dropping the inner stream, which stops DataFusion's tasks), and its
/// end is recorded in the entry. Used by [`crate::submit::Submission`].
pub(crate) fn track(
    entry: Arc<QueryEntry>,
    stream: SendableRecordBatchStream,
    bytes: Track,
) -> SendableRecordBatchStream {
    let switch = Arc::new(KillSwitch::default());
    let s = switch.clone();
    entry.on_cancel(move |error| {
        *s.error.lock() = Some(error);
        s.waker.wake();
    });
    entry.running();
    Box::pin(Tracked {
        schema: stream.schema(),
        inner: Some(stream),
        switch,
        entry,
        bytes,
    })
}

struct Tracked {
    schema: SchemaRef,
    inner: Option<SendableRecordBatchStream>,
    switch: Arc<KillSwitch>,
    entry: Arc<QueryEntry>,
    bytes: Track,
}

impl Stream for Tracked {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.switch.waker.register(cx.waker());
        let killed = self.switch.error.lock().take();
        if let Some(error) = killed {
            self.inner = None;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(batch))) => {
                let bytes = match self.bytes {
                    Track::Arrow => batch.get_array_memory_size(),
                    Track::RowsOnly => 0,
                };
                self.entry.sent(batch.num_rows(), bytes);
            }
            Poll::Ready(None) => {
                self.inner = None;
                self.entry.finish(None);
            }
            Poll::Ready(Some(Err(e))) => {
                let error = ContangoError::from_datafusion(e);
                self.inner = None;
                self.entry.finish_with(&error);
            }
            _ => {}
        }
        next
    }
}

impl RecordBatchStream for Tracked {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // The client went away before the end.
            self.entry.finish(Some(ErrorKind::Cancelled));
        }
    }
}

/// A scan of one in-memory batch (the tables here answer from memory).
pub(crate) async fn scan_batch(
    batch: RecordBatch,
    state: &dyn DfSession,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    table.scan(state, projection, filters, limit).await
}

/// `system.runtime.queries`: one row per known query.
#[derive(Debug)]
struct QueriesTable {
    tracker: Arc<QueryTracker>,
    viewer: Option<String>,
}

fn queries_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("query_id", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("user", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, false),
        Field::new("created", ts.clone(), false),
        Field::new("end", ts, true),
        Field::new("error_type", DataType::Utf8, true),
        Field::new("error_code", DataType::Utf8, true),
    ]))
}

impl QueriesTable {
    fn batch(&self) -> DFResult<RecordBatch> {
        let entries = self.tracker.list();
        let mut id = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut user = StringBuilder::new();
        let mut source = StringBuilder::new();
        let mut query = StringBuilder::new();
        let mut created = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut end = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut error_type = StringBuilder::new();
        let mut error_code = StringBuilder::new();
        let visible = entries
            .iter()
            .filter(|e| self.viewer.as_ref().is_none_or(|v| *v == e.user));
        for e in visible {
            let s = e.state.lock();
            id.append_value(&e.id);
            state.append_value(s.state);
            user.append_value(&e.user);
            source.append_option(e.source.as_deref());
            query.append_value(&e.sql);
            created.append_value(e.created.timestamp_millis());
            end.append_option(s.ended.map(|t| t.timestamp_millis()));
            let error = s.error.as_ref().map(|e| e.kind().trino_error());
            error_type.append_option(error.map(|(_, _, t)| t));
            error_code.append_option(error.map(|(n, _, _)| n));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(state.finish()),
            Arc::new(user.finish()),
            Arc::new(source.finish()),
            Arc::new(query.finish()),
            Arc::new(created.finish()),
            Arc::new(end.finish()),
            Arc::new(error_type.finish()),
            Arc::new(error_code.finish()),
        ];
        Ok(RecordBatch::try_new(queries_schema(), columns)?)
    }
}

#[async_trait]
impl TableProvider for QueriesTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        queries_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        scan_batch(self.batch()?, state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn kill_calls_the_canceller_once_and_checks_the_owner() {
        let tracker = QueryTracker::default();
        let q = tracker.register("test", "alice", Some("test"), "SELECT 1");
        let called = Arc::new(AtomicBool::new(false));
        let c = called.clone();
        q.on_cancel(move |e| {
            assert_eq!(e.kind(), ErrorKind::Killed);
            assert_eq!(e.message(), "Query killed. Message: enough");
            c.store(true, Ordering::SeqCst);
        });
        q.running();
        let bob = Session::new("bob", "c", "s");
        let alice = Session::new("alice", "c", "s");
        let e = tracker.kill(&bob, &q.id, Some("enough")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(!called.load(Ordering::SeqCst));
        tracker.kill(&alice, &q.id, Some("enough")).unwrap();
        assert!(called.load(Ordering::SeqCst));
        assert_eq!(q.state(), "FAILED");
        assert_eq!(
            tracker.kill(&alice, &q.id, None).unwrap_err().kind(),
            ErrorKind::Invalid
        );
        assert_eq!(
            tracker.kill(&alice, "nope", None).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // An administrator may kill anyone's query.
        let other = tracker.register("test", "carol", None, "SELECT 2");
        other.running();
        let mut root = Session::new("root", "c", "s");
        root.admin = true;
        tracker.kill(&root, &other.id, None).unwrap();
        assert_eq!(other.state(), "FAILED");
    }

    #[test]
    fn history_is_bounded() {
        let tracker = QueryTracker::default();
        for _ in 0..FINISHED_KEPT + 10 {
            tracker.register("test", "u", None, "SELECT 1").finish(None);
        }
        let live = tracker.register("test", "u", None, "SELECT 2");
        let all = tracker.list();
        assert!(all.len() <= FINISHED_KEPT + 1);
        assert!(all.iter().any(|e| e.id == live.id));
    }

    /// The query families in the registry keep the names, types, labels
    /// and buckets the dashboards and alert rules use.
    #[test]
    fn query_metrics_are_rendered_by_the_registry() {
        let tracker = QueryTracker::default();
        let ok = tracker.register("unit\"ep", "u", None, "SELECT 1");
        ok.sent(3, 30);
        ok.finish(None);
        let failed = tracker.register("unit\"ep", "u", None, "SELEC 1");
        failed.finish(Some(ErrorKind::Syntax));
        let text = contango_common::metrics::render();
        let e = r#"endpoint="unit\"ep""#;
        for (name, kind) in [
            ("contango_queries_total", "counter"),
            ("contango_query_errors_total", "counter"),
            ("contango_query_duration_seconds", "histogram"),
            ("contango_query_rows_total", "counter"),
            ("contango_query_bytes_total", "counter"),
        ] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{text}");
        }
        let syntax = ErrorKind::Syntax.trino_error_name();
        for line in [
            format!("contango_queries_total{{{e},state=\"FINISHED\"}} 1"),
            format!("contango_queries_total{{{e},state=\"FAILED\"}} 1"),
            format!("contango_query_errors_total{{{e},error_name=\"{syntax}\"}} 1"),
            format!("contango_query_duration_seconds_bucket{{{e},le=\"+Inf\"}} 2"),
            format!("contango_query_duration_seconds_count{{{e}}} 2"),
            format!("contango_query_rows_total{{{e}}} 3"),
            format!("contango_query_bytes_total{{{e}}} 30"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!("contango_query_duration_seconds_sum{{{e}}} ")));
        let prefix = format!("contango_query_duration_seconds_bucket{{{e},le=\"");
        let buckets: Vec<(&str, f64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .filter_map(|l| {
                let (le, v) = l.split_once("\"} ")?;
                Some((le, v.parse().ok()?))
            })
            .collect();
        let bounds: Vec<String> = LATENCY_BUCKETS
            .iter()
            .map(f64::to_string)
            .chain(["+Inf".to_string()])
            .collect();
        assert_eq!(
            buckets.iter().map(|(le, _)| *le).collect::<Vec<_>>(),
            bounds,
            "{text}"
        );
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
    }
}
