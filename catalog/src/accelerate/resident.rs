//! A table's rows held in memory at one snapshot, and the provider that
//! scans them.
//!
//! [`Resident`] holds the rows of one snapshot (all columns, or the
//! configured subset) sorted by the cluster key, in chunks of
//! [`CHUNK_ROWS`] rows, each with the min/max/null count of every column.
//! A scan prunes chunks with DataFusion's `PruningPredicate` over those
//! statistics, so on data sorted by `(commodity, ts)` a filter on the key
//! and a time range reads a few chunks (a range lookup) instead of the
//! table. Filters stay `Inexact` (DataFusion re-applies them), so pruning
//! never changes a result.
//!
//! It is built from Iceberg two ways, both reading exactly the snapshot:
//! [`Resident::build`] reads the whole snapshot through [`IcebergTable`]
//! (the same reader queries use, delete files and evolved schemas
//! included) and sorts it; [`Resident::extend`] adds only the data files a
//! later snapshot added, read by Iceberg's reader, when that snapshot kept
//! every file held, has no delete files and the same schema (any other
//! change, such as compaction, an overwrite or a row-level delete, needs a
//! full build).

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningStatistics};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::{SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};
use iceberg::table::Table;

use crate::storage::ObjectStoreStorage;
use crate::table::IcebergTable;

/// Rows per chunk: the unit of pruning and of parallelism.
pub const CHUNK_ROWS: usize = 64 * 1024;

/// What to hold of a table and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Columns held (empty: all).
    pub columns: Vec<String>,
    /// Sort (cluster) key, e.g. `commodity, ts`.
    pub sort: Vec<String>,
    /// Hold only the rows of the last `span` by `column` (older rows are
    /// read from Iceberg).
    pub window: Option<Window>,
}

/// A time window: the rows whose `column` is at most `span` old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// A timestamp or date column.
    pub column: String,
    /// How far back.
    pub span: std::time::Duration,
}

/// Where a copy's window starts: rows with `column >= start` are held.
#[derive(Debug, Clone)]
struct Cut {
    /// Index of the window column in the table schema.
    column: usize,
    /// The first value held, in the column's type.
    start: ScalarValue,
    /// When `start` was computed (the window is moved on by rebuilding).
    at: std::time::SystemTime,
}

impl Cut {
    fn new(schema: &SchemaRef, window: &Window) -> DFResult<Self> {
        let column = schema.index_of(&window.column).map_err(|_| {
            DataFusionError::Plan(format!(
                "window column '{}' is not in the table",
                window.column
            ))
        })?;
        let at = std::time::SystemTime::now();
        let since_epoch = at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(window.span);
        let nanos = i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX);
        let start = ScalarValue::TimestampNanosecond(Some(nanos), Some("UTC".into()))
            .cast_to(schema.field(column).data_type())
            .map_err(|_| {
                DataFusionError::Plan(format!(
                    "window column '{}' must be a timestamp or a date, not {}",
                    window.column,
                    schema.field(column).data_type()
                ))
            })?;
        Ok(Self { column, start, at })
    }

    fn name<'a>(&self, schema: &'a SchemaRef) -> &'a str {
        schema.field(self.column).name()
    }
}

/// Why a build stopped.
#[derive(Debug)]
pub enum BuildError {
    /// The rows need more than the budget (bytes counted so far).
    OverBudget(usize),
    /// Reading or sorting failed.
    Failed(DataFusionError),
}

impl From<DataFusionError> for BuildError {
    fn from(e: DataFusionError) -> Self {
        BuildError::Failed(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for BuildError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        BuildError::Failed(e.into())
    }
}

impl From<iceberg::Error> for BuildError {
    fn from(e: iceberg::Error) -> Self {
        BuildError::Failed(DataFusionError::External(Box::new(e)))
    }
}

/// One snapshot of a table, in memory.
#[derive(Debug)]
pub struct Resident {
    /// The snapshot held (`None`: the table has none yet).
    pub snapshot_id: Option<i64>,
    /// The table schema it was read with.
    pub schema_id: i32,
    /// The table's full schema (what clients see).
    table_schema: SchemaRef,
    /// Index in `table_schema` of each column held, in chunk order.
    held: Vec<usize>,
    /// Schema of the chunks (the held columns).
    chunk_schema: SchemaRef,
    chunks: Vec<Chunk>,
    /// Data files of the snapshot (for incremental refresh).
    files: HashSet<String>,
    /// The snapshot has delete files (no incremental refresh from it).
    has_deletes: bool,
    /// The time window held (`None`: every row).
    cut: Option<Cut>,
}

#[derive(Debug, Clone)]
struct Chunk {
    batch: RecordBatch,
    /// Per held column: min, max, null count.
    min: Vec<ScalarValue>,
    max: Vec<ScalarValue>,
    nulls: Vec<u64>,
}

impl Chunk {
    fn new(batch: RecordBatch) -> Self {
        use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
        use datafusion::logical_expr::Accumulator;
        // A type without min/max gets a NULL bound: that chunk is never pruned on it.
        let unknown =
            |c: &ArrayRef| ScalarValue::try_from(c.data_type()).unwrap_or(ScalarValue::Null);
        let stat = |mut acc: Box<dyn Accumulator>, c: &ArrayRef| {
            acc.update_batch(std::slice::from_ref(c))
                .and_then(|()| acc.evaluate())
                .unwrap_or_else(|_| unknown(c))
        };
        let columns = batch.columns();
        Self {
            min: columns
                .iter()
                .map(|c| match MinAccumulator::try_new(c.data_type()) {
                    Ok(acc) => stat(Box::new(acc), c),
                    Err(_) => unknown(c),
                })
                .collect(),
            max: columns
                .iter()
                .map(|c| match MaxAccumulator::try_new(c.data_type()) {
                    Ok(acc) => stat(Box::new(acc), c),
                    Err(_) => unknown(c),
                })
                .collect(),
            nulls: columns.iter().map(|c| c.null_count() as u64).collect(),
            batch,
        }
    }
}

/// Splits sorted `batches` into chunks of [`CHUNK_ROWS`].
fn chunked(schema: &SchemaRef, batches: &[RecordBatch]) -> DFResult<Vec<Chunk>> {
    let mut chunker = Chunker::new(schema.clone());
    for batch in batches {
        chunker.push(batch)?;
    }
    chunker.finish()
}

/// Cuts sorted batches into chunks of [`CHUNK_ROWS`] as they arrive, so a
/// build holds at most one chunk's worth of batches besides the chunks.
struct Chunker {
    schema: SchemaRef,
    chunks: Vec<Chunk>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// Bytes of the chunks made so far.
    bytes: usize,
}

impl Chunker {
    fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            chunks: Vec::new(),
            pending: Vec::new(),
            pending_rows: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, batch: &RecordBatch) -> DFResult<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (CHUNK_ROWS - self.pending_rows).min(batch.num_rows() - offset);
            self.pending.push(batch.slice(offset, take));
            self.pending_rows += take;
            offset += take;
            if self.pending_rows == CHUNK_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> DFResult<()> {
        if self.pending_rows > 0 {
            let chunk = Chunk::new(concat_batches(&self.schema, self.pending.iter())?);
            self.bytes += chunk.batch.get_array_memory_size();
            self.chunks.push(chunk);
        }
        self.pending.clear();
        self.pending_rows = 0;
        Ok(())
    }

    fn finish(mut self) -> DFResult<Vec<Chunk>> {
        self.flush()?;
        Ok(self.chunks)
    }
}

/// The scan tasks of `table`'s current snapshot, reading `columns` (names
/// in the snapshot's schema; `None`: all), and whether any has deletes.
async fn snapshot_files(
    table: &Table,
    columns: Option<&SchemaRef>,
) -> Result<(Vec<iceberg::scan::FileScanTask>, bool), BuildError> {
    if table.metadata().current_snapshot().is_none() {
        return Ok((Vec::new(), false));
    }
    let mut scan = table.scan();
    if let Some(columns) = columns {
        scan = scan.select(columns.fields().iter().map(|f| f.name()));
    }
    let tasks: Vec<_> = scan.build()?.plan_files().await?.try_collect().await?;
    let deletes = tasks.iter().any(|t| !t.deletes.is_empty());
    Ok((tasks, deletes))
}

fn sort_key(schema: &SchemaRef, layout: &Layout) -> DFResult<Vec<usize>> {
    layout
        .sort
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| {
                DataFusionError::Plan(format!("sort column '{c}' is not a held column"))
            })
        })
        .collect()
}

impl Resident {
    /// Reads `table`'s current snapshot (the columns and order of
    /// `layout`), stopping with [`BuildError::OverBudget`] past `budget`
    /// bytes; `progress` is told the rows read so far.
    pub async fn build(
        table: &Table,
        storage: Option<Arc<ObjectStoreStorage>>,
        layout: &Layout,
        budget: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Self, BuildError> {
        let metadata = table.metadata();
        let mut provider = IcebergTable::try_new(table.clone()).await?;
        if let Some(storage) = storage {
            provider = provider.with_native_scan(storage);
        }
        let table_schema = provider.schema();
        let held = held_columns(&table_schema, layout)?;
        let cut = layout
            .window
            .as_ref()
            .map(|w| Cut::new(&table_schema, w))
            .transpose()?;
        let ctx = SessionContext::new();
        let mut frame = ctx.read_table(Arc::new(provider))?;
        if let Some(cut) = &cut {
            let column = col(format!("\"{}\"", cut.name(&table_schema)));
            frame = frame.filter(column.gt_eq(lit(cut.start.clone())))?;
        }
        if !layout.columns.is_empty() {
            let names: Vec<&str> = held
                .iter()
                .map(|i| table_schema.field(*i).name().as_str())
                .collect();
            frame = frame.select_columns(&names)?;
        }
        if !layout.sort.is_empty() {
            frame = frame.sort(
                layout
                    .sort
                    .iter()
                    .map(|c| col(format!("\"{c}\"")).sort(true, false))
                    .collect(),
            )?;
        }
        let chunk_schema = Arc::new(Schema::new(
            held.iter()
                .map(|i| table_schema.field(*i).clone())
                .collect::<Vec<_>>(),
        ));
        // Only the paths: the copy was read through `IcebergTable`, whose
        // schema may be newer than the snapshot's.
        let (files, has_deletes) = snapshot_files(table, None).await?;
        let mut stream = frame.execute_stream().await?;
        let mut chunker = Chunker::new(chunk_schema.clone());
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = RecordBatch::try_new(chunk_schema.clone(), batch?.columns().to_vec())?;
            rows += batch.num_rows();
            chunker.push(&batch)?;
            if chunker.bytes > budget {
                return Err(BuildError::OverBudget(chunker.bytes));
            }
            progress(rows);
        }
        let copy = Self {
            snapshot_id: metadata.current_snapshot_id(),
            schema_id: metadata.current_schema_id(),
            table_schema,
            held,
            chunk_schema,
            chunks: chunker.finish()?,
            files: files.into_iter().map(|t| t.data_file_path).collect(),
            has_deletes,
            cut,
        };
        if copy.bytes() > budget {
            return Err(BuildError::OverBudget(copy.bytes()));
        }
        Ok(copy)
    }

    /// This copy extended to `table`'s current snapshot by reading only the
    /// files it added; `Ok(None)` when that is not exact (files removed,
    /// delete files, another schema), and a full build is needed.
    pub async fn extend(
        &self,
        table: &Table,
        layout: &Layout,
        budget: usize,
    ) -> Result<Option<Self>, BuildError> {
        let metadata = table.metadata();
        if self.has_deletes || metadata.current_schema_id() != self.schema_id {
            return Ok(None);
        }
        // Same schema as the copy (checked above): the added files' tasks are
        // read projected to the held columns.
        let (tasks, has_deletes) = snapshot_files(table, Some(&self.chunk_schema)).await?;
        let paths: HashSet<String> = tasks.iter().map(|t| t.data_file_path.clone()).collect();
        if has_deletes || !self.files.is_subset(&paths) {
            return Ok(None);
        }
        // The added files' tasks (projected to the held columns).
        let tasks: Vec<_> = tasks
            .into_iter()
            .filter(|t| !self.files.contains(&t.data_file_path))
            .collect();
        let reader = iceberg::arrow::ArrowReaderBuilder::new(
            table.file_io().clone(),
            iceberg::Runtime::try_current()?,
        )
        .build();
        let stream = reader
            .read(futures::stream::iter(tasks.into_iter().map(Ok)).boxed())?
            .stream();
        let new: Vec<RecordBatch> = stream
            .map_err(|e| DataFusionError::External(Box::new(e)))
            .and_then(|b| {
                futures::future::ready(
                    crate::writer::conform_batch(&self.chunk_schema, &b)
                        .map_err(DataFusionError::from),
                )
            })
            .try_collect()
            .await?;
        let new = match &self.cut {
            Some(cut) => {
                let i = self
                    .held
                    .iter()
                    .position(|h| *h == cut.column)
                    .ok_or_else(|| DataFusionError::Internal("window column not held".into()))?;
                let start = cut.start.to_scalar()?;
                new.iter()
                    .map(|b| {
                        let keep =
                            datafusion::arrow::compute::kernels::cmp::gt_eq(b.column(i), &start)?;
                        datafusion::arrow::compute::filter_record_batch(b, &keep)
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => new,
        };
        let added_bytes: usize = new.iter().map(RecordBatch::get_array_memory_size).sum();
        if self.bytes() + added_bytes > budget {
            return Err(BuildError::OverBudget(self.bytes() + added_bytes));
        }
        let mut chunks = self.chunks.clone();
        if new.iter().any(|b| b.num_rows() > 0) {
            let all = concat_batches(&self.chunk_schema, new.iter())?;
            let sorted = if layout.sort.is_empty() {
                all
            } else {
                let key = sort_key(&self.chunk_schema, layout)?;
                let columns: Vec<SortColumn> = key
                    .iter()
                    .map(|i| SortColumn {
                        values: all.column(*i).clone(),
                        options: Some(datafusion::arrow::compute::SortOptions {
                            descending: false,
                            nulls_first: false,
                        }),
                    })
                    .collect();
                let order = lexsort_to_indices(&columns, None)?;
                take_record_batch(&all, &order)?
            };
            chunks.extend(chunked(&self.chunk_schema, &[sorted])?);
        }
        Ok(Some(Self {
            snapshot_id: metadata.current_snapshot_id(),
            schema_id: self.schema_id,
            table_schema: self.table_schema.clone(),
            held: self.held.clone(),
            chunk_schema: self.chunk_schema.clone(),
            chunks,
            files: paths,
            has_deletes: false,
            cut: self.cut.clone(),
        }))
    }

    /// The held chunks `filters` may match, and the predicate that chose them.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> DFResult<Pruned<'_>> {
        let resident = self;
        let all = || resident.chunks.iter().map(|c| &c.batch).collect();
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok(Pruned::new(all(), None));
        };
        let df_schema = DFSchema::try_from(resident.chunk_schema.as_ref().clone())?;
        let Ok(physical) = state.create_physical_expr(filter, &df_schema) else {
            return Ok(Pruned::new(all(), None));
        };
        let Ok(predicate) =
            PruningPredicate::try_new(physical.clone(), resident.chunk_schema.clone())
        else {
            return Ok(Pruned::new(all(), Some(physical)));
        };
        let keep = predicate.prune(&ChunkStatistics { resident })?;
        let kept = resident
            .chunks
            .iter()
            .zip(keep)
            .filter_map(|(c, k)| k.then_some(&c.batch))
            .collect();
        Ok(Pruned::new(kept, Some(physical)))
    }

    /// Whether this copy holds `table`'s current snapshot with its current schema.
    pub fn matches(&self, table: &Table) -> bool {
        let metadata = table.metadata();
        metadata.current_snapshot_id() == self.snapshot_id
            && metadata.current_schema_id() == self.schema_id
    }

    /// Whether the window should move on (a rebuild): its start lags the
    /// configured span by more than a tenth of it.
    pub fn window_is_stale(&self, layout: &Layout) -> bool {
        match (&self.cut, &layout.window) {
            (Some(cut), Some(window)) => cut.at.elapsed().is_ok_and(|age| age > window.span / 10),
            _ => false,
        }
    }

    /// The first value of the window held, as text (`None`: every row).
    pub fn window_start(&self) -> Option<String> {
        self.cut.as_ref().map(|c| c.start.to_string())
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.chunks.iter().map(|c| c.batch.num_rows()).sum()
    }

    /// Bytes held (Arrow buffers).
    pub fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.batch.get_array_memory_size())
            .sum()
    }

    /// Chunks held.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

fn held_columns(schema: &SchemaRef, layout: &Layout) -> DFResult<Vec<usize>> {
    let held: Vec<usize> = if layout.columns.is_empty() {
        (0..schema.fields().len()).collect()
    } else {
        layout
            .columns
            .iter()
            .map(|c| {
                schema.index_of(c).map_err(|_| {
                    DataFusionError::Plan(format!("accelerated column '{c}' is not in the table"))
                })
            })
            .collect::<DFResult<_>>()?
    };
    if let Some(w) = &layout.window {
        let i = schema.index_of(&w.column).map_err(|_| {
            DataFusionError::Plan(format!("window column '{}' is not in the table", w.column))
        })?;
        if !held.contains(&i) {
            return Err(DataFusionError::Plan(format!(
                "window column '{}' must be one of the accelerated columns",
                w.column
            )));
        }
    }
    for c in &layout.sort {
        let i = schema
            .index_of(c)
            .map_err(|_| DataFusionError::Plan(format!("sort column '{c}' is not in the table")))?;
        if !held.contains(&i) {
            return Err(DataFusionError::Plan(format!(
                "sort column '{c}' must be one of the accelerated columns"
            )));
        }
    }
    Ok(held)
}

/// Chunk statistics for `PruningPredicate`.
struct ChunkStatistics<'a> {
    resident: &'a Resident,
}

impl ChunkStatistics<'_> {
    fn column(&self, column: &Column) -> Option<usize> {
        self.resident.chunk_schema.index_of(&column.name).ok()
    }

    fn values(
        &self,
        column: &Column,
        pick: impl Fn(&Chunk, usize) -> ScalarValue,
    ) -> Option<ArrayRef> {
        let i = self.column(column)?;
        ScalarValue::iter_to_array(self.resident.chunks.iter().map(|c| pick(c, i))).ok()
    }
}

impl PruningStatistics for ChunkStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.values(column, |c, i| c.min[i].clone())
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.values(column, |c, i| c.max[i].clone())
    }

    fn num_containers(&self) -> usize {
        self.resident.chunks.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let i = self.column(column)?;
        Some(Arc::new(UInt64Array::from_iter_values(
            self.resident.chunks.iter().map(|c| c.nulls[i]),
        )))
    }

    fn row_counts(&self, _column: &Column) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from_iter_values(
            self.resident
                .chunks
                .iter()
                .map(|c| c.batch.num_rows() as u64),
        )))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// The provider of an accelerated table at the snapshot its copy holds:
/// scans whose columns are held read memory, others the Iceberg snapshot.
#[derive(Debug)]
pub struct AcceleratedTable {
    /// `namespace.table`, for EXPLAIN.
    name: String,
    resident: Arc<Resident>,
    /// The same snapshot in Iceberg (columns not held).
    iceberg: IcebergTable,
}

impl AcceleratedTable {
    /// Serves `resident`, which holds `iceberg`'s snapshot of table `name`.
    pub fn new(name: String, resident: Arc<Resident>, iceberg: IcebergTable) -> Self {
        Self {
            name,
            resident,
            iceberg,
        }
    }

    /// The Iceberg snapshot's version: the rows are the same.
    pub fn read_version(&self) -> Option<String> {
        self.iceberg.read_version()
    }
}

/// The chunks a scan reads and the predicate that chose them.
struct Pruned<'a> {
    chunks: Vec<&'a RecordBatch>,
    predicate: Option<Arc<dyn PhysicalExpr>>,
}

impl<'a> Pruned<'a> {
    fn new(chunks: Vec<&'a RecordBatch>, predicate: Option<Arc<dyn PhysicalExpr>>) -> Self {
        Self { chunks, predicate }
    }
}

/// The scan of an accelerated table's memory: the chunks its filters may
/// match, read by DataFusion's memory scan (the child). EXPLAIN shows the
/// table, the snapshot, how many chunks the filters kept and the predicate.
#[derive(Debug)]
pub struct AcceleratedScanExec {
    table: String,
    snapshot_id: Option<i64>,
    kept: usize,
    chunks: usize,
    predicate: Option<Arc<dyn PhysicalExpr>>,
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for AcceleratedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AcceleratedScanExec: table={}", self.table)?;
        if let Some(id) = self.snapshot_id {
            write!(f, ", snapshot={id}")?;
        }
        write!(f, ", chunks={} of {}", self.kept, self.chunks)?;
        if let Some(p) = &self.predicate {
            write!(f, ", predicate={p}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for AcceleratedScanExec {
    fn name(&self) -> &str {
        "AcceleratedScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("AcceleratedScanExec has one child".into()))?;
        Ok(Arc::new(Self {
            table: self.table.clone(),
            snapshot_id: self.snapshot_id,
            kept: self.kept,
            chunks: self.chunks,
            predicate: self.predicate.clone(),
            input,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DFResult<Statistics> {
        self.input.partition_statistics(partition)
    }
}

#[async_trait]
impl TableProvider for AcceleratedTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.resident.table_schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        // With a window, older rows are in Iceberg only.
        if self.resident.cut.is_some() {
            return None;
        }
        let mut stats = Statistics::new_unknown(&self.resident.table_schema);
        stats.num_rows = Precision::Exact(self.resident.rows());
        Some(stats)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let resident = &self.resident;
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..resident.table_schema.fields().len()).collect(),
        };
        // Each wanted column's place among the held ones.
        let mapped: Option<Vec<usize>> = wanted
            .iter()
            .map(|i| resident.held.iter().position(|h| h == i))
            .collect();
        let Some(mapped) = mapped else {
            // A column not held: the snapshot from Iceberg (the same rows).
            let iceberg_filters: Vec<Expr> = filters.to_vec();
            return self
                .iceberg
                .scan(state, projection, &iceberg_filters, limit)
                .await;
        };
        let Pruned { chunks, predicate } = resident.prune(state, filters)?;
        let kept = chunks.len();
        let parts = state
            .config()
            .target_partitions()
            .max(1)
            .min(chunks.len().max(1));
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
        for (i, batch) in chunks.into_iter().enumerate() {
            partitions[i % parts].push(batch.clone());
        }
        // With a window, a limit applies to the union, not to memory alone.
        let memory_limit = if resident.cut.is_some() { None } else { limit };
        let source =
            MemorySourceConfig::try_new(&partitions, resident.chunk_schema.clone(), Some(mapped))?
                .with_limit(memory_limit);
        let memory: Arc<dyn ExecutionPlan> = Arc::new(AcceleratedScanExec {
            table: self.name.clone(),
            snapshot_id: resident.snapshot_id,
            kept,
            chunks: resident.chunks.len(),
            predicate,
            input: datafusion::datasource::source::DataSourceExec::from_data_source(source),
        });
        let Some(cut) = &resident.cut else {
            return Ok(memory);
        };
        // Rows before the window: the same snapshot from Iceberg, filtered
        // exactly (pushed filters are only hints to the Iceberg scan).
        let older = self.older_than_window(state, cut, &wanted, filters).await?;
        datafusion::physical_plan::union::UnionExec::try_new(vec![memory, older])
    }
}

impl AcceleratedTable {
    /// The snapshot's rows with the window column before the window's
    /// start, read from Iceberg, as the columns `wanted`.
    async fn older_than_window(
        &self,
        state: &dyn Session,
        cut: &Cut,
        wanted: &[usize],
        filters: &[Expr],
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        use datafusion::physical_plan::filter::FilterExec;
        use datafusion::physical_plan::projection::ProjectionExec;

        let schema = &self.resident.table_schema;
        let before = col(format!("\"{}\"", cut.name(schema))).lt(lit(cut.start.clone()));
        let mut read = wanted.to_vec();
        if !read.contains(&cut.column) {
            read.push(cut.column);
        }
        let mut pushed = filters.to_vec();
        pushed.push(before.clone());
        let scan = self.iceberg.scan(state, Some(&read), &pushed, None).await?;
        let scanned = scan.schema();
        let df_schema = DFSchema::try_from(scanned.as_ref().clone())?;
        let predicate = state.create_physical_expr(before, &df_schema)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, scan)?);
        if read.len() == wanted.len() {
            return Ok(filtered);
        }
        let columns: Vec<(Arc<dyn PhysicalExpr>, String)> = (0..wanted.len())
            .map(|i| {
                let name = scanned.field(i).name().clone();
                let column: Arc<dyn PhysicalExpr> = Arc::new(
                    datafusion::physical_expr::expressions::Column::new(&name, i),
                );
                (column, name)
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(columns, filtered)?))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::prelude::lit;

    use super::*;

    /// `n` rows sorted by (k, t): k cycles through A..D in blocks, t = row number.
    fn resident(n: usize) -> Resident {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("t", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let keys: Vec<&str> = (0..n).map(|i| ["A", "B", "C", "D"][i * 4 / n]).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(keys)),
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
                Arc::new(Int64Array::from_iter(
                    (0..n as i64).map(|i| (i % 7 != 0).then_some(i)),
                )),
            ],
        )
        .unwrap();
        // Arrive in odd-sized batches, as a scan delivers them.
        let batches: Vec<RecordBatch> = (0..n)
            .step_by(10_007)
            .map(|o| batch.slice(o, 10_007.min(n - o)))
            .collect();
        Resident {
            snapshot_id: Some(1),
            schema_id: 0,
            table_schema: schema.clone(),
            held: vec![0, 1, 2],
            chunk_schema: schema.clone(),
            chunks: chunked(&schema, &batches).unwrap(),
            files: HashSet::new(),
            has_deletes: false,
            cut: None,
        }
    }

    #[test]
    fn rows_are_cut_into_full_chunks_with_their_bounds() {
        let r = resident(4 * CHUNK_ROWS + 5);
        assert_eq!(r.rows(), 4 * CHUNK_ROWS + 5);
        let sizes: Vec<usize> = r.chunks.iter().map(|c| c.batch.num_rows()).collect();
        assert_eq!(
            sizes,
            vec![CHUNK_ROWS, CHUNK_ROWS, CHUNK_ROWS, CHUNK_ROWS, 5]
        );
        let second = &r.chunks[1];
        assert_eq!(second.min[1], ScalarValue::Int64(Some(CHUNK_ROWS as i64)));
        assert_eq!(
            second.max[1],
            ScalarValue::Int64(Some(2 * CHUNK_ROWS as i64 - 1))
        );
        // Every 7th v is NULL.
        let nulls = (CHUNK_ROWS..2 * CHUNK_ROWS).filter(|i| i % 7 == 0).count() as u64;
        assert_eq!(second.nulls[2], nulls);
    }

    #[test]
    fn filters_on_the_sort_key_keep_only_the_chunks_that_may_match() {
        let r = resident(8 * CHUNK_ROWS);
        let ctx = SessionContext::new();
        let state = ctx.state();
        let kept = |filters: Vec<Expr>| r.prune(&state, &filters).unwrap().chunks.len();
        assert_eq!(kept(vec![]), 8);
        // k = 'C' is rows 4..6 chunks; with a range on t, one chunk.
        assert_eq!(kept(vec![col("k").eq(lit("C"))]), 2);
        let t0 = 5 * CHUNK_ROWS as i64 + 10;
        assert_eq!(
            kept(vec![
                col("k").eq(lit("C")),
                col("t").gt_eq(lit(t0)),
                col("t").lt(lit(t0 + 100))
            ]),
            1
        );
        assert_eq!(kept(vec![col("k").eq(lit("Z"))]), 0);
        // A filter the statistics cannot decide keeps everything.
        assert_eq!(kept(vec![(col("t") % lit(2i64)).eq(lit(0i64))]), 8);
    }
}
