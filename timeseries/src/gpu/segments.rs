//! The input loop shared by the GPU scan operators: sorted batches are
//! gathered until `chunk_rows` rows, cut after the last complete series (the
//! last one may go on in the next batch), and each segment of whole series is
//! handed to the operator.

use std::sync::Arc;

use contango_gpu_kernels::cpu::CpuScanner;
use contango_gpu_kernels::{GpuError, Scanner};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::SendableRecordBatchStream;

use super::aggregate::{DeviceMetrics, Placement};
use super::options::GpuMode;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// An operator that scans whole series.
pub trait Segmenter: Send + Sync + 'static {
    /// The columns whose change of value starts a new series.
    fn series_keys(&self, batch: &RecordBatch) -> DFResult<Vec<ArrayRef>>;
    /// The output of a segment of whole series (`heads`: where each starts).
    fn segment(&self, batch: &RecordBatch, heads: &[bool]) -> DFResult<RecordBatch>;
    /// The input has ended.
    fn done(&self);
}

/// Per row: does a new series start here (row 0, or other `keys` values
/// than the row before; NULLs equal NULLs)?
pub fn series_heads(keys: &[ArrayRef], rows: usize) -> DFResult<Vec<bool>> {
    if keys.is_empty() {
        return Ok((0..rows).map(|i| i == 0).collect());
    }
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let r = converter.convert_columns(keys)?;
    Ok((0..rows)
        .map(|i| i == 0 || r.row(i) != r.row(i - 1))
        .collect())
}

fn heads_of(op: &dyn Segmenter, batch: &RecordBatch) -> DFResult<Vec<bool>> {
    series_heads(&op.series_keys(batch)?, batch.num_rows())
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
                        let heads = match heads_of(op.as_ref(), &all) {
                            Ok(h) => h,
                            Err(e) => return Some((Err(e), (input, vec![], 0, true))),
                        };
                        let cut = heads.iter().rposition(|x| *x).unwrap_or(0);
                        if cut == 0 {
                            pending = vec![all];
                            continue;
                        }
                        let rest = all.slice(cut, all.num_rows() - cut);
                        let out = op.segment(&all.slice(0, cut), &heads[..cut]);
                        let n = rest.num_rows();
                        return Some((out, (input, vec![rest], n, false)));
                    }
                    Some(Err(e)) => return Some((Err(e), (input, vec![], 0, true))),
                    None => {
                        let out = concat_batches(&in_schema, &pending)
                            .map_err(DataFusionError::from)
                            .and_then(|all| op.segment(&all, &heads_of(op.as_ref(), &all)?));
                        op.done();
                        return Some((out, (input, vec![], 0, true)));
                    }
                }
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(out_schema, stream))
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
        let started = std::time::Instant::now();
        match contango_gpu_kernels::guarded(|| work(g)) {
            Ok(r) => {
                metrics.on_gpu(n, started.elapsed().as_secs_f64());
                return Ok(r);
            }
            Err(e) => {
                tracing::warn!("GPU {what} failed ({e}); running it on the CPU");
                metrics.fallback();
            }
        }
    }
    metrics.on_cpu(n);
    work(&CpuScanner).map_err(|e| DataFusionError::Execution(e.to_string()))
}
