//! `AnomalyScanExec`: the `anomalies(...)` table function's scan. It gathers
//! the table's ticks from all input partitions into series in time order
//! ([`super::series`]), cuts them into segments of whole series of about
//! `gpu_chunk_rows` rows, and scans each with the GPU kernels (shown as
//! `GpuAnomalyScanExec` when a GPU mode is on) or the CPU references
//! (`AnomalyScanExec` with `gpu = off`; also small segments under `auto`,
//! windows the device does not support, or a device error). Both compute
//! exactly what the window-function formulation of `anomalies` computes.

use std::any::Any;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use contango_gpu_kernels::{GpuError, Scanner, Series, Times};
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::aggregate::DeviceMetrics;
use super::aggregate::Placement;
use super::options::GpuMode;
use super::series::{Gathered, Source};
use crate::commodity::RollingWindow;

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
/// ts, price, in any partitioning and order; output: the `anomalies` schema.
#[derive(Debug)]
pub struct AnomalyScanExec {
    input: Arc<dyn ExecutionPlan>,
    method: AnomalyMethod,
    placement: Placement,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl AnomalyScanExec {
    /// A scan of `input` producing `schema`; `placement.mode = off` keeps it
    /// on the CPU.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        method: AnomalyMethod,
        placement: Placement,
        schema: SchemaRef,
    ) -> Self {
        let props = super::one_final_partition(&schema);
        Self {
            input,
            method,
            placement,
            schema,
            props,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn on_gpu(&self) -> bool {
        self.placement.mode != GpuMode::Off
    }
}

impl DisplayAs for AnomalyScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.on_gpu() {
            write!(
                f,
                "GpuAnomalyScanExec: device={}, gpu={}, ",
                self.placement.device_label(),
                self.placement.mode.name(),
            )?;
        } else {
            write!(f, "AnomalyScanExec: device=cpu, ")?;
        }
        write!(
            f,
            "method={}, window={}, threshold={}",
            self.method.method, self.method.window, self.method.threshold
        )
    }
}

impl ExecutionPlan for AnomalyScanExec {
    fn name(&self) -> &str {
        if self.on_gpu() {
            "GpuAnomalyScanExec"
        } else {
            "AnomalyScanExec"
        }
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
        Ok(Arc::new(AnomalyScanExec::new(
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
        let scan = Arc::new(Scan {
            method: self.method.clone(),
            placement: self.placement.clone(),
            schema: self.schema.clone(),
            metrics: DeviceMetrics::new(&self.metrics, partition),
        });
        let input = self.input.clone();
        let chunk_rows = self.placement.chunk_rows.max(1);
        let stream = futures::stream::once(async move {
            let (compute, prepare) = (
                scan.metrics.baseline.elapsed_compute().clone(),
                scan.metrics.prepare_time.clone(),
            );
            let gathered =
                Arc::new(super::series::gather(input, context, (compute, prepare)).await?);
            let segments = segments(&gathered.starts, chunk_rows);
            Ok::<_, DataFusionError>(
                futures::stream::iter(segments).map(move |r| scan.scan_segment(&gathered, r)),
            )
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// Ranges of whole series of about `chunk_rows` rows (a longer series is a
/// segment of its own).
fn segments(starts: &[usize], chunk_rows: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut first = 0;
    for s in 1..starts.len() {
        if starts[s] - starts[first] >= chunk_rows || s == starts.len() - 1 {
            out.push(first..s);
            first = s;
        }
    }
    out
}

struct Scan {
    method: AnomalyMethod,
    placement: Placement,
    schema: SchemaRef,
    metrics: DeviceMetrics,
}

impl Scan {
    /// The flagged rows of `series` (a range of series of `g`).
    fn scan_segment(&self, g: &Gathered, series: Range<usize>) -> DFResult<RecordBatch> {
        let _timer = self.metrics.baseline.elapsed_compute().timer();
        let (a, b) = (g.starts[series.start], g.starts[series.end]);
        let n = b - a;
        let c = &g.columns;
        let (x, valid) = (&c.x[a..b], &c.valid[a..b]);
        let mut ids = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(series.len() + 1);
        for (k, s) in series.clone().enumerate() {
            starts.push((g.starts[s] - a) as u64);
            ids.extend(std::iter::repeat_n(k as u32, g.starts[s + 1] - g.starts[s]));
        }
        starts.push(n as u64);
        let times = Times {
            ts: &c.ts[a..b],
            valid: &c.ts_valid[a..b],
        };
        let s = Series {
            ids: &ids,
            starts: &starts,
        };
        let device = self.metrics.device_time.timer();
        let flagged = super::segments::scan_on_device_or_cpu(
            &self.placement,
            n,
            &self.metrics,
            "anomaly scan",
            |scanner| self.score(scanner, x, valid, times, s),
        )?;
        drop(device);
        let picked: Vec<Source> = flagged
            .rows
            .iter()
            .map(|i| g.sources[a + *i as usize])
            .collect();
        let mut columns = Vec::with_capacity(6);
        for c in 0..4 {
            columns.push(g.column(c, &picked)?);
        }
        columns.push(Arc::new(Float64Array::from(flagged.scores)) as ArrayRef);
        columns.push(Arc::new(StringArray::from(flagged.reasons)));
        let out = contango_common::columns::batch_of(&self.schema, columns)?;
        self.metrics.baseline.record_output(out.num_rows());
        Ok(out)
    }

    /// The flagged rows of a segment, with their scores and reasons.
    fn score<S: Scanner + ?Sized>(
        &self,
        scanner: &S,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
    ) -> Result<Flagged, GpuError> {
        let (window, th) = (self.method.window, self.method.threshold);
        let w = match window {
            RollingWindow::Rows(n) => n,
            RollingWindow::Micros(_) => 0,
        };
        let th_text = format_threshold(th);
        let beyond = |c: contango_gpu_kernels::ScanColumn, reason: String| {
            Flagged::from_scores(
                (0..x.len()).map(|i| c.get(i).filter(|z| z.abs() > th)),
                |_| reason.clone(),
            )
        };
        Ok(match self.method.method.as_str() {
            "zscore" => {
                let z = match window {
                    RollingWindow::Rows(n) => scanner.zscore(x, valid, s, n)?,
                    RollingWindow::Micros(us) => scanner.zscore_time(x, valid, t, s, us)?,
                };
                beyond(z, format!("price z-score beyond {th_text}"))
            }
            "mad" => beyond(
                scanner.mad_zscore(x, valid, s, w)?,
                format!("robust (MAD) z-score beyond {th_text}"),
            ),
            "jump" => beyond(
                scanner.jump_zscore(x, valid, t, s, window)?,
                format!("log-return jump beyond {th_text} sigma"),
            ),
            "stale" => {
                let runs = scanner.stale_runs(x, valid, s)?;
                Flagged::from_scores(
                    (0..x.len()).map(|i| {
                        (runs.len[i] as usize >= w && runs.pos[i] > 1).then_some(runs.len[i] as f64)
                    }),
                    |score| format!("price unchanged for {score} ticks"),
                )
            }
            _ => Flagged::from_scores(
                (0..x.len()).map(|i| (valid[i] != 0 && x[i] < 0.0).then_some(x[i])),
                |_| "negative price".to_string(),
            ),
        })
    }
}

/// Flagged rows of a segment (positions in it), their scores and reasons.
struct Flagged {
    rows: Vec<u32>,
    scores: Vec<f64>,
    reasons: Vec<String>,
}

impl Flagged {
    /// The rows with a score, in order; `reason` of each score.
    fn from_scores(
        scores: impl Iterator<Item = Option<f64>>,
        reason: impl Fn(f64) -> String,
    ) -> Self {
        let mut f = Flagged {
            rows: Vec::new(),
            scores: Vec::new(),
            reasons: Vec::new(),
        };
        for (i, score) in scores.enumerate() {
            if let Some(v) = score {
                f.rows.push(i as u32);
                f.scores.push(v);
                f.reasons.push(reason(v));
            }
        }
        f
    }
}

/// The threshold as the SQL plan prints it (`8` for 8.0, `3.5`).
pub fn format_threshold(th: f64) -> String {
    format!("{th}")
}
