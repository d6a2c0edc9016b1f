//! Commodity aggregation and anomaly-scan kernels.
//!
//! Every kernel exists twice with the same semantics: a CUDA version
//! ([`device`], compiled at run time with NVRTC and loaded through cudarc's
//! dynamic loading, so nothing here needs a CUDA toolkit to build) and a CPU
//! reference ([`cpu`]). Results agree as follows (checked by the tests on any
//! machine with a GPU):
//!
//! - integers (counts, run lengths, group ids, buckets) exactly;
//! - min, max, first/last by timestamp, rolling z-score, MAD z-score and
//!   stale runs exactly (the scans run the same IEEE operations in the same
//!   order; kernels are compiled without fused multiply-add);
//! - sums, averages, VWAP and variance within [`SUM_TOLERANCE`] relative
//!   error: both sides use compensated (Neumaier) sums per run of rows, but
//!   the GPU adds the partial sums of different threads in an unspecified
//!   order;
//! - log returns within [`LOG_TOLERANCE`] (CUDA's `log` is within one ulp).
//!
//! Aggregations work on dense group ids (`0..num_groups`), fed in chunks so
//! device memory stays bounded; accumulators stay on the device between
//! chunks. Scans work on rows sorted by series then time, with the series of
//! every row given by a series id and the series start offsets.

pub mod cpu;
pub mod device;
mod ordered;

pub use cudarc::driver::CudaSlice;
pub use device::{Gpu, GpuError, guarded};

/// Relative tolerance of float sums between the GPU and the CPU reference.
pub const SUM_TOLERANCE: f64 = 1e-9;
/// Relative tolerance of log returns (and what is derived from them).
pub const LOG_TOLERANCE: f64 = 1e-12;
/// Largest window whose MAD each GPU thread finds by sorting its window;
/// for larger windows each thread slides one sorted window along its rows
/// (the bitwise selection of medians where that scratch does not fit; same
/// results).
pub const MAX_MAD_WINDOW: usize = 128;

/// One aggregate over dense group ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggOp {
    /// Rows whose value is valid.
    Count,
    /// Sum of valid values (NULL when there are none).
    Sum,
    /// Mean of valid values.
    Avg,
    /// Least valid value (NaN greatest, as in SQL engines' total order).
    Min,
    /// Greatest valid value.
    Max,
    /// Value at the least key (timestamp); ties: the earliest row.
    First,
    /// Value at the greatest key; ties: the latest row.
    Last,
    /// Σ value·weight / Σ weight over rows with both valid and a finite value.
    Vwap,
    /// Sample variance.
    VarSamp,
    /// Population variance.
    VarPop,
    /// Sample standard deviation.
    StddevSamp,
    /// Population standard deviation.
    StddevPop,
    /// Least valid key (min of a timestamp or integer column).
    MinKey,
    /// Greatest valid key.
    MaxKey,
}

impl AggOp {
    /// Whether the op reads `values` (counts read only validity, min/max of
    /// keys only the keys).
    pub fn reads_values(self) -> bool {
        !matches!(self, AggOp::Count | AggOp::MinKey | AggOp::MaxKey)
    }

    /// Whether the op takes an order key (first/last).
    pub fn keyed(self) -> bool {
        matches!(
            self,
            AggOp::First | AggOp::Last | AggOp::MinKey | AggOp::MaxKey
        )
    }

    /// Whether the op takes a weight (VWAP).
    pub fn weighted(self) -> bool {
        matches!(self, AggOp::Vwap)
    }

    fn variance(self) -> bool {
        matches!(
            self,
            AggOp::VarSamp | AggOp::VarPop | AggOp::StddevSamp | AggOp::StddevPop
        )
    }
}

/// The inputs of one aggregate for one chunk of rows: `valid` as long as the
/// chunk, and `values`, `weight`, `key` and `key_valid` too where the op
/// reads them ([`AggOp::reads_values`], [`AggOp::weighted`],
/// [`AggOp::keyed`]); the others may be empty.
#[derive(Debug, Clone, Copy)]
pub struct AggInput<'a> {
    /// Values (f64; empty allowed where the op does not read them).
    pub values: &'a [f64],
    /// 1 where the value is valid (non-null), else 0.
    pub valid: &'a [u8],
    /// Weights (VWAP volume); a row counts when its weight is valid too,
    /// which the caller folds into `valid`.
    pub weight: &'a [f64],
    /// Order keys (first/last): microseconds or any i64.
    pub key: &'a [i64],
    /// 1 where the key is valid; rows with a null key are not candidates.
    pub key_valid: &'a [u8],
}

/// One chunk of rows to aggregate.
#[derive(Debug, Clone)]
pub struct AggChunk<'a> {
    /// Group id of each row (`< num_groups`).
    pub groups: &'a [u32],
    /// Groups known so far (ids handed out up to and including this chunk).
    pub num_groups: usize,
    /// Inputs per aggregate, in the order of the ops.
    pub inputs: Vec<AggInput<'a>>,
}

impl AggChunk<'_> {
    /// Checks that every input holds what its op reads, for a whole chunk:
    /// both aggregators refuse a chunk that does not, so a caller's mistake
    /// is an error on the CPU too, not only a fault on the device.
    pub fn check(&self, ops: impl ExactSizeIterator<Item = AggOp>) -> Result<(), GpuError> {
        let n = self.groups.len();
        if self.inputs.len() != ops.len() {
            return Err(GpuError::Unsupported(format!(
                "{} inputs for {} aggregates",
                self.inputs.len(),
                ops.len()
            )));
        }
        for (op, i) in ops.zip(&self.inputs) {
            let short = |what: &str, len: usize| {
                Err(GpuError::Unsupported(format!(
                    "{op:?} got {len} {what} for a chunk of {n} rows"
                )))
            };
            if i.valid.len() != n {
                return short("validity bytes", i.valid.len());
            }
            if op.reads_values() && i.values.len() != n {
                return short("values", i.values.len());
            }
            if op.weighted() && i.weight.len() != n {
                return short("weights", i.weight.len());
            }
            if op.keyed() && (i.key.len() != n || i.key_valid.len() != n) {
                return short("keys", i.key.len().min(i.key_valid.len()));
            }
        }
        Ok(())
    }
}

/// The result of one aggregate per group.
#[derive(Debug, Clone, PartialEq)]
pub enum AggColumn {
    /// Counts (never NULL).
    Count(Vec<u64>),
    /// Floats, NULL where `None`.
    Float(Vec<Option<f64>>),
    /// Integer keys (timestamps), NULL where `None`.
    Int(Vec<Option<i64>>),
}

/// Chunked grouped aggregation (device or CPU).
pub trait Aggregator: Send {
    /// Adds a chunk of rows.
    fn push(&mut self, chunk: &AggChunk<'_>) -> Result<(), GpuError>;
    /// The result per group for `num_groups` groups, in the order of the ops.
    fn finish(self: Box<Self>, num_groups: usize) -> Result<Vec<AggColumn>, GpuError>;
    /// Where it runs, for EXPLAIN ANALYZE and logs.
    fn device_name(&self) -> String;
}

/// Rows sorted by series then time, with the series of every row.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Series id of every row (non-decreasing).
    pub ids: &'a [u32],
    /// Start row of every series, plus the total row count at the end.
    pub starts: &'a [u64],
}

impl<'a> Series<'a> {
    /// Series ids and start offsets from per-row "a new series starts here" flags.
    pub fn from_heads(heads: &[bool]) -> (Vec<u32>, Vec<u64>) {
        let mut ids = Vec::with_capacity(heads.len());
        let mut starts = Vec::new();
        let mut current = 0u32;
        for (i, &h) in heads.iter().enumerate() {
            if h || i == 0 {
                if i > 0 {
                    current += 1;
                }
                starts.push(i as u64);
            }
            ids.push(current);
        }
        starts.push(heads.len() as u64);
        (ids, starts)
    }
}

/// Event times of rows sorted by series then time: microseconds, with
/// validity (rows without a time are in no time window).
#[derive(Debug, Clone, Copy)]
pub struct Times<'a> {
    /// Microseconds since the epoch (meaningless where not valid).
    pub ts: &'a [i64],
    /// 1 where the time is valid.
    pub valid: &'a [u8],
}

/// A per-row float result with validity.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanColumn {
    /// Values (meaningless where not valid).
    pub values: Vec<f64>,
    /// 1 where valid.
    pub valid: Vec<u8>,
}

impl ScanColumn {
    /// Value of row `i`, or `None`.
    pub fn get(&self, i: usize) -> Option<f64> {
        (self.valid[i] != 0).then(|| self.values[i])
    }
}

/// Runs of an unchanged price: the run's length and the row's 1-based
/// position in it, for every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runs {
    /// Length of the row's run.
    pub len: Vec<u32>,
    /// 1-based position of the row in its run.
    pub pos: Vec<u32>,
}

/// Per-series ordered scans (device or CPU).
pub trait Scanner {
    /// ln(xᵢ / xᵢ₋₁) within a series (NULL unless both are valid and > 0).
    fn log_return(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> Result<ScanColumn, GpuError>;
    /// (xᵢ − mean) / sample sd of the `window` rows before row i.
    fn zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        s: Series<'_>,
        window: usize,
    ) -> Result<ScanColumn, GpuError>;
    /// (xᵢ − mean) / sample sd of the valid values of row i's series at times
    /// in [tsᵢ − width, tsᵢ) (rows at tsᵢ itself excluded), once the series
    /// reaches back to tsᵢ − width; `width` in microseconds.
    fn zscore_time(
        &self,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
        width: i64,
    ) -> Result<ScanColumn, GpuError>;
    /// 0.6745 · (xᵢ − median) / MAD of the `window` rows before row i.
    fn mad_zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        s: Series<'_>,
        window: usize,
    ) -> Result<ScanColumn, GpuError>;
    /// Runs of equal valid values.
    fn stale_runs(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> Result<Runs, GpuError>;

    /// Jump scores: the z-score of each log return against the returns of
    /// the `window` rows before it, or (`Window::Micros`) of the span before
    /// its time. A device keeps the returns where they are computed.
    fn jump_zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
        window: Window,
    ) -> Result<ScanColumn, GpuError> {
        let r = self.log_return(x, valid, s)?;
        match window {
            Window::Rows(n) => self.zscore(&r.values, &r.valid, s, n),
            Window::Micros(us) => self.zscore_time(&r.values, &r.valid, t, s, us),
        }
    }
}

/// A rolling window: the n rows before each row, or the microseconds
/// before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The n rows before.
    Rows(usize),
    /// The span [ts − µs, ts).
    Micros(i64),
}

impl std::fmt::Display for Window {
    /// `20` (rows) or `3600s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Window::Rows(n) => write!(f, "{n}"),
            Window::Micros(us) => write!(f, "{}s", *us as f64 / 1e6),
        }
    }
}

/// Start of `ts`'s bucket of `width` aligned to `origin` (floor division,
/// so times before the origin fall in the bucket that contains them).
pub fn bucket_start(ts: i64, width: i64, origin: i64) -> i64 {
    (ts - origin).div_euclid(width) * width + origin
}

/// Whether two floats agree within `tolerance` relative error (NaN = NaN).
pub fn close(a: f64, b: f64, tolerance: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}
