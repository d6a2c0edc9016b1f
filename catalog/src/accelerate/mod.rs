//! Acceleration: hot tables held in memory, refreshed exactly from Iceberg
//! snapshots.
//!
//! Each `[[accelerate]]` entry ([`Spec`]) names a table, the columns to hold
//! (default all), a sort (cluster) key and a host-memory budget. A
//! background task per table ([`Accelerations::start`]) watches the table's
//! metadata (every [`POLL`], and at once when a query finds the copy behind)
//! and keeps a [`Resident`] copy of its current snapshot: an append that
//! kept every file adds only the new files; anything else (compaction, an
//! overwrite, a delete, a schema change) rebuilds the copy in the
//! background, and the new copy replaces the old one atomically.
//!
//! **Never stale, never different.** A query uses the copy only when it
//! holds exactly the snapshot and schema the query's table lookup loaded
//! ([`Accelerations::provider`]); otherwise the query reads Iceberg as
//! without acceleration. The provider holds its copy for the whole query,
//! so a swap in between changes nothing it reads. Time travel always reads
//! Iceberg.
//!
//! **A time window** (`window = "90d"` on a timestamp column): the copy
//! holds the rows of the last 90 days as of its build; a scan unions them
//! with the snapshot's older rows read from Iceberg (filtered exactly, and
//! pruned by Iceberg's partition and column statistics, so a query on
//! recent data opens no file). The window moves on by a rebuild once it
//! lags by a tenth of its span.
//!
//! **Bounded.** A copy that would exceed its budget is dropped while being
//! read (state `over_budget`; the table is served from Iceberg) and tried
//! again only at the next snapshot. After a restart the copies are rebuilt
//! in the background (state `loading`, with rows read so far) while queries
//! read Iceberg. `system.runtime.accelerations` ([`Accelerations::table`])
//! shows every entry's state.

mod resident;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use resident::{
    AcceleratedScanExec, AcceleratedTable, BuildError, CHUNK_ROWS, Layout, Resident, Window,
};

use crate::storage::ObjectStoreStorage;
use crate::table::IcebergTable;

/// How often each accelerated table's metadata is checked for a new snapshot.
pub const POLL: Duration = Duration::from_millis(500);

/// One `[[accelerate]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The table (namespace and name).
    pub table: TableIdent,
    /// Columns and sort key.
    pub layout: Layout,
    /// Most bytes of host memory the copy may take.
    pub host_memory: usize,
}

impl Spec {
    /// The entry `request` asks for `table`; without a budget of its own it
    /// gets `default_host_memory`.
    pub fn from_request(
        table: TableIdent,
        request: contango_common::AccelerationRequest,
        default_host_memory: usize,
    ) -> Self {
        Self {
            table,
            layout: Layout {
                columns: request.columns,
                sort: request.sort,
                window: request.window.map(|(column, span)| Window { column, span }),
            },
            host_memory: request.host_memory.map_or(default_host_memory, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        }
    }
}

/// An entry's state, as `system.runtime.accelerations` shows it.
#[derive(Debug, Clone, Default)]
struct Status {
    /// `loading`, `ready`, `refreshing`, `over_budget`, `failed`, `missing`.
    state: &'static str,
    /// Rows read by the build in progress.
    loading_rows: usize,
    last_refresh_ms: Option<i64>,
    last_refresh_seconds: Option<f64>,
    refreshes: i64,
    rebuilds: i64,
    error: Option<String>,
    /// The snapshot found over budget (not tried again until it changes).
    over_budget_at: Option<Option<i64>>,
}

/// One accelerated table.
#[derive(Debug)]
struct Accelerated {
    spec: Spec,
    copy: Mutex<Option<Arc<Resident>>>,
    status: Mutex<Status>,
    wake: Notify,
    /// Its refresh task, aborted when the entry is replaced or dropped.
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Accelerated {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// Where refresh tasks read from, once started.
#[derive(Debug, Clone)]
struct Source {
    catalog: Arc<dyn Catalog>,
    storage: Option<Arc<ObjectStoreStorage>>,
}

/// Every accelerated table of a catalog: the `[[accelerate]]` entries, and
/// those added or dropped at run time (`CALL system.runtime.accelerate`).
#[derive(Debug, Default)]
pub struct Accelerations {
    tables: parking_lot::RwLock<HashMap<TableIdent, Arc<Accelerated>>>,
    source: Mutex<Option<Source>>,
    /// The budget of an entry asking for none.
    default_host_memory: usize,
}

impl Accelerations {
    /// The entries of `specs` (started by [`start`](Self::start)); entries
    /// added later without a budget get `default_host_memory`.
    pub fn new(specs: Vec<Spec>, default_host_memory: usize) -> Self {
        let this = Self {
            default_host_memory,
            ..Self::default()
        };
        for spec in specs {
            this.insert(spec);
        }
        this
    }

    /// The budget of an entry asking for none.
    pub fn default_host_memory(&self) -> usize {
        self.default_host_memory
    }

    /// Starts one refresh task per table on the current Tokio runtime
    /// (and, from now on, one for each table added).
    pub fn start(&self, catalog: Arc<dyn Catalog>, storage: Option<Arc<ObjectStoreStorage>>) {
        let source = Source { catalog, storage };
        *self.source.lock() = Some(source.clone());
        for entry in self.tables.read().values() {
            spawn(entry, &source);
        }
    }

    /// Accelerates `spec.table` as `spec` says, replacing an earlier entry
    /// for it (whose copy is dropped). Returns whether there was one.
    pub fn insert(&self, spec: Spec) -> bool {
        let entry = Arc::new(Accelerated {
            spec,
            copy: Mutex::default(),
            status: Mutex::new(Status {
                state: "loading",
                ..Status::default()
            }),
            wake: Notify::new(),
            task: Mutex::default(),
        });
        if let Some(source) = self.source.lock().as_ref() {
            spawn(&entry, source);
        }
        let before = self.tables.write().insert(entry.spec.table.clone(), entry);
        before.is_some()
    }

    /// Stops accelerating `table` (its copy is dropped once the queries
    /// using it end). Returns whether it was accelerated.
    pub fn remove(&self, table: &TableIdent) -> bool {
        self.tables.write().remove(table).is_some()
    }

    /// The provider of `table` (just loaded for a query; `iceberg` is its
    /// Iceberg provider) and its read version: the copy in memory when it
    /// holds exactly that snapshot and schema, else `iceberg` (and a copy
    /// behind is woken to refresh).
    pub fn provider(
        &self,
        table: &Table,
        iceberg: IcebergTable,
    ) -> (Arc<dyn TableProvider>, Option<String>) {
        let version = iceberg.read_version();
        let Some(entry) = self.tables.read().get(table.identifier()).cloned() else {
            return (Arc::new(iceberg), version);
        };
        let copy = entry.copy.lock().clone();
        match copy {
            Some(copy) if copy.matches(table) => {
                let name = table.identifier().to_string();
                (
                    Arc::new(AcceleratedTable::new(name, copy, iceberg)),
                    version,
                )
            }
            _ => {
                entry.wake.notify_one();
                (Arc::new(iceberg), version)
            }
        }
    }

    /// `system.runtime.accelerations`.
    pub fn table(self: &Arc<Self>) -> Arc<dyn TableProvider> {
        Arc::new(AccelerationsTable {
            accelerations: self.clone(),
        })
    }
}

/// Starts `entry`'s refresh task. The task holds the entry weakly: it ends
/// once the entry is dropped (and is aborted then too).
fn spawn(entry: &Arc<Accelerated>, source: &Source) {
    let weak = Arc::downgrade(entry);
    let source = source.clone();
    let task = tokio::spawn(async move { Accelerated::run(weak, source).await });
    *entry.task.lock() = Some(task.abort_handle());
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Accelerated {
    async fn run(entry: std::sync::Weak<Self>, source: Source) {
        loop {
            let Some(this) = entry.upgrade() else { return };
            this.refresh_once(source.catalog.as_ref(), source.storage.clone())
                .await;
            let _ = tokio::time::timeout(POLL, this.wake.notified()).await;
        }
    }

    async fn refresh_once(&self, catalog: &dyn Catalog, storage: Option<Arc<ObjectStoreStorage>>) {
        let table = match catalog.load_table(&self.spec.table).await {
            Ok(table) => table,
            Err(e) if e.kind() == iceberg::ErrorKind::TableNotFound => {
                *self.copy.lock() = None;
                let mut status = self.status.lock();
                status.state = "missing";
                status.error = Some(format!("table {} does not exist", self.spec.table));
                return;
            }
            Err(e) => {
                // The copy is served only where it matches what a query
                // loaded, so keeping it is safe.
                self.status.lock().error =
                    Some(format!("loading the table's metadata failed: {e}"));
                return;
            }
        };
        let mut current = self.copy.lock().clone();
        if current.as_ref().is_some_and(|c| c.matches(&table)) {
            if !current
                .as_ref()
                .is_some_and(|c| c.window_is_stale(&self.spec.layout))
            {
                return;
            }
            // The window moves on: rebuild from the same snapshot.
            current = None;
        }
        let snapshot = table.metadata().current_snapshot_id();
        if self.status.lock().over_budget_at == Some(snapshot) {
            return;
        }
        let started = Instant::now();
        {
            let mut status = self.status.lock();
            status.state = if current.is_some() {
                "refreshing"
            } else {
                "loading"
            };
            status.loading_rows = 0;
        }
        let budget = self.spec.host_memory;
        let extended = match &current {
            Some(copy) => copy.extend(&table, &self.spec.layout, budget).await,
            None => Ok(None),
        };
        let (outcome, rebuilt) = match extended {
            Ok(Some(copy)) => (Ok(copy), false),
            Ok(None) => {
                let progress = |rows: usize| self.status.lock().loading_rows = rows;
                (
                    Resident::build(&table, storage, &self.spec.layout, budget, &progress).await,
                    true,
                )
            }
            Err(e) => (Err(e), false),
        };
        let mut status = self.status.lock();
        status.loading_rows = 0;
        match outcome {
            Ok(copy) => {
                *self.copy.lock() = Some(Arc::new(copy));
                status.state = "ready";
                status.error = None;
                status.over_budget_at = None;
                status.refreshes += 1;
                status.rebuilds += i64::from(rebuilt);
                status.last_refresh_ms = Some(now_ms());
                status.last_refresh_seconds = Some(started.elapsed().as_secs_f64());
                METRICS.refreshes.inc();
            }
            Err(BuildError::OverBudget(bytes)) => {
                *self.copy.lock() = None;
                status.state = "over_budget";
                status.over_budget_at = Some(snapshot);
                status.error = Some(format!(
                    "the table needs more than its host memory budget of {} bytes ({bytes} bytes read before stopping); it is read from Iceberg",
                    self.spec.host_memory
                ));
            }
            Err(BuildError::Failed(e)) => {
                status.state = if self.copy.lock().is_some() {
                    "ready"
                } else {
                    "failed"
                };
                status.error = Some(format!(
                    "refresh failed (tried again at the next check): {e}"
                ));
                METRICS.failures.inc();
            }
        }
    }
}

struct Metrics {
    refreshes: prometheus::IntCounter,
    failures: prometheus::IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    use contango_common::metrics::register;
    Metrics {
        refreshes: register(
            prometheus::IntCounter::new(
                "contango_acceleration_refreshes_total",
                "Accelerated copies refreshed to a new snapshot (incrementally or rebuilt).",
            )
            .expect("valid counter"),
        ),
        failures: register(
            prometheus::IntCounter::new(
                "contango_acceleration_refresh_failures_total",
                "Refreshes of accelerated copies that failed (tried again at the next check).",
            )
            .expect("valid counter"),
        ),
    }
});

/// The schema of `system.runtime.accelerations`.
pub fn accelerations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("snapshot_id", DataType::Int64, true),
        Field::new("rows", DataType::Int64, false),
        Field::new("host_bytes", DataType::Int64, false),
        Field::new("device_bytes", DataType::Int64, false),
        Field::new("host_memory_budget", DataType::Int64, false),
        Field::new("chunks", DataType::Int64, false),
        Field::new("window_start", DataType::Utf8, true),
        Field::new("loading_rows", DataType::Int64, false),
        Field::new(
            "last_refresh",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("last_refresh_seconds", DataType::Float64, true),
        Field::new("refreshes", DataType::Int64, false),
        Field::new("rebuilds", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

#[derive(Debug)]
struct AccelerationsTable {
    accelerations: Arc<Accelerations>,
}

impl AccelerationsTable {
    fn batch(&self) -> DFResult<RecordBatch> {
        let mut name = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut snapshot = Int64Builder::new();
        let mut rows = Int64Builder::new();
        let mut host = Int64Builder::new();
        let mut device = Int64Builder::new();
        let mut budget = Int64Builder::new();
        let mut chunks = Int64Builder::new();
        let mut window = StringBuilder::new();
        let mut loading = Int64Builder::new();
        let mut last = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut seconds = Float64Builder::new();
        let mut refreshes = Int64Builder::new();
        let mut rebuilds = Int64Builder::new();
        let mut error = StringBuilder::new();
        let mut entries: Vec<_> = self.accelerations.tables.read().values().cloned().collect();
        entries.sort_by_key(|e| e.spec.table.to_string());
        for e in entries {
            let copy = e.copy.lock().clone();
            let s = e.status.lock().clone();
            name.append_value(e.spec.table.to_string());
            state.append_value(s.state);
            snapshot.append_option(copy.as_ref().and_then(|c| c.snapshot_id));
            rows.append_value(copy.as_ref().map_or(0, |c| c.rows() as i64));
            host.append_value(copy.as_ref().map_or(0, |c| c.bytes() as i64));
            device.append_value(0);
            budget.append_value(i64::try_from(e.spec.host_memory).unwrap_or(i64::MAX));
            chunks.append_value(copy.as_ref().map_or(0, |c| c.chunks() as i64));
            window.append_option(copy.as_ref().and_then(|c| c.window_start()));
            loading.append_value(s.loading_rows as i64);
            last.append_option(s.last_refresh_ms);
            seconds.append_option(s.last_refresh_seconds);
            refreshes.append_value(s.refreshes);
            rebuilds.append_value(s.rebuilds);
            error.append_option(s.error);
        }
        Ok(RecordBatch::try_new(
            accelerations_schema(),
            vec![
                Arc::new(name.finish()),
                Arc::new(state.finish()),
                Arc::new(snapshot.finish()),
                Arc::new(rows.finish()),
                Arc::new(host.finish()),
                Arc::new(device.finish()),
                Arc::new(budget.finish()),
                Arc::new(chunks.finish()),
                Arc::new(window.finish()),
                Arc::new(loading.finish()),
                Arc::new(last.finish()),
                Arc::new(seconds.finish()),
                Arc::new(refreshes.finish()),
                Arc::new(rebuilds.finish()),
                Arc::new(error.finish()),
            ],
        )?)
    }
}

#[async_trait]
impl TableProvider for AccelerationsTable {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        accelerations_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let table = MemTable::try_new(accelerations_schema(), vec![vec![self.batch()?]])?;
        table.scan(state, projection, filters, limit).await
    }
}
