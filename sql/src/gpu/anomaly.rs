//! `GpuAnomalyScanExec`: the `anomalies(...)` table function's scan on the
//! GPU kernels. Its input is the table's ticks sorted by (commodity, source,
//! ts); whole series are gathered into segments of about `gpu_chunk_rows`
//! rows and scanned by the device (or by the CPU references: small segments
//! under `auto`, windows the device does not support, or a device error).
//! It computes exactly what the SQL plan of `anomalies` computes.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use contango_gpu_kernels::{GpuError, Scanner, Series, Times};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::error::Result as DFResult;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, LexOrdering, OrderingRequirements, Partitioning,
    PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

use super::aggregate::DeviceMetrics;
use super::aggregate::Placement;
use crate::functions::commodity::RollingWindow;

/// What to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyMethod {
    /// `zscore`, `mad`, `jump`, `stale` or `negative`.
    pub method: String,
    /// Window (rows, or a time span for `zscore` and `jump`).
    pub window: RollingWindow,
    /// Threshold.
    pub threshold: f64,
}

/// The anomaly scan (see the module docs). Input columns: commodity, source,
/// ts, price, sorted by the first three; output: the `anomalies` schema.
#[derive(Debug)]
pub struct GpuAnomalyScanExec {
    input: Arc<dyn ExecutionPlan>,
    method: AnomalyMethod,
    placement: Placement,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl GpuAnomalyScanExec {
    /// A scan of `input` (one partition, sorted) producing `schema`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        method: AnomalyMethod,
        placement: Placement,
        schema: SchemaRef,
    ) -> Self {
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            input,
            method,
            placement,
            schema,
            props,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for GpuAnomalyScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GpuAnomalyScanExec: device={}, gpu={}, method={}, window={}, threshold={}",
            self.placement.device_label(),
            self.placement.mode.name(),
            self.method.method,
            self.method.window,
            self.method.threshold
        )
    }
}

impl ExecutionPlan for GpuAnomalyScanExec {
    fn name(&self) -> &str {
        "GpuAnomalyScanExec"
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
        vec![Distribution::SinglePartition]
    }

    /// Sorted by (commodity, source, ts), nulls last, as `ORDER BY` sorts.
    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let schema = self.input.schema();
        let sort = (0..3).map(|i| {
            PhysicalSortExpr::new(
                Arc::new(Column::new(schema.field(i).name(), i)),
                SortOptions {
                    descending: false,
                    nulls_first: false,
                },
            )
        });
        vec![LexOrdering::new(sort).map(OrderingRequirements::from)]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(GpuAnomalyScanExec::new(
            children.remove(0),
            self.method.clone(),
            self.placement.clone(),
            self.schema.clone(),
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
        let scan = Arc::new(Scan {
            method: self.method.clone(),
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

struct Scan {
    method: AnomalyMethod,
    placement: Placement,
    schema: SchemaRef,
    metrics: DeviceMetrics,
}

impl super::segments::Segmenter for Scan {
    /// (commodity, source).
    fn series_keys(&self, batch: &RecordBatch) -> DFResult<Vec<ArrayRef>> {
        Ok(batch.columns()[..2].to_vec())
    }

    fn segment(&self, batch: &RecordBatch, heads: &[bool]) -> DFResult<RecordBatch> {
        self.scan_segment(batch, heads)
    }

    fn done(&self) {
        self.metrics.baseline.done();
    }
}

impl Scan {
    fn scan_segment(&self, batch: &RecordBatch, heads: &[bool]) -> DFResult<RecordBatch> {
        let _timer = self.metrics.baseline.elapsed_compute().timer();
        let n = batch.num_rows();
        if n == 0 {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let price = cast(batch.column(3), &DataType::Float64)?;
        let price = price.as_primitive::<Float64Type>();
        let x = price.values();
        let valid = crate::columns::validity_bytes(price);
        let ts = crate::columns::time_micros(batch.column(2))?;
        let ts = ts.as_primitive::<Int64Type>();
        let times = Times {
            ts: ts.values(),
            valid: &crate::columns::validity_bytes(ts),
        };
        let (ids, starts) = Series::from_heads(heads);
        let series = Series {
            ids: &ids,
            starts: &starts,
        };
        let (scores, reasons) = super::segments::scan_on_device_or_cpu(
            &self.placement,
            n,
            &self.metrics,
            "anomaly scan",
            |scanner| self.score(scanner, x, &valid, times, series),
        )?;
        let keep: Vec<u32> = (0..n as u32)
            .filter(|i| scores[*i as usize].is_some())
            .collect();
        let idx = UInt32Array::from(keep);
        let picked = take_columns(batch, &idx)?;
        let score = Float64Array::from(
            idx.values()
                .iter()
                .map(|i| scores[*i as usize])
                .collect::<Vec<_>>(),
        );
        let reason = StringArray::from(
            idx.values()
                .iter()
                .map(|i| reasons(*i as usize))
                .collect::<Vec<_>>(),
        );
        let mut columns = picked;
        columns.push(Arc::new(score));
        columns.push(Arc::new(reason));
        let out = crate::columns::batch_of(&self.schema, columns)?;
        self.metrics.baseline.record_output(out.num_rows());
        Ok(out)
    }

    /// Scores of flagged rows and a function giving each row's reason.
    #[allow(clippy::type_complexity)]
    fn score<S: Scanner + ?Sized>(
        &self,
        scanner: &S,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
    ) -> Result<(Vec<Option<f64>>, Box<dyn Fn(usize) -> String + '_>), GpuError> {
        let (window, th) = (self.method.window, self.method.threshold);
        let w = match window {
            RollingWindow::Rows(n) => n,
            RollingWindow::Micros(_) => 0,
        };
        let zscore = |x: &[f64], valid: &[u8]| match window {
            RollingWindow::Rows(n) => scanner.zscore(x, valid, s, n),
            RollingWindow::Micros(us) => scanner.zscore_time(x, valid, t, s, us),
        };
        let over = |c: &contango_gpu_kernels::ScanColumn| -> Vec<Option<f64>> {
            (0..x.len())
                .map(|i| c.get(i).filter(|z| z.abs() > th))
                .collect()
        };
        let th_text = format_threshold(th);
        Ok(match self.method.method.as_str() {
            "zscore" => {
                let z = zscore(x, valid)?;
                let t = format!("price z-score beyond {th_text}");
                (over(&z), Box::new(move |_| t.clone()))
            }
            "mad" => {
                let z = scanner.mad_zscore(x, valid, s, w)?;
                let t = format!("robust (MAD) z-score beyond {th_text}");
                (over(&z), Box::new(move |_| t.clone()))
            }
            "jump" => {
                let r = scanner.log_return(x, valid, s)?;
                let z = zscore(&r.values, &r.valid)?;
                let t = format!("log-return jump beyond {th_text} sigma");
                (over(&z), Box::new(move |_| t.clone()))
            }
            "stale" => {
                let runs = scanner.stale_runs(x, valid, s)?;
                let scores: Vec<Option<f64>> = (0..x.len())
                    .map(|i| {
                        (runs.len[i] as usize >= w && runs.pos[i] > 1).then_some(runs.len[i] as f64)
                    })
                    .collect();
                let lens = runs.len;
                (
                    scores,
                    Box::new(move |i| format!("price unchanged for {} ticks", lens[i])),
                )
            }
            _ => {
                let scores = (0..x.len())
                    .map(|i| (valid[i] != 0 && x[i] < 0.0).then_some(x[i]))
                    .collect();
                (scores, Box::new(|_| "negative price".to_string()))
            }
        })
    }
}

/// The threshold as the SQL plan prints it (`8` for 8.0, `3.5`).
pub fn format_threshold(th: f64) -> String {
    format!("{th}")
}

fn take_columns(batch: &RecordBatch, idx: &UInt32Array) -> DFResult<Vec<ArrayRef>> {
    (0..4)
        .map(|c| Ok(take(batch.column(c), idx, None)?))
        .collect()
}
