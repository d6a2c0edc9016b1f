//! The input loop shared by the GPU scan operators: sorted batches are
//! gathered until `chunk_rows` rows, cut after the last complete series (the
//! last one may go on in the next batch), and each segment of whole series is
//! handed to the operator.

use std::sync::Arc;

use contango_gpu_kernels::cpu::CpuScanner;
use contango_gpu_kernels::{GpuError, Scanner};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder,
};

use super::aggregate::Placement;
use super::options::GpuMode;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// An operator that scans whole series.
pub trait Segmenter: Send + Sync + 'static {
    /// Per row: does a new series start here?
    fn heads(&self, batch: &RecordBatch) -> DFResult<Vec<bool>>;
    /// The output of a segment of whole series.
    fn segment(&self, batch: &RecordBatch) -> DFResult<RecordBatch>;
    /// The input has ended.
    fn done(&self);
}

/// `input` (sorted by series) scanned segment by segment.
pub fn segmented(
    input: SendableRecordBatchStream,
    out_schema: SchemaRef,
    chunk_rows: usize,
    op: Arc<dyn Segmenter>,
) -> SendableRecordBatchStream {
    let in_schema = input.schema();
    let state = (input, Vec::<RecordBatch>::new(), 0usize, false);
    let stream = futures::stream::unfold(state, move |(mut input, mut pending, mut rows, done)| {
        let op = op.clone();
        let in_schema = in_schema.clone();
        async move {
            if done {
                return None;
            }
            loop {
                match input.next().await {
                    Some(Ok(b)) => {
                        rows += b.num_rows();
                        pending.push(b);
                        if rows < chunk_rows {
                            continue;
                        }
                        let all = match concat_batches(&in_schema, &pending) {
                            Ok(a) => a,
                            Err(e) => return Some((Err(e.into()), (input, vec![], 0, true))),
                        };
                        let cut = match op.heads(&all) {
                            Ok(h) => h.iter().rposition(|x| *x).unwrap_or(0),
                            Err(e) => return Some((Err(e), (input, vec![], 0, true))),
                        };
                        if cut == 0 {
                            pending = vec![all];
                            continue;
                        }
                        let rest = all.slice(cut, all.num_rows() - cut);
                        let out = op.segment(&all.slice(0, cut));
                        let n = rest.num_rows();
                        return Some((out, (input, vec![rest], n, false)));
                    }
                    Some(Err(e)) => return Some((Err(e), (input, vec![], 0, true))),
                    None => {
                        let out = concat_batches(&in_schema, &pending)
                            .map_err(DataFusionError::from)
                            .and_then(|all| op.segment(&all));
                        op.done();
                        return Some((out, (input, vec![], 0, true)));
                    }
                }
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(out_schema, stream))
}

/// Rows and fallbacks of a GPU scan operator, for EXPLAIN ANALYZE.
pub struct DeviceMetrics {
    /// Output rows and compute time.
    pub baseline: BaselineMetrics,
    gpu_rows: Count,
    cpu_rows: Count,
    fallbacks: Count,
}

impl DeviceMetrics {
    /// The metrics of `partition` in `set`.
    pub fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        Self {
            baseline: BaselineMetrics::new(set, partition),
            gpu_rows: MetricBuilder::new(set).counter("rows_on_gpu", partition),
            cpu_rows: MetricBuilder::new(set).counter("rows_on_cpu", partition),
            fallbacks: MetricBuilder::new(set).counter("gpu_fallbacks", partition),
        }
    }
}

/// Runs `work` over `n` rows with the placement's GPU when it applies
/// (`on`, or at least `min_rows` rows), else — or when the device fails — with
/// the CPU references.
pub fn scan_on_device_or_cpu<T>(
    placement: &Placement,
    n: usize,
    metrics: &DeviceMetrics,
    what: &str,
    work: impl Fn(&dyn Scanner) -> Result<T, GpuError>,
) -> DFResult<T> {
    let gpu = placement
        .gpu
        .as_ref()
        .filter(|_| placement.mode == GpuMode::On || n as u64 >= placement.min_rows);
    if let Some(g) = gpu {
        match work(g) {
            Ok(r) => {
                metrics.gpu_rows.add(n);
                return Ok(r);
            }
            Err(e) => {
                tracing::warn!("GPU {what} failed ({e}); running it on the CPU");
                metrics.fallbacks.add(1);
            }
        }
    }
    metrics.cpu_rows.add(n);
    work(&CpuScanner).map_err(|e| DataFusionError::Execution(e.to_string()))
}
