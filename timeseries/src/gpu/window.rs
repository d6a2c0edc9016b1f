//! `GpuWindowExec`: window operators whose functions are all `zscore`,
//! `mad_zscore` or `log_return` (the series functions of `commodity.rs`)
//! with one PARTITION BY, computed by the GPU scan kernels (or their CPU
//! references). Input rows arrive sorted by partition then order keys, as
//! for the DataFusion operator it replaces; whole partitions are gathered into
//! segments of about `gpu_chunk_rows` rows and scanned; rows keep their order
//! and gain one DOUBLE column per function.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use contango_gpu_kernels::{GpuError, ScanColumn, Scanner, Series, Times};
use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::error::Result as DFResult;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, OrderingRequirements, PhysicalExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};

use super::aggregate::DeviceMetrics;
use super::aggregate::Placement;

/// One series function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesFn {
    /// `log_return(x)`.
    LogReturn,
    /// `zscore(x, n)`.
    ZScore(usize),
    /// `zscore(x, INTERVAL .., ts)`: a window of this many microseconds.
    ZScoreTime(i64),
    /// `mad_zscore(x, n)`.
    Mad(usize),
}

/// A window function of the node: what, over which argument, named how.
#[derive(Debug, Clone)]
pub struct GpuWindowFn {
    /// The function.
    pub kind: SeriesFn,
    /// Its argument.
    pub arg: Arc<dyn PhysicalExpr>,
    /// The time column of a time window.
    pub ts: Option<Arc<dyn PhysicalExpr>>,
    /// Display name.
    pub name: String,
}

/// The window operator on the GPU kernels (see the module docs).
#[derive(Debug)]
pub struct GpuWindowExec {
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    functions: Vec<GpuWindowFn>,
    placement: Placement,
    schema: SchemaRef,
    required_ordering: Vec<Option<OrderingRequirements>>,
    required_distribution: Vec<Distribution>,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl GpuWindowExec {
    /// Replaces a window operator: same input, requirements and schema.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        partition_by: Vec<Arc<dyn PhysicalExpr>>,
        functions: Vec<GpuWindowFn>,
        placement: Placement,
        schema: SchemaRef,
        required_ordering: Vec<Option<OrderingRequirements>>,
        required_distribution: Vec<Distribution>,
    ) -> Self {
        // Rows keep the input's order; the new columns come last.
        let eq = match input.output_ordering() {
            Some(o) => EquivalenceProperties::new_with_orderings(schema.clone(), [o.clone()]),
            None => EquivalenceProperties::new(schema.clone()),
        };
        let props = Arc::new(PlanProperties::new(
            eq,
            input.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            input,
            partition_by,
            functions,
            placement,
            schema,
            required_ordering,
            required_distribution,
            props,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for GpuWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.functions.iter().map(|w| w.name.as_str()).collect();
        write!(
            f,
            "GpuWindowExec: device={}, gpu={}, partition_by=[{}], wdw=[{}]",
            self.placement.device_label(),
            self.placement.mode.name(),
            self.partition_by
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        )
    }
}

impl ExecutionPlan for GpuWindowExec {
    fn name(&self) -> &str {
        "GpuWindowExec"
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

    fn required_input_distribution(&self) -> Vec<Distribution> {
        self.required_distribution.clone()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.required_ordering.clone()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(GpuWindowExec::new(
            children.remove(0),
            self.partition_by.clone(),
            self.functions.clone(),
            self.placement.clone(),
            self.schema.clone(),
            self.required_ordering.clone(),
            self.required_distribution.clone(),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let scan = Arc::new(WindowScan {
            partition_by: self.partition_by.clone(),
            functions: self.functions.clone(),
            placement: self.placement.clone(),
            schema: self.schema.clone(),
            metrics: DeviceMetrics::new(&self.metrics, partition),
        });
        Ok(super::segments::segmented(
            input,
            self.schema.clone(),
            self.placement.chunk_rows,
            scan,
        ))
    }
}

struct WindowScan {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    functions: Vec<GpuWindowFn>,
    placement: Placement,
    schema: SchemaRef,
    metrics: DeviceMetrics,
}

impl super::segments::Segmenter for WindowScan {
    /// The PARTITION BY values.
    fn series_keys(&self, batch: &RecordBatch) -> DFResult<Vec<ArrayRef>> {
        self.partition_by
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
            .collect()
    }

    fn segment(&self, batch: &RecordBatch, heads: &[bool]) -> DFResult<RecordBatch> {
        self.scan_segment(batch, heads)
    }

    fn done(&self) {
        self.metrics.baseline.done();
    }
}

impl WindowScan {
    fn run<S: Scanner + ?Sized>(
        &self,
        scanner: &S,
        batch: &RecordBatch,
        s: Series<'_>,
    ) -> Result<Vec<ScanColumn>, GpuError> {
        let n = batch.num_rows();
        let mut out = Vec::with_capacity(self.functions.len());
        for f in &self.functions {
            let arg = f
                .arg
                .evaluate(batch)
                .and_then(|v| v.into_array(n))
                .and_then(|a| Ok(cast(&a, &DataType::Float64)?))
                .map_err(|e| GpuError::Unsupported(e.to_string()))?;
            let x = arg.as_primitive::<Float64Type>();
            let valid = contango_common::columns::validity_bytes(x);
            let v = x.values();
            out.push(match f.kind {
                SeriesFn::LogReturn => scanner.log_return(v, &valid, s)?,
                SeriesFn::ZScore(w) => scanner.zscore(v, &valid, s, w)?,
                SeriesFn::Mad(w) => scanner.mad_zscore(v, &valid, s, w)?,
                SeriesFn::ZScoreTime(width) => {
                    let ts = f
                        .ts
                        .as_ref()
                        .ok_or_else(|| GpuError::Unsupported("time window without a time".into()))?
                        .evaluate(batch)
                        .and_then(|v| v.into_array(n))
                        .and_then(|a| contango_common::columns::time_micros(&a))
                        .map_err(|e| GpuError::Unsupported(e.to_string()))?;
                    let ts = ts.as_primitive::<Int64Type>();
                    let times = Times {
                        ts: ts.values(),
                        valid: &contango_common::columns::validity_bytes(ts),
                    };
                    scanner.zscore_time(v, &valid, times, s, width)?
                }
            });
        }
        Ok(out)
    }

    fn scan_segment(&self, batch: &RecordBatch, heads: &[bool]) -> DFResult<RecordBatch> {
        let _timer = self.metrics.baseline.elapsed_compute().timer();
        let n = batch.num_rows();
        if n == 0 {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let (ids, starts) = Series::from_heads(heads);
        let series = Series {
            ids: &ids,
            starts: &starts,
        };
        let columns = super::segments::scan_on_device_or_cpu(
            &self.placement,
            n,
            &self.metrics,
            "window scan",
            |scanner| self.run(scanner, batch, series),
        )?;
        let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
        for c in columns {
            arrays.push(Arc::new(Float64Array::from(
                (0..n).map(|i| c.get(i)).collect::<Vec<_>>(),
            )));
        }
        let out = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.metrics.baseline.record_output(n);
        Ok(out)
    }
}
