//! `GpuAggregateExec`: a grouped aggregation whose accumulators live on the
//! GPU (or in the CPU reference kernels). Each input partition interns its
//! group keys to local dense ids with DataFusion's `GroupValues` and evaluates
//! the argument columns on its own task; the operator maps local ids to
//! global ones through the keys of newly seen groups and ships chunks of about
//! `gpu_chunk_rows` rows, so device memory stays bounded. If the device fails (memory exhausted, driver
//! error), the input is executed again on the CPU reference kernels: the
//! query never fails because of the GPU.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use contango_gpu_kernels::cpu::CpuAggregator;
use contango_gpu_kernels::{AggChunk, AggColumn, AggInput, AggOp, Aggregator, Gpu};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, UInt32Array,
    UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::common::runtime::SpawnedTask;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::aggregates::group_values::new_group_values;
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::options::GpuMode;

/// One aggregate of the node: the kernel op and the indexes of its inputs in
/// the node's distinct value / key / filter expressions.
#[derive(Debug, Clone)]
pub struct GpuAgg {
    /// Kernel op.
    pub op: AggOp,
    /// Display name (`max(price)`).
    pub name: String,
    /// Index of the value expression (`None`: count(*)).
    pub value: Option<usize>,
    /// Index of the weight expression (VWAP).
    pub weight: Option<usize>,
    /// Index of the order key expression (first/last).
    pub key: Option<usize>,
    /// Index of the FILTER (WHERE ...) expression.
    pub filter: Option<usize>,
    /// Rows with a NULL value are not candidates (first/last IGNORE NULLS).
    pub ignore_nulls: bool,
}

/// Everything the node evaluates per input batch.
#[derive(Debug, Clone)]
pub struct GpuAggSpec {
    /// Group expressions and output names.
    pub group_by: Vec<(Arc<dyn PhysicalExpr>, String)>,
    /// Distinct value expressions (cast to DOUBLE).
    pub values: Vec<Arc<dyn PhysicalExpr>>,
    /// Distinct order key expressions (cast to BIGINT).
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Distinct filter expressions (BOOLEAN).
    pub filters: Vec<Arc<dyn PhysicalExpr>>,
    /// The aggregates, in output order.
    pub aggs: Vec<GpuAgg>,
}

/// The placement the planner chose.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Session mode.
    pub mode: GpuMode,
    /// `auto` threshold.
    pub min_rows: u64,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// The device (None: CPU reference kernels).
    pub gpu: Option<Arc<Gpu>>,
    /// Device bytes one aggregation may take (0: no limit but the device's).
    pub memory_limit: u64,
}

impl Placement {
    /// "NVIDIA H200" or "cpu reference".
    pub fn device_label(&self) -> String {
        match &self.gpu {
            Some(g) => g.name().to_string(),
            None => "none: CPU reference kernels".into(),
        }
    }
}

/// Rows and fallbacks of a GPU operator, for EXPLAIN ANALYZE.
pub struct DeviceMetrics {
    /// Output rows and compute time.
    pub baseline: BaselineMetrics,
    /// Rows the device processed.
    pub gpu_rows: Count,
    /// Rows the CPU references processed.
    pub cpu_rows: Count,
    /// Times the device failed and the CPU took over.
    pub fallbacks: Count,
    /// Host time preparing the device's input (interning keys, evaluating
    /// arguments, gathering series); part of `elapsed_compute`.
    pub prepare_time: Time,
    /// Time in the device's work (transfers, kernels, results) or the CPU
    /// references' in its place; part of `elapsed_compute`.
    pub device_time: Time,
}

impl DeviceMetrics {
    /// `rows` processed by the device in `seconds` (also counted process-wide).
    pub fn on_gpu(&self, rows: usize, seconds: f64) {
        self.gpu_rows.add(rows);
        super::stats::record_gpu(rows, seconds);
    }

    /// `rows` processed by the CPU references.
    pub fn on_cpu(&self, rows: usize) {
        self.cpu_rows.add(rows);
        super::stats::record_cpu(rows);
    }

    /// The device failed and the CPU takes over.
    pub fn fallback(&self) {
        self.fallbacks.add(1);
        super::stats::record_fallback();
    }

    /// The metrics of `partition` in `set`.
    pub fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        Self {
            baseline: BaselineMetrics::new(set, partition),
            gpu_rows: MetricBuilder::new(set).counter("rows_on_gpu", partition),
            cpu_rows: MetricBuilder::new(set).counter("rows_on_cpu", partition),
            fallbacks: MetricBuilder::new(set).counter("gpu_fallbacks", partition),
            prepare_time: MetricBuilder::new(set).subset_time("prepare_time", partition),
            device_time: MetricBuilder::new(set).subset_time("device_time", partition),
        }
    }
}

/// Grouped aggregation on the GPU (see the module docs).
#[derive(Debug)]
pub struct GpuAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<GpuAggSpec>,
    placement: Placement,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl GpuAggregateExec {
    /// A node over `input` (one partition) producing `schema`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        spec: GpuAggSpec,
        placement: Placement,
        schema: SchemaRef,
    ) -> Self {
        let props = super::one_final_partition(&schema);
        Self {
            input,
            spec: Arc::new(spec),
            placement,
            schema,
            props,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The placement (device, mode).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }
}

impl DisplayAs for GpuAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gby: Vec<&str> = self.spec.group_by.iter().map(|(_, n)| n.as_str()).collect();
        let aggs: Vec<&str> = self.spec.aggs.iter().map(|a| a.name.as_str()).collect();
        write!(
            f,
            "GpuAggregateExec: device={}, gpu={}",
            self.placement.device_label(),
            self.placement.mode.name()
        )?;
        if self.placement.mode == GpuMode::Auto {
            write!(f, " (CPU below {} rows)", self.placement.min_rows)?;
        }
        write!(
            f,
            ", chunk_rows={}, gby=[{}], aggr=[{}]",
            self.placement.chunk_rows,
            gby.join(", "),
            aggs.join(", ")
        )
    }
}

impl ExecutionPlan for GpuAggregateExec {
    fn name(&self) -> &str {
        "GpuAggregateExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(GpuAggregateExec {
            input: children.remove(0),
            spec: self.spec.clone(),
            placement: self.placement.clone(),
            schema: self.schema.clone(),
            props: self.props.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "GpuAggregateExec has one partition, asked for {partition}"
            )));
        }
        let run = Run {
            input: self.input.clone(),
            spec: self.spec.clone(),
            placement: self.placement.clone(),
            schema: self.schema.clone(),
            metrics: DeviceMetrics::new(&self.metrics, partition),
        };
        let stream = futures::stream::once(async move { run.execute(context).await });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

struct Run {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<GpuAggSpec>,
    placement: Placement,
    schema: SchemaRef,
    metrics: DeviceMetrics,
}

/// Host buffers of one chunk.
#[derive(Default)]
struct Chunk {
    groups: Vec<u32>,
    values: Vec<(Vec<f64>, Vec<u8>)>,
    keys: Vec<(Vec<i64>, Vec<u8>)>,
    filters: Vec<Vec<u8>>,
}

impl Chunk {
    fn new(spec: &GpuAggSpec) -> Self {
        Chunk {
            groups: Vec::new(),
            values: vec![Default::default(); spec.values.len()],
            keys: vec![Default::default(); spec.keys.len()],
            filters: vec![Vec::new(); spec.filters.len()],
        }
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// Adds `batch`: local group ids (`groups`; none for a global aggregate),
    /// the keys of groups it saw first (pushed to `new_keys`), and every
    /// argument column.
    fn append(
        &mut self,
        spec: &GpuAggSpec,
        batch: &RecordBatch,
        groups: Option<
            &mut Box<dyn datafusion::physical_plan::aggregates::group_values::GroupValues>,
        >,
        ids: &mut Vec<usize>,
        new_keys: &mut Vec<Vec<ArrayRef>>,
    ) -> DFResult<()> {
        let n = batch.num_rows();
        match groups {
            Some(g) => {
                let keys = spec
                    .group_by
                    .iter()
                    .map(|(e, _)| e.evaluate(batch)?.into_array(n))
                    .collect::<DFResult<Vec<ArrayRef>>>()?;
                let before = g.len();
                let interned = super::intern::intern(g.as_mut(), &keys, n, ids)?;
                let after = g.len();
                if after > u32::MAX as usize {
                    return Err(DataFusionError::ResourcesExhausted(
                        "more than 2^32 groups".into(),
                    ));
                }
                if after > before {
                    // New ids are handed out in order of first occurrence.
                    let idx = UInt32Array::from(interned.first_rows(before, after - before));
                    new_keys.push(
                        keys.iter()
                            .map(|k| Ok(datafusion::arrow::compute::take(k, &idx, None)?))
                            .collect::<DFResult<_>>()?,
                    );
                }
                interned.extend_row_ids(&mut self.groups);
            }
            None => self.groups.extend(std::iter::repeat_n(0u32, n)),
        }
        for (e, (vals, valid)) in spec.values.iter().zip(self.values.iter_mut()) {
            let a = cast(&e.evaluate(batch)?.into_array(n)?, &DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            vals.extend_from_slice(a.values());
            contango_common::columns::extend_validity(a, valid);
        }
        for (e, (vals, valid)) in spec.keys.iter().zip(self.keys.iter_mut()) {
            let a = contango_common::columns::time_micros(&e.evaluate(batch)?.into_array(n)?)?;
            let a = a.as_primitive::<Int64Type>();
            vals.extend_from_slice(a.values());
            contango_common::columns::extend_validity(a, valid);
        }
        for (e, out) in spec.filters.iter().zip(self.filters.iter_mut()) {
            let a = e.evaluate(batch)?.into_array(n)?;
            let b: &BooleanArray = a.as_boolean();
            out.extend((0..n).map(|i| (b.is_valid(i) && b.value(i)) as u8));
        }
        Ok(())
    }
}

/// Validity bytes, borrowed from a column when unchanged.
type Validity<'a> = Cow<'a, [u8]>;

fn and(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x & y).collect()
}

enum Outcome {
    Done(RecordBatch),
    /// The device failed: start again on the CPU.
    DeviceFailed(String),
}

impl Run {
    async fn execute(self, context: Arc<TaskContext>) -> DFResult<RecordBatch> {
        let use_gpu = self.placement.gpu.is_some();
        let outcome = self.attempt(context.clone(), use_gpu).await?;
        let batch = match outcome {
            Outcome::Done(b) => b,
            Outcome::DeviceFailed(reason) => {
                tracing::warn!("GPU aggregation failed ({reason}); running it on the CPU");
                self.metrics.fallback();
                match self.attempt(context, false).await? {
                    Outcome::Done(b) => b,
                    Outcome::DeviceFailed(r) => return Err(DataFusionError::Execution(r)),
                }
            }
        };
        self.metrics.baseline.record_output(batch.num_rows());
        self.metrics.baseline.done();
        Ok(batch)
    }

    async fn attempt(&self, context: Arc<TaskContext>, use_gpu: bool) -> DFResult<Outcome> {
        let spec = &self.spec;
        let ops: Vec<AggOp> = spec.aggs.iter().map(|a| a.op).collect();
        let key_schema = group_schema(spec, &self.input.schema())?;
        let global = spec.group_by.is_empty();
        let mut groups = if global {
            None
        } else {
            Some(new_group_values(key_schema.clone(), &GroupOrdering::None)?)
        };
        let chunk_rows = self.placement.chunk_rows.max(1);
        // Every input partition interns its keys and evaluates the arguments
        // on its own task; pieces come here with local group ids and the keys
        // of the groups they saw first, which this loop interns once more
        // into the global ids the accumulators use.
        let partitions = self.input.output_partitioning().partition_count();
        let (tx, mut rx) = futures::channel::mpsc::channel::<DFResult<Piece>>(partitions);
        let _producers: Vec<SpawnedTask<()>> = (0..partitions)
            .map(|partition| {
                let (input, spec, context, key_schema) = (
                    self.input.clone(),
                    self.spec.clone(),
                    context.clone(),
                    key_schema.clone(),
                );
                let mut tx = tx.clone();
                let metrics = (
                    self.metrics.baseline.elapsed_compute().clone(),
                    self.metrics.prepare_time.clone(),
                );
                let per_piece = chunk_rows.div_ceil(partitions).max(1);
                SpawnedTask::spawn(async move {
                    let mut produced = Box::pin(produce(
                        input, partition, spec, context, key_schema, per_piece, metrics,
                    ));
                    while let Some(piece) = produced.next().await {
                        let failed = piece.is_err();
                        if futures::SinkExt::send(&mut tx, piece).await.is_err() || failed {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut maps: Vec<Vec<u32>> = vec![Vec::new(); partitions];
        let mut gids: Vec<usize> = Vec::new();
        let mut pending: Vec<Chunk> = Vec::new();
        let mut pending_rows = 0usize;
        // `auto` decides once `gpu_chunk_rows` rows arrived or the input ended:
        // small inputs stay on the CPU.
        let mut agg: Option<Box<dyn Aggregator>> = None;
        let mut total = 0u64;
        let mut num_groups = usize::from(global);
        loop {
            let piece = rx.next().await.transpose()?;
            let done = piece.is_none();
            if let Some(mut piece) = piece {
                let timer = self.metrics.baseline.elapsed_compute().timer();
                total += piece.chunk.len() as u64;
                if let Some(g) = groups.as_mut() {
                    let map = &mut maps[piece.partition];
                    if !piece.new_keys.is_empty() && !piece.new_keys[0].is_empty() {
                        g.intern(&piece.new_keys, &mut gids)?;
                        map.extend(gids.iter().map(|i| *i as u32));
                    }
                    num_groups = g.len();
                    for id in piece.chunk.groups.iter_mut() {
                        *id = map[*id as usize];
                    }
                }
                if num_groups > u32::MAX as usize {
                    return Err(DataFusionError::ResourcesExhausted(
                        "more than 2^32 groups".into(),
                    ));
                }
                pending_rows += piece.chunk.len();
                pending.push(piece.chunk);
                drop(timer);
            }
            if agg.is_none() && (pending_rows >= chunk_rows || done) {
                let small =
                    self.placement.mode == GpuMode::Auto && done && total < self.placement.min_rows;
                agg = Some(match (&self.placement.gpu, use_gpu && !small) {
                    (Some(gpu), true) => Box::new(
                        gpu.aggregator(&ops)
                            .with_memory_limit(self.placement.memory_limit as usize),
                    ),
                    _ => Box::new(CpuAggregator::new(&ops)),
                });
            }
            if let Some(a) = agg.as_mut() {
                for chunk in pending.drain(..) {
                    let timer = self.metrics.baseline.elapsed_compute().timer();
                    let _device = self.metrics.device_time.timer();
                    let started = std::time::Instant::now();
                    let on_gpu = a.device_name() != "cpu";
                    let pushed = contango_gpu_kernels::guarded(|| {
                        push(a.as_mut(), spec, &chunk, num_groups)
                    });
                    if let Err(e) = pushed {
                        if on_gpu {
                            return Ok(Outcome::DeviceFailed(e.to_string()));
                        }
                        return Err(DataFusionError::Execution(e.to_string()));
                    }
                    if on_gpu {
                        self.metrics
                            .on_gpu(chunk.len(), started.elapsed().as_secs_f64());
                    } else {
                        self.metrics.on_cpu(chunk.len());
                    }
                    drop(timer);
                }
                pending_rows = 0;
            }
            if done {
                break;
            }
        }
        let agg = agg.expect("chosen at the end of input");
        let on_gpu = agg.device_name() != "cpu";
        let finishing = (
            self.metrics.baseline.elapsed_compute().timer(),
            self.metrics.device_time.timer(),
        );
        let finished = contango_gpu_kernels::guarded(|| agg.finish(num_groups));
        drop(finishing);
        let columns = match finished {
            Ok(c) => c,
            Err(e) if on_gpu => return Ok(Outcome::DeviceFailed(e.to_string())),
            Err(e) => return Err(DataFusionError::Execution(e.to_string())),
        };
        let mut arrays: Vec<ArrayRef> = match groups.as_mut() {
            // No rows, no groups (an empty `GroupValues` emits no columns).
            Some(_) if num_groups == 0 => {
                return Ok(Outcome::Done(RecordBatch::new_empty(self.schema.clone())));
            }
            Some(g) => g.emit(EmitTo::All)?,
            None => Vec::new(),
        };
        for (c, field) in columns
            .into_iter()
            .zip(self.schema.fields().iter().skip(arrays.len()))
        {
            let a: ArrayRef = match c {
                AggColumn::Count(v) => {
                    let a = UInt64Array::from(v);
                    cast(&a, field.data_type())?
                }
                AggColumn::Float(v) => cast(&Float64Array::from(v), field.data_type())?,
                AggColumn::Int(v) => {
                    let a: ArrayRef = Arc::new(Int64Array::from(v));
                    match field.data_type() {
                        DataType::Timestamp(_, tz) => cast(
                            &cast(&a, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?,
                            field.data_type(),
                        )?,
                        t => cast(&a, t)?,
                    }
                }
            };
            arrays.push(a);
        }
        // Group key arrays come back with their interned types; align them
        // with the declared output (e.g. dictionary or view strings).
        Ok(Outcome::Done(contango_common::columns::batch_of(
            &self.schema,
            arrays,
        )?))
    }
}

/// The group key columns as interned.
fn group_schema(spec: &GpuAggSpec, input: &SchemaRef) -> DFResult<SchemaRef> {
    let fields: Vec<_> = spec
        .group_by
        .iter()
        .map(|(e, n)| {
            Ok(datafusion::arrow::datatypes::Field::new(
                n,
                e.data_type(input)?,
                true,
            ))
        })
        .collect::<DFResult<_>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// One input partition's rows: local group ids, and the keys of the groups
/// first seen in them (in local id order).
struct Piece {
    partition: usize,
    new_keys: Vec<ArrayRef>,
    chunk: Chunk,
}

/// The pieces of one input partition, about `per_piece` rows each.
fn produce(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    spec: Arc<GpuAggSpec>,
    context: Arc<TaskContext>,
    key_schema: SchemaRef,
    per_piece: usize,
    (compute, prepare): (Time, Time),
) -> impl futures::Stream<Item = DFResult<Piece>> {
    futures::stream::once(async move {
        let stream = input.execute(partition, context)?;
        let groups = if spec.group_by.is_empty() {
            None
        } else {
            Some(new_group_values(key_schema, &GroupOrdering::None)?)
        };
        Ok::<_, DataFusionError>(futures::stream::unfold(
            (stream, groups, Vec::<usize>::new(), false),
            move |(mut stream, mut groups, mut ids, finished)| {
                let spec = spec.clone();
                let (compute, prepare) = (compute.clone(), prepare.clone());
                async move {
                    if finished {
                        return None;
                    }
                    let mut piece = Piece {
                        partition,
                        new_keys: Vec::new(),
                        chunk: Chunk::new(&spec),
                    };
                    let mut new_keys: Vec<Vec<ArrayRef>> = Vec::new();
                    let mut ended = false;
                    while piece.chunk.len() < per_piece {
                        let batch = match stream.next().await {
                            Some(Ok(b)) => b,
                            Some(Err(e)) => return Some((Err(e), (stream, groups, ids, true))),
                            None => {
                                ended = true;
                                break;
                            }
                        };
                        let _timers = (compute.timer(), prepare.timer());
                        if let Err(e) = piece.chunk.append(
                            &spec,
                            &batch,
                            groups.as_mut(),
                            &mut ids,
                            &mut new_keys,
                        ) {
                            return Some((Err(e), (stream, groups, ids, true)));
                        }
                    }
                    if ended && piece.chunk.len() == 0 {
                        return None;
                    }
                    piece.new_keys = match concat_keys(&new_keys, spec.group_by.len()) {
                        Ok(k) => k,
                        Err(e) => return Some((Err(e), (stream, groups, ids, true))),
                    };
                    Some((Ok(piece), (stream, groups, ids, ended)))
                }
            },
        ))
    })
    .try_flatten()
}

/// Concatenates per-batch key slices column by column.
fn concat_keys(parts: &[Vec<ArrayRef>], columns: usize) -> DFResult<Vec<ArrayRef>> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    (0..columns)
        .map(|c| {
            let arrays: Vec<&dyn Array> = parts.iter().map(|p| p[c].as_ref()).collect();
            Ok(datafusion::arrow::compute::concat(&arrays)?)
        })
        .collect()
}

fn push(
    agg: &mut dyn Aggregator,
    spec: &GpuAggSpec,
    chunk: &Chunk,
    num_groups: usize,
) -> Result<(), contango_gpu_kernels::GpuError> {
    let n = chunk.len();
    // All-valid rows for count(*), built only when a count(*) needs them.
    let ones = if spec.aggs.iter().any(|a| a.value.is_none()) {
        vec![1u8; n]
    } else {
        Vec::new()
    };
    let (zeros_f, zeros_i): (&[f64], &[i64]) = (&[], &[]);
    // Combined validity per aggregate (value ∧ weight ∧ FILTER; for
    // first/last the key's validity ∧ FILTER (∧ value with IGNORE NULLS)).
    // Unchanged columns are borrowed, so the device uploads each once.
    let mut validity: Vec<(Validity<'_>, Validity<'_>)> = Vec::with_capacity(spec.aggs.len());
    for a in &spec.aggs {
        let mut valid: Validity<'_> = match a.value {
            Some(v) => Cow::Borrowed(&chunk.values[v].1),
            None => Cow::Borrowed(&ones),
        };
        if let Some(w) = a.weight {
            valid = Cow::Owned(and(&valid, &chunk.values[w].1));
        }
        let mut key_valid: Validity<'_> = Cow::Borrowed(&[]);
        if let Some(k) = a.key {
            key_valid = Cow::Borrowed(&chunk.keys[k].1);
            if a.ignore_nulls {
                key_valid = Cow::Owned(and(&key_valid, &valid));
            }
        }
        if let Some(f) = a.filter {
            if a.key.is_some() {
                key_valid = Cow::Owned(and(&key_valid, &chunk.filters[f]));
            } else {
                valid = Cow::Owned(and(&valid, &chunk.filters[f]));
            }
        }
        validity.push((valid, key_valid));
    }
    let inputs = spec
        .aggs
        .iter()
        .zip(&validity)
        .map(|(a, (valid, key_valid))| AggInput {
            values: match a.value {
                Some(v) => &chunk.values[v].0,
                None => zeros_f,
            },
            valid,
            weight: match a.weight {
                Some(w) => &chunk.values[w].0,
                None => zeros_f,
            },
            key: match a.key {
                Some(k) => &chunk.keys[k].0,
                None => zeros_i,
            },
            key_valid,
        })
        .collect::<Vec<_>>();
    // count(*) has no values: counts read only validity.
    agg.push(&AggChunk {
        groups: &chunk.groups,
        num_groups,
        inputs,
    })
}
