//! The CUDA device: found at run time (the driver and NVRTC libraries are
//! loaded dynamically, so a machine without them simply has no [`Gpu`]),
//! kernels compiled once from `kernels.cu` with NVRTC.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DeviceRepr, DriverError,
    LaunchConfig, PinnedHostSlice, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::CompileOptions;

use crate::cpu::finalize;
use crate::{
    AggChunk, AggColumn, AggOp, Aggregator, Runs, ScanColumn, Scanner, Series, Times, Window,
};

/// Why the device could not do something. Every caller falls back to the CPU.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    /// No usable GPU (no driver, no NVRTC, no device).
    #[error("no GPU: {0}")]
    NoDevice(String),
    /// NVRTC refused the kernels.
    #[error("kernel compilation failed: {0}")]
    Compile(String),
    /// Device memory is exhausted.
    #[error("GPU memory exhausted: {0}")]
    OutOfMemory(String),
    /// Anything else the driver reported.
    #[error("CUDA driver error: {0}")]
    Driver(String),
    /// The request is outside what the kernels support.
    #[error("not supported on the GPU: {0}")]
    Unsupported(String),
    /// A launch's arguments break its kernel's preconditions (a buffer
    /// shorter than the rows or groups the kernel indexes, a series id past
    /// the series starts): a caller's bug, refused before anything runs on
    /// the device, where it would be an out-of-bounds access.
    #[error("invalid kernel arguments: {0}")]
    InvalidArgument(String),
    /// GPU code panicked (a bug); see [`guarded`].
    #[error("GPU code panicked: {0}")]
    Panicked(String),
}

/// Runs GPU work, turning a panic inside it into [`GpuError::Panicked`]: a bug
/// in device code then sends an operator to its CPU path instead of failing
/// the query (the fallback is counted and logged where it happens).
pub fn guarded<T>(work: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|p| {
        let message = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(GpuError::Panicked(message))
    })
}

impl From<DriverError> for GpuError {
    fn from(e: DriverError) -> Self {
        use cudarc::driver::sys::CUresult;
        if e.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY {
            GpuError::OutOfMemory(format!("{e:?}"))
        } else {
            GpuError::Driver(format!("{e:?}"))
        }
    }
}

type R<T> = Result<T, GpuError>;

/// Checks, before a launch, that each of `buffers` (name, length in
/// elements) holds at least the `n` elements `kernel` will index (rows, or
/// groups for accumulators): kernels access their buffers unchecked, so a
/// short buffer would be an out-of-bounds access on the device. The error
/// names the kernel and the first short buffer.
fn check_lengths(kernel: &str, n: usize, buffers: &[(&str, usize)]) -> R<()> {
    match buffers.iter().find(|(_, len)| *len < n) {
        Some((name, len)) => Err(GpuError::InvalidArgument(format!(
            "{kernel}: `{name}` holds {len} elements, needs at least {n}"
        ))),
        None => Ok(()),
    }
}

const SOURCE: &str = include_str!("kernels.cu");
const BLOCK: u32 = 256;
/// Rows per thread in the aggregation kernels (`RUN` in kernels.cu).
const RUN: u64 = 16;

/// Every kernel's entry point.
pub const KERNELS: &[&str] = &[
    "hold",
    "fill_u64",
    "agg_count",
    "agg_sum",
    "agg_minmax",
    "agg_vwap",
    "agg_var",
    "agg_best_key",
    "agg_reset_rows",
    "agg_best_row",
    "agg_pick",
    "bucket_ids",
    "mask_range",
    "scan_log_return",
    "scan_zscore",
    "scan_zscore_time",
    "scan_mad",
    "scan_mad_select",
    "scan_mad_slide",
    "scan_stale",
];

/// One GPU with Contango's kernels loaded.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    funcs: HashMap<&'static str, CudaFunction>,
    name: String,
    total_memory: usize,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("name", &self.name).finish()
    }
}

fn libraries_present() -> R<()> {
    // SAFETY: only probes whether the shared libraries can be opened.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        return Err(GpuError::NoDevice(
            "the CUDA driver library (libcuda) is not installed".into(),
        ));
    }
    // SAFETY: as above.
    let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    if !nvrtc {
        return Err(GpuError::NoDevice(
            "NVRTC (libnvrtc) is not installed; add the CUDA toolkit's lib64 to LD_LIBRARY_PATH"
                .into(),
        ));
    }
    Ok(())
}

/// Compiles the kernels for `arch` (e.g. `compute_90`) with NVRTC. Needs only
/// libnvrtc, no GPU: the tests compile the kernels wherever NVRTC is found.
pub fn compile(arch: &'static str) -> R<cudarc::nvrtc::Ptx> {
    // SAFETY: only probes whether the shared library can be opened.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(GpuError::NoDevice(
            "NVRTC (libnvrtc) is not installed".into(),
        ));
    }
    let options = CompileOptions {
        // Bit-identical scans: no fused multiply-add, IEEE division and sqrt.
        fmad: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ftz: Some(false),
        arch: Some(arch),
        ..Default::default()
    };
    std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(SOURCE, options))
        .map_err(|_| GpuError::Compile("NVRTC is incompatible".into()))?
        .map_err(|e| GpuError::Compile(format!("{e:?}")))
}

fn grid(threads: u64) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (threads.div_ceil(BLOCK as u64).max(1) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl Gpu {
    /// Opens device `ordinal` and compiles the kernels.
    pub fn open(ordinal: usize) -> R<Arc<Gpu>> {
        libraries_present()?;
        // cudarc panics when a symbol is missing from an old driver: contain it.
        std::panic::catch_unwind(|| Self::open_inner(ordinal))
            .unwrap_or_else(|_| Err(GpuError::NoDevice("the CUDA driver is incompatible".into())))
    }

    fn open_inner(ordinal: usize) -> R<Arc<Gpu>> {
        let count =
            CudaContext::device_count().map_err(|e| GpuError::NoDevice(format!("{e:?}")))?;
        if count as usize <= ordinal {
            return Err(GpuError::NoDevice(format!(
                "{count} CUDA devices, asked for #{ordinal}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| GpuError::NoDevice(format!("{e:?}")))?;
        let (major, minor) = ctx.compute_capability()?;
        let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
        let ptx = compile(arch)?;
        let module = ctx.load_module(ptx)?;
        let mut funcs = HashMap::new();
        for name in KERNELS {
            funcs.insert(*name, module.load_function(name)?);
        }
        let name = ctx.name()?;
        let total_memory = ctx.total_mem()?;
        let stream = ctx.default_stream();
        tracing::info!(gpu = %name, memory_gib = total_memory >> 30, arch, "GPU kernels compiled");
        Ok(Arc::new(Gpu {
            ctx,
            stream,
            funcs,
            name,
            total_memory,
        }))
    }

    /// The process-wide GPU (device 0), opened once; `None` with the reason
    /// logged once where there is none.
    pub fn shared() -> Option<Arc<Gpu>> {
        static GPU: OnceLock<Result<Arc<Gpu>, GpuError>> = OnceLock::new();
        GPU.get_or_init(|| {
            let r = Gpu::open(0);
            if let Err(e) = &r {
                tracing::info!("GPU execution unavailable, using the CPU path: {e}");
            }
            r
        })
        .as_ref()
        .ok()
        .cloned()
    }

    /// The device's name, e.g. "NVIDIA H200".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Device memory in bytes.
    pub fn total_memory(&self) -> usize {
        self.total_memory
    }

    /// Free device memory in bytes.
    pub fn free_memory(&self) -> R<usize> {
        Ok(self.ctx.mem_get_info()?.0)
    }

    /// The stream every kernel runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> R<()> {
        Ok(self.stream.synchronize()?)
    }

    /// Copies `host` to a new device buffer.
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> R<CudaSlice<T>> {
        Ok(self.stream.clone_htod(host)?)
    }

    /// Copies a device buffer back.
    pub fn download<T: DeviceRepr>(&self, dev: &CudaSlice<T>) -> R<Vec<T>> {
        Ok(self.stream.clone_dtoh(dev)?)
    }

    /// Device-to-device copy of `src` into `dst` (same length).
    pub fn copy<T: DeviceRepr>(&self, src: &CudaSlice<T>, dst: &mut CudaSlice<T>) -> R<()> {
        Ok(self.stream.memcpy_dtod(src, dst)?)
    }

    /// Keeps the stream busy for about `cycles` GPU clock cycles (one thread
    /// spinning), so that work queued next runs late. For tests of what
    /// overlaps with the host.
    pub fn hold(&self, cycles: u64) -> R<()> {
        let mut b = self.stream.launch_builder(self.f("hold"));
        b.arg(&cycles);
        // SAFETY: the kernel touches no memory.
        unsafe {
            b.launch(LaunchConfig {
                grid_dim: (1, 1, 1),
                block_dim: (1, 1, 1),
                shared_mem_bytes: 0,
            })
        }?;
        Ok(())
    }

    fn f(&self, name: &str) -> &CudaFunction {
        &self.funcs[name]
    }

    /// A zeroed device buffer of `n` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> R<CudaSlice<T>> {
        Ok(self.stream.alloc_zeros::<T>(n.max(1))?)
    }

    fn filled(&self, n: usize, value: u64) -> R<CudaSlice<u64>> {
        let mut buf = self.zeros::<u64>(n)?;
        if value != 0 {
            let len = n.max(1) as u64;
            check_lengths("fill_u64", len as usize, &[("buffer", buf.len())])?;
            let mut b = self.stream.launch_builder(self.f("fill_u64"));
            b.arg(&mut buf).arg(&len).arg(&value);
            // SAFETY: the kernel writes elements `0..len` of `buffer`, which
            // was checked to hold at least `len`.
            unsafe { b.launch(grid(len)) }?;
        }
        Ok(buf)
    }

    /// A chunked grouped aggregation of `ops` with accumulators on this device.
    pub fn aggregator(self: &Arc<Self>, ops: &[AggOp]) -> DeviceAggregator {
        DeviceAggregator {
            gpu: self.clone(),
            accs: ops.iter().map(|op| DevAcc::new(*op)).collect(),
            cap: 0,
            rows: 0,
            staging: Staging::default(),
            memory_limit: 0,
        }
    }

    /// Group ids `series · nbuckets + (bucket − first_bucket)` on the device,
    /// one per row of `ts` (`width` > 0; `series` and `out` at least as long
    /// as `ts`). The ids are `u32`: the caller keeps them in range.
    #[allow(clippy::too_many_arguments)]
    pub fn bucket_ids(
        &self,
        series: &CudaSlice<u32>,
        ts: &CudaSlice<i64>,
        width: i64,
        origin: i64,
        first_bucket: i64,
        nbuckets: u64,
        out: &mut CudaSlice<u32>,
    ) -> R<()> {
        if width <= 0 {
            return Err(GpuError::InvalidArgument(format!(
                "bucket_ids: bucket width {width}"
            )));
        }
        let n = ts.len() as u64;
        check_lengths(
            "bucket_ids",
            ts.len(),
            &[("series", series.len()), ("out", out.len())],
        )?;
        let mut b = self.stream.launch_builder(self.f("bucket_ids"));
        b.arg(&n)
            .arg(series)
            .arg(ts)
            .arg(&width)
            .arg(&origin)
            .arg(&first_bucket)
            .arg(&nbuckets)
            .arg(out);
        // SAFETY: the kernel touches rows `0..n` of `series`, `ts` and `out`
        // only, and each was checked to hold at least `n`; it indexes nothing
        // by value.
        unsafe { b.launch(grid(n)) }?;
        Ok(())
    }

    /// `valid ∧ lo ≤ x ≤ hi` into `out`, for every row of `x` (`valid` and
    /// `out` at least as long as `x`).
    pub fn mask_range(
        &self,
        x: &CudaSlice<f64>,
        lo: f64,
        hi: f64,
        valid: &CudaSlice<u8>,
        out: &mut CudaSlice<u8>,
    ) -> R<()> {
        let n = x.len() as u64;
        check_lengths(
            "mask_range",
            x.len(),
            &[("valid", valid.len()), ("out", out.len())],
        )?;
        let mut b = self.stream.launch_builder(self.f("mask_range"));
        b.arg(&n).arg(x).arg(&lo).arg(&hi).arg(valid).arg(out);
        // SAFETY: the kernel touches rows `0..n` of `x`, `valid` and `out`
        // only, and each was checked to hold at least `n`.
        unsafe { b.launch(grid(n)) }?;
        Ok(())
    }

    /// Series columns on the device, for scans. Refuses columns of different
    /// lengths and a series id with no entry in `s.starts` (checked here, on
    /// the host, because the scan kernels read `starts[ids[i]]` unchecked).
    pub fn upload_series(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> R<DeviceSeries> {
        if valid.len() != x.len() || s.ids.len() != x.len() {
            return Err(GpuError::InvalidArgument(format!(
                "upload_series: {} values, {} validity bytes and {} series ids",
                x.len(),
                valid.len(),
                s.ids.len()
            )));
        }
        if let Some(&max) = s.ids.iter().max()
            && max as usize >= s.starts.len()
        {
            return Err(GpuError::InvalidArgument(format!(
                "upload_series: series id {max} but only {} series starts",
                s.starts.len()
            )));
        }
        Ok(DeviceSeries {
            x: self.upload(x)?,
            valid: self.upload(valid)?,
            ids: self.upload(s.ids)?,
            starts: self.upload(s.starts)?,
        })
    }

    /// A float scan (`scan_log_return`, `scan_zscore`, or MAD: `scan_mad`
    /// up to [`crate::MAX_MAD_WINDOW`] rows, else `scan_mad_slide`) on
    /// device-resident series; the result stays on the device.
    pub fn scan(&self, kind: ScanKind, d: &DeviceSeries, window: usize) -> R<DeviceScan> {
        let name = match kind {
            ScanKind::LogReturn => "scan_log_return",
            ScanKind::ZScore => "scan_zscore",
            ScanKind::Mad if window <= crate::MAX_MAD_WINDOW => "scan_mad",
            ScanKind::Mad => return self.mad_slide(d, window),
        };
        self.row_scan(name, kind, d, window)
    }

    /// MAD scores over windows above [`crate::MAX_MAD_WINDOW`] rows by the
    /// bitwise selection of medians (`scan_mad_select`: 64 passes over each
    /// window, no scratch memory). `scan` uses it when the sliding kernel's
    /// scratch does not fit.
    pub fn mad_select(&self, d: &DeviceSeries, window: usize) -> R<DeviceScan> {
        self.row_scan("scan_mad_select", ScanKind::Mad, d, window)
    }

    /// MAD scores by sliding sorted windows (`scan_mad_slide`): each thread
    /// takes `max(window, 64)` rows and keeps their window sorted in a scratch
    /// of `window` keys (so the scratch holds at most one key per row).
    fn mad_slide(&self, d: &DeviceSeries, window: usize) -> R<DeviceScan> {
        let n = d.launch_rows("scan_mad_slide")?;
        let w = window as u64;
        let per_thread = w.max(64);
        let threads = n.div_ceil(per_thread);
        let mut scratch = match self.zeros::<u64>((threads * w).max(1) as usize) {
            Ok(s) => s,
            Err(GpuError::OutOfMemory(_)) => return self.mad_select(d, window),
            Err(e) => return Err(e),
        };
        let mut values = self.zeros::<f64>(n as usize)?;
        let mut valid = self.zeros::<u8>(n as usize)?;
        check_lengths(
            "scan_mad_slide",
            n as usize,
            &[("values", values.len()), ("valid out", valid.len())],
        )?;
        check_lengths(
            "scan_mad_slide",
            (threads * w) as usize,
            &[("scratch", scratch.len())],
        )?;
        let mut b = self.stream.launch_builder(self.f("scan_mad_slide"));
        b.arg(&n)
            .arg(&d.x)
            .arg(&d.valid)
            .arg(&d.ids)
            .arg(&d.starts)
            .arg(&w)
            .arg(&per_thread)
            .arg(&mut scratch)
            .arg(&mut values)
            .arg(&mut valid);
        // SAFETY: checked above: the row buffers hold at least `n` rows and
        // the scratch `window` keys for each of the `threads` threads (thread
        // t keeps at most `window` keys, at `scratch[t·window..]`). Every
        // `ids[i] < starts.len()`, checked on the host by `upload_series`.
        // Rows before their series start only wrap `i − window` past `i`,
        // which empties the window loops (no access).
        unsafe { b.launch(grid(threads)) }?;
        Ok(DeviceScan { values, valid })
    }

    /// Launches a scan kernel of one thread per row.
    fn row_scan(
        &self,
        name: &str,
        kind: ScanKind,
        d: &DeviceSeries,
        window: usize,
    ) -> R<DeviceScan> {
        if name == "scan_mad" && window > crate::MAX_MAD_WINDOW {
            // Each thread sorts its window in arrays of MAX_MAD elements.
            return Err(GpuError::InvalidArgument(format!(
                "scan_mad: window of {window} rows, at most {}",
                crate::MAX_MAD_WINDOW
            )));
        }
        let n = d.launch_rows(name)?;
        let mut values = self.zeros::<f64>(n as usize)?;
        let mut valid = self.zeros::<u8>(n as usize)?;
        check_lengths(
            name,
            n as usize,
            &[("values", values.len()), ("valid out", valid.len())],
        )?;
        let w = window as u64;
        let mut b = self.stream.launch_builder(self.f(name));
        b.arg(&n).arg(&d.x).arg(&d.valid).arg(&d.ids).arg(&d.starts);
        if kind != ScanKind::LogReturn {
            b.arg(&w);
        }
        b.arg(&mut values).arg(&mut valid);
        // SAFETY: checked above: every row buffer holds at least `n` rows, and
        // `scan_mad`'s window fits its per-thread arrays. Every
        // `ids[i] < starts.len()`, checked on the host by `upload_series`.
        // Log returns read row `i − 1` only when `i` is past its series start
        // (so `i ≥ 1`); the window loops read rows `i − window..i` only when
        // `i ≥ window` (else `i − window` wraps past `i` and they read nothing).
        unsafe { b.launch(grid(n)) }?;
        Ok(DeviceScan { values, valid })
    }

    /// The time-window z-score on device-resident series (`width` > 0 µs);
    /// the result stays on the device.
    pub fn scan_time(
        &self,
        d: &DeviceSeries,
        ts: &CudaSlice<i64>,
        ts_valid: &CudaSlice<u8>,
        width: i64,
    ) -> R<DeviceScan> {
        if width <= 0 {
            return Err(GpuError::Unsupported(format!("time window {width} µs")));
        }
        let n = d.launch_rows("scan_zscore_time")?;
        let mut values = self.zeros::<f64>(n as usize)?;
        let mut valid = self.zeros::<u8>(n as usize)?;
        check_lengths(
            "scan_zscore_time",
            n as usize,
            &[
                ("ts", ts.len()),
                ("ts_valid", ts_valid.len()),
                ("values", values.len()),
                ("valid out", valid.len()),
            ],
        )?;
        let mut b = self.stream.launch_builder(self.f("scan_zscore_time"));
        b.arg(&n)
            .arg(&d.x)
            .arg(&d.valid)
            .arg(ts)
            .arg(ts_valid)
            .arg(&d.ids)
            .arg(&d.starts)
            .arg(&width)
            .arg(&mut values)
            .arg(&mut valid);
        // SAFETY: checked above: every row buffer holds at least `n` rows and
        // `width > 0` (the kernel's `I64_MIN + width` does not overflow).
        // Every `ids[i] < starts.len()`, checked on the host by
        // `upload_series`; the kernel reads rows `start..i` of row i's series
        // only, none when its start is past `i`.
        unsafe { b.launch(grid(n)) }?;
        Ok(DeviceScan { values, valid })
    }

    /// Stale runs on device-resident series.
    pub fn stale(&self, d: &DeviceSeries) -> R<(CudaSlice<u32>, CudaSlice<u32>)> {
        let n = d.launch_rows("scan_stale")?;
        let mut len = self.zeros::<u32>(n as usize)?;
        let mut pos = self.zeros::<u32>(n as usize)?;
        check_lengths(
            "scan_stale",
            n as usize,
            &[("len", len.len()), ("pos", pos.len())],
        )?;
        let mut b = self.stream.launch_builder(self.f("scan_stale"));
        b.arg(&n)
            .arg(&d.x)
            .arg(&d.valid)
            .arg(&d.ids)
            .arg(&d.starts)
            .arg(&mut len)
            .arg(&mut pos);
        // SAFETY: checked above: every row buffer holds at least `n` rows.
        // Every `ids[i] < starts.len()`, checked on the host by
        // `upload_series`; the kernel reads row `i − 1` only when `i` is past
        // its series start, so `i ≥ 1`.
        unsafe { b.launch(grid(n)) }?;
        Ok((len, pos))
    }
}

/// Which float scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    /// ln(xᵢ / xᵢ₋₁).
    LogReturn,
    /// Rolling z-score.
    ZScore,
    /// Rolling MAD z-score.
    Mad,
}

/// Series columns resident on the device, made by [`Gpu::upload_series`].
///
/// Invariant (what the scan kernels rely on, and cannot check themselves):
/// every series id is below `starts.len()`, because the kernels read
/// `starts[ids[i]]` unchecked. `upload_series` checks it on the host, where
/// the ids still are; the fields are private, so nothing else can break it.
/// The row count is `ids.len()`; `x` and `valid` may be longer (scan outputs
/// are never empty), and each launch checks they are not shorter.
pub struct DeviceSeries {
    x: CudaSlice<f64>,
    valid: CudaSlice<u8>,
    ids: CudaSlice<u32>,
    starts: CudaSlice<u64>,
}

impl DeviceSeries {
    /// The rows a launch of `kernel` covers (one per series id), after
    /// checking that `x` and `valid` hold at least that many.
    fn launch_rows(&self, kernel: &str) -> R<u64> {
        let n = self.ids.len();
        check_lengths(
            kernel,
            n,
            &[("x", self.x.len()), ("valid", self.valid.len())],
        )?;
        Ok(n as u64)
    }
}

/// A scan's result on the device.
pub struct DeviceScan {
    /// Values.
    pub values: CudaSlice<f64>,
    /// Validity.
    pub valid: CudaSlice<u8>,
}

impl Scanner for Arc<Gpu> {
    fn log_return(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> R<ScanColumn> {
        let d = self.upload_series(x, valid, s)?;
        self.download_scan(self.scan(ScanKind::LogReturn, &d, 0)?)
    }

    fn zscore(&self, x: &[f64], valid: &[u8], s: Series<'_>, window: usize) -> R<ScanColumn> {
        let d = self.upload_series(x, valid, s)?;
        self.download_scan(self.scan(ScanKind::ZScore, &d, window)?)
    }

    fn zscore_time(
        &self,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
        width: i64,
    ) -> R<ScanColumn> {
        let d = self.upload_series(x, valid, s)?;
        let (ts, tv) = (self.upload(t.ts)?, self.upload(t.valid)?);
        self.download_scan(self.scan_time(&d, &ts, &tv, width)?)
    }

    fn mad_zscore(&self, x: &[f64], valid: &[u8], s: Series<'_>, window: usize) -> R<ScanColumn> {
        let d = self.upload_series(x, valid, s)?;
        self.download_scan(self.scan(ScanKind::Mad, &d, window)?)
    }

    fn stale_runs(&self, x: &[f64], valid: &[u8], s: Series<'_>) -> R<Runs> {
        let d = self.upload_series(x, valid, s)?;
        let (len, pos) = self.stale(&d)?;
        Ok(Runs {
            len: self.download(&len)?,
            pos: self.download(&pos)?,
        })
    }

    /// One upload and one download: the log returns stay on the device.
    fn jump_zscore(
        &self,
        x: &[f64],
        valid: &[u8],
        t: Times<'_>,
        s: Series<'_>,
        window: Window,
    ) -> R<ScanColumn> {
        let d = self.upload_series(x, valid, s)?;
        let r = self.scan(ScanKind::LogReturn, &d, 0)?;
        let returns = DeviceSeries {
            x: r.values,
            valid: r.valid,
            ids: d.ids,
            starts: d.starts,
        };
        let z = match window {
            Window::Rows(n) => self.scan(ScanKind::ZScore, &returns, n)?,
            Window::Micros(us) => {
                let (ts, tv) = (self.upload(t.ts)?, self.upload(t.valid)?);
                self.scan_time(&returns, &ts, &tv, us)?
            }
        };
        self.download_scan(z)
    }
}

impl Gpu {
    /// A device-resident scan result on the host.
    pub fn download_scan(&self, d: DeviceScan) -> R<ScanColumn> {
        Ok(ScanColumn {
            values: self.download(&d.values)?,
            valid: self.download(&d.valid)?,
        })
    }
}

/// Device accumulators of one aggregate.
struct DevAcc {
    op: AggOp,
    count: Option<CudaSlice<u64>>,
    f1: Option<CudaSlice<f64>>,
    f2: Option<CudaSlice<f64>>,
    /// Min/max, best key, or variance shift (ordered integers).
    u1: Option<CudaSlice<u64>>,
    /// The best key of the previous chunk (first/last).
    seen: Option<CudaSlice<u64>>,
    row: Option<CudaSlice<u64>>,
    picked: Option<CudaSlice<f64>>,
    picked_valid: Option<CudaSlice<u8>>,
}

impl DevAcc {
    fn new(op: AggOp) -> Self {
        Self {
            op,
            count: None,
            f1: None,
            f2: None,
            u1: None,
            seen: None,
            row: None,
            picked: None,
            picked_valid: None,
        }
    }

    fn u1_init(&self) -> u64 {
        match self.op {
            AggOp::Min | AggOp::First | AggOp::MinKey => u64::MAX,
            op if op.variance() => u64::MAX, // NO_SHIFT
            _ => 0,
        }
    }

    fn row_init(&self) -> u64 {
        if self.op == AggOp::First { u64::MAX } else { 0 }
    }
}

fn grow_u64(
    gpu: &Gpu,
    slot: &mut Option<CudaSlice<u64>>,
    old: usize,
    cap: usize,
    init: u64,
) -> R<()> {
    let mut new = gpu.filled(cap, init)?;
    if let Some(prev) = slot.take()
        && old > 0
    {
        gpu.stream
            .memcpy_dtod(&prev.slice(0..old), &mut new.slice_mut(0..old))?;
    }
    *slot = Some(new);
    Ok(())
}

fn grow_zeros<T: DeviceRepr + ValidAsZeroBits>(
    gpu: &Gpu,
    slot: &mut Option<CudaSlice<T>>,
    old: usize,
    cap: usize,
) -> R<()> {
    let mut new = gpu.zeros::<T>(cap)?;
    if let Some(prev) = slot.take()
        && old > 0
    {
        gpu.stream
            .memcpy_dtod(&prev.slice(0..old), &mut new.slice_mut(0..old))?;
    }
    *slot = Some(new);
    Ok(())
}

/// Page-locked host memory for one column's uploads, with an event recorded
/// after the copy that last read it.
///
/// cudarc records a pinned buffer's own event only when its context runs
/// several streams; Contango's runs one, so `as_mut_slice` would not wait and
/// the next chunk could overwrite the buffer while the previous chunk's
/// asynchronous copy from it is still queued behind other work on the stream
/// (the kernels then aggregate the wrong rows). This event is ours to wait on.
struct Pinned<T: DeviceRepr> {
    host: PinnedHostSlice<T>,
    read: CudaEvent,
}

impl<T: DeviceRepr> Pinned<T> {
    fn new(gpu: &Gpu, n: usize) -> R<Self> {
        // SAFETY: the memory is written before any copy reads it.
        let host = unsafe { gpu.ctx.alloc_pinned::<T>(n) }?;
        let read = gpu
            .ctx
            .new_event(Some(CUevent_flags::CU_EVENT_BLOCKING_SYNC))?;
        Ok(Self { host, read })
    }
}

impl<T: DeviceRepr> Drop for Pinned<T> {
    fn drop(&mut self) {
        // The memory is freed next: a copy still reading it must finish first.
        if let Err(e) = self.read.synchronize() {
            tracing::warn!("waiting for a staged copy failed: {e:?}");
        }
    }
}

/// A host column staged for the device: a device buffer and two pinned host
/// buffers used in turn, so a chunk's copy overlaps the caller preparing the
/// next chunk, and writing a buffer waits only for the copy two chunks back.
struct Staged<T: DeviceRepr> {
    pinned: [Option<Pinned<T>>; 2],
    turn: usize,
    dev: CudaSlice<T>,
}

#[derive(Default)]
struct Staging {
    /// The values argument of ops that read none (one element, never read).
    unused: Option<CudaSlice<f64>>,
    groups: Option<Staged<u32>>,
    f64s: Vec<Option<Staged<f64>>>,
    i64s: Vec<Option<Staged<i64>>>,
    u8s: Vec<Option<Staged<u8>>>,
}

/// `dst.copy_from_slice(src)`, on several threads when large: the copy into
/// pinned memory is the host side of every upload, and one thread's copy
/// bandwidth (a few GB/s into write-combined memory) would bound it.
fn par_copy<T: Copy + Send + Sync>(dst: &mut [T], src: &[T]) {
    /// Bytes one thread copies at least.
    const PIECE: usize = 8 << 20;
    let bytes = std::mem::size_of_val(src);
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(8)
        .min(bytes / PIECE);
    if threads <= 1 {
        dst.copy_from_slice(src);
        return;
    }
    let per = src.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (d, from) in dst.chunks_mut(per).zip(src.chunks(per)) {
            s.spawn(move || d.copy_from_slice(from));
        }
    });
}

fn stage<T: DeviceRepr + ValidAsZeroBits + Copy + Send + Sync>(
    gpu: &Gpu,
    slot: &mut Option<Staged<T>>,
    host: &[T],
) -> R<()> {
    let n = host.len();
    let fits = slot.as_ref().is_some_and(|s| s.dev.len() >= n);
    if !fits {
        // Dropping the old buffers waits for copies still reading them.
        *slot = None;
        *slot = Some(Staged {
            pinned: [
                Pinned::new(gpu, n.max(1)).ok(),
                Pinned::new(gpu, n.max(1)).ok(),
            ],
            turn: 0,
            dev: gpu.zeros::<T>(n)?,
        });
    }
    let s = slot.as_mut().expect("staged");
    let turn = s.turn;
    s.turn ^= 1;
    match s.pinned[turn].as_mut() {
        Some(p) if p.host.len() == n => {
            p.read.synchronize()?;
            par_copy(p.host.as_mut_slice()?, host);
            gpu.stream
                .memcpy_htod(&p.host, &mut s.dev.slice_mut(0..n))?;
            p.read.record(&gpu.stream)?;
        }
        // Pageable memory: the driver has read `host` when the call returns.
        _ => gpu.stream.memcpy_htod(host, &mut s.dev.slice_mut(0..n))?,
    }
    Ok(())
}

/// Device buffers of one chunk's distinct columns, by host address.
struct Uploaded {
    f64s: HashMap<(usize, usize), usize>,
    i64s: HashMap<(usize, usize), usize>,
    u8s: HashMap<(usize, usize), usize>,
}

fn dev<T: DeviceRepr>(s: &Option<Staged<T>>) -> &CudaSlice<T> {
    &s.as_ref().expect("staged").dev
}

fn key<T>(s: &[T]) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// Grouped aggregation with accumulators on the device.
pub struct DeviceAggregator {
    gpu: Arc<Gpu>,
    accs: Vec<DevAcc>,
    cap: usize,
    rows: u64,
    staging: Staging,
    memory_limit: usize,
}

/// The device-side inputs of one aggregate (see [`crate::AggInput`]).
pub struct DeviceInput<'a> {
    /// Values (any buffer for `Count`, which reads only validity).
    pub values: &'a CudaSlice<f64>,
    /// Validity.
    pub valid: &'a CudaSlice<u8>,
    /// Weights (VWAP).
    pub weight: Option<&'a CudaSlice<f64>>,
    /// Order keys (first/last).
    pub key: Option<&'a CudaSlice<i64>>,
    /// Key validity.
    pub key_valid: Option<&'a CudaSlice<u8>>,
}

impl DeviceAggregator {
    /// Caps the accumulators' device memory (0: no cap but the device's).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Makes room for `num_groups` groups (capacity doubles).
    fn reserve(&mut self, num_groups: usize) -> R<()> {
        if num_groups <= self.cap {
            return Ok(());
        }
        let cap = num_groups.max(self.cap * 2).max(1024);
        let per_group = 48 * self.accs.len();
        let need = per_group * cap;
        if self.memory_limit > 0 && need > self.memory_limit {
            return Err(GpuError::OutOfMemory(format!(
                "{cap} groups need {need} bytes of accumulators, over the limit of {}",
                self.memory_limit
            )));
        }
        let free = self.gpu.free_memory()?;
        if need + need / 2 > free {
            return Err(GpuError::OutOfMemory(format!(
                "{cap} groups need {need} bytes of accumulators, {free} free"
            )));
        }
        let (gpu, old) = (self.gpu.clone(), self.cap);
        for a in &mut self.accs {
            let (u1_init, row_init) = (a.u1_init(), a.row_init());
            grow_u64(&gpu, &mut a.count, old, cap, 0)?;
            match a.op {
                AggOp::Count => {}
                AggOp::Sum | AggOp::Avg => grow_zeros(&gpu, &mut a.f1, old, cap)?,
                AggOp::Min | AggOp::Max | AggOp::MinKey | AggOp::MaxKey => {
                    grow_u64(&gpu, &mut a.u1, old, cap, u1_init)?
                }
                AggOp::Vwap => {
                    grow_zeros(&gpu, &mut a.f1, old, cap)?;
                    grow_zeros(&gpu, &mut a.f2, old, cap)?;
                }
                AggOp::First | AggOp::Last => {
                    grow_u64(&gpu, &mut a.u1, old, cap, u1_init)?;
                    grow_u64(&gpu, &mut a.seen, old, cap, u1_init)?;
                    grow_u64(&gpu, &mut a.row, old, cap, row_init)?;
                    grow_zeros(&gpu, &mut a.picked, old, cap)?;
                    grow_zeros(&gpu, &mut a.picked_valid, old, cap)?;
                }
                _ => {
                    grow_u64(&gpu, &mut a.u1, old, cap, u1_init)?;
                    grow_zeros(&gpu, &mut a.f1, old, cap)?;
                    grow_zeros(&gpu, &mut a.f2, old, cap)?;
                }
            }
        }
        self.cap = cap;
        Ok(())
    }

    /// Checks every launch of [`push_device`](Self::push_device) before any
    /// runs (a refused chunk leaves the accumulators untouched): one input
    /// per op, with the buffers the op's kernels read; `groups` and those
    /// buffers at least `n` rows; every accumulator at least `num_groups`
    /// groups (`reserve` grew them).
    fn check_push(
        &self,
        groups: &CudaSlice<u32>,
        n: usize,
        num_groups: usize,
        inputs: &[DeviceInput<'_>],
    ) -> R<()> {
        if inputs.len() != self.accs.len() {
            return Err(GpuError::InvalidArgument(format!(
                "push_device: {} inputs for {} aggregates",
                inputs.len(),
                self.accs.len()
            )));
        }
        for (a, input) in self.accs.iter().zip(inputs) {
            let kernels = match a.op {
                AggOp::Count => "agg_count",
                AggOp::Sum | AggOp::Avg => "agg_sum",
                AggOp::Min | AggOp::Max => "agg_minmax",
                AggOp::Vwap => "agg_vwap",
                AggOp::MinKey | AggOp::MaxKey => "agg_best_key",
                AggOp::First | AggOp::Last => "agg_best_key/agg_best_row/agg_pick",
                _ => "agg_var",
            };
            let mut rows = vec![("groups", groups.len())];
            // Min/max of keys reads only the key validity.
            if !matches!(a.op, AggOp::MinKey | AggOp::MaxKey) {
                rows.push(("valid", input.valid.len()));
            }
            if a.op.reads_values() {
                rows.push(("values", input.values.len()));
            }
            if a.op.weighted() {
                let w = input
                    .weight
                    .ok_or_else(|| GpuError::Unsupported("vwap without weights".into()))?;
                rows.push(("weight", w.len()));
            }
            if a.op.keyed() {
                let (Some(key), Some(kv)) = (input.key, input.key_valid) else {
                    return Err(GpuError::Unsupported(format!("{:?} without keys", a.op)));
                };
                rows.extend([("key", key.len()), ("key_valid", kv.len())]);
            }
            check_lengths(kernels, n, &rows)?;
            // The accumulators this op uses are the allocated ones (a launch
            // would stop at `expect("reserved")` on any other).
            let accs = [
                ("count", a.count.as_ref().map(CudaSlice::len)),
                ("f1", a.f1.as_ref().map(CudaSlice::len)),
                ("f2", a.f2.as_ref().map(CudaSlice::len)),
                ("u1", a.u1.as_ref().map(CudaSlice::len)),
                ("seen", a.seen.as_ref().map(CudaSlice::len)),
                ("row", a.row.as_ref().map(CudaSlice::len)),
                ("picked", a.picked.as_ref().map(CudaSlice::len)),
                ("picked_valid", a.picked_valid.as_ref().map(CudaSlice::len)),
            ];
            let accs: Vec<(&str, usize)> = accs
                .into_iter()
                .filter_map(|(name, len)| Some((name, len?)))
                .collect();
            check_lengths(kernels, num_groups, &accs)?;
        }
        Ok(())
    }

    /// Aggregates the first `n` rows of buffers already on the device, one
    /// input per op. `groups` and every input buffer an op reads must hold at
    /// least `n` rows (checked; an error otherwise, before anything runs).
    /// Every `groups[i]` must be below `num_groups`: the kernels index the
    /// accumulators by it unchecked, and checking it here would take a read
    /// of the device buffer, so that part is the caller's to keep
    /// ([`Aggregator::push`] checks it on the host before uploading).
    pub fn push_device(
        &mut self,
        groups: &CudaSlice<u32>,
        n: usize,
        num_groups: usize,
        inputs: &[DeviceInput<'_>],
    ) -> R<()> {
        self.reserve(num_groups)?;
        self.check_push(groups, n, num_groups, inputs)?;
        let gpu = self.gpu.clone();
        let s = &gpu.stream;
        let n64 = n as u64;
        let runs = grid(n64.div_ceil(RUN));
        let rows = grid(n64);
        let offset = self.rows;
        let ng = num_groups as u64;
        for (a, input) in self.accs.iter_mut().zip(inputs) {
            let count = a.count.as_mut().expect("reserved");
            // Launch safety, for every launch below: `check_push` checked that
            // each row buffer it reads (`groups`, the input's columns) holds
            // at least `n` rows and each accumulator at least `num_groups`
            // groups. Threads touch rows `0..n` only (groups `0..num_groups`
            // in `agg_reset_rows`), and accumulators at `groups[i]`, below
            // `num_groups` by this function's contract (not checked: on the
            // device, see above).
            match a.op {
                AggOp::Count => {
                    let mut b = s.launch_builder(gpu.f("agg_count"));
                    b.arg(&n64).arg(groups).arg(input.valid).arg(count);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
                AggOp::Sum | AggOp::Avg => {
                    let mut b = s.launch_builder(gpu.f("agg_sum"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(input.values)
                        .arg(input.valid)
                        .arg(count)
                        .arg(a.f1.as_mut().expect("reserved"));
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
                AggOp::Min | AggOp::Max => {
                    let is_max = (a.op == AggOp::Max) as i32;
                    let mut b = s.launch_builder(gpu.f("agg_minmax"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(input.values)
                        .arg(input.valid)
                        .arg(count)
                        .arg(a.u1.as_mut().expect("reserved"))
                        .arg(&is_max);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
                AggOp::Vwap => {
                    let w = input
                        .weight
                        .ok_or_else(|| GpuError::Unsupported("vwap without weights".into()))?;
                    let mut b = s.launch_builder(gpu.f("agg_vwap"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(input.values)
                        .arg(w)
                        .arg(input.valid)
                        .arg(count)
                        .arg(a.f1.as_mut().expect("reserved"))
                        .arg(a.f2.as_mut().expect("reserved"));
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
                AggOp::MinKey | AggOp::MaxKey => {
                    let last = (a.op == AggOp::MaxKey) as i32;
                    let (Some(key), Some(kv)) = (input.key, input.key_valid) else {
                        return Err(GpuError::Unsupported("min/max without keys".into()));
                    };
                    let mut b = s.launch_builder(gpu.f("agg_best_key"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(key)
                        .arg(kv)
                        .arg(count)
                        .arg(a.u1.as_mut().expect("reserved"))
                        .arg(&last);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
                AggOp::First | AggOp::Last => {
                    let last = (a.op == AggOp::Last) as i32;
                    let (Some(key), Some(kv)) = (input.key, input.key_valid) else {
                        return Err(GpuError::Unsupported("first/last without keys".into()));
                    };
                    let best = a.u1.as_mut().expect("reserved");
                    let mut b = s.launch_builder(gpu.f("agg_best_key"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(key)
                        .arg(kv)
                        .arg(count)
                        .arg(&mut *best)
                        .arg(&last);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                    let row = a.row.as_mut().expect("reserved");
                    let sentinel = if last == 1 { 0u64 } else { u64::MAX };
                    let mut b = s.launch_builder(gpu.f("agg_reset_rows"));
                    b.arg(&ng)
                        .arg(&*best)
                        .arg(a.seen.as_mut().expect("reserved"))
                        .arg(&mut *row)
                        .arg(&sentinel);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(grid(ng)) }?;
                    let mut b = s.launch_builder(gpu.f("agg_best_row"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(key)
                        .arg(kv)
                        .arg(&*best)
                        .arg(&mut *row)
                        .arg(&offset)
                        .arg(&last);
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(rows) }?;
                    let mut b = s.launch_builder(gpu.f("agg_pick"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(input.values)
                        .arg(input.valid)
                        .arg(&*row)
                        .arg(&offset)
                        .arg(a.picked.as_mut().expect("reserved"))
                        .arg(a.picked_valid.as_mut().expect("reserved"));
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(rows) }?;
                }
                _ => {
                    let mut b = s.launch_builder(gpu.f("agg_var"));
                    b.arg(&n64)
                        .arg(groups)
                        .arg(input.values)
                        .arg(input.valid)
                        .arg(count)
                        .arg(a.u1.as_mut().expect("reserved"))
                        .arg(a.f1.as_mut().expect("reserved"))
                        .arg(a.f2.as_mut().expect("reserved"));
                    // SAFETY: buffers checked by `check_push` ("Launch safety").
                    unsafe { b.launch(runs) }?;
                }
            }
        }
        self.rows += n64;
        Ok(())
    }

    /// Forgets every group (accumulators back to their initial values).
    pub fn reset(&mut self) {
        for a in &mut self.accs {
            *a = DevAcc::new(a.op);
        }
        self.cap = 0;
        self.rows = 0;
    }

    /// The results for `num_groups` groups (copies accumulators back).
    pub fn results(&mut self, num_groups: usize) -> R<Vec<AggColumn>> {
        self.reserve(num_groups)?;
        let gpu = self.gpu.clone();
        let get_u64 = |s: &Option<CudaSlice<u64>>| -> R<Vec<u64>> {
            match s {
                Some(s) => Ok(gpu.stream.clone_dtoh(&s.slice(0..num_groups))?),
                None => Ok(Vec::new()),
            }
        };
        let get_f64 = |s: &Option<CudaSlice<f64>>| -> R<Vec<f64>> {
            match s {
                Some(s) => Ok(gpu.stream.clone_dtoh(&s.slice(0..num_groups))?),
                None => Ok(Vec::new()),
            }
        };
        let mut out = Vec::with_capacity(self.accs.len());
        for a in &self.accs {
            let count = get_u64(&a.count)?;
            let (f1, f2, u1, picked) = (
                get_f64(&a.f1)?,
                get_f64(&a.f2)?,
                get_u64(&a.u1)?,
                get_f64(&a.picked)?,
            );
            let picked_valid: Vec<u8> = match &a.picked_valid {
                Some(s) => gpu.stream.clone_dtoh(&s.slice(0..num_groups))?,
                None => Vec::new(),
            };
            out.push(finalize(
                a.op,
                &count,
                |k| f1[k],
                |k| f2[k],
                |k| u1[k],
                |k| (picked_valid[k] != 0).then(|| picked[k]),
            ));
        }
        Ok(out)
    }
}

impl Aggregator for DeviceAggregator {
    fn push(&mut self, chunk: &AggChunk<'_>) -> R<()> {
        chunk.check(self.accs.iter().map(|a| a.op))?;
        // The kernels index accumulators by group id unchecked; here the ids
        // are still on the host (`push_device` cannot check them).
        if let Some(&max) = chunk.groups.iter().max()
            && max as usize >= chunk.num_groups
        {
            return Err(GpuError::InvalidArgument(format!(
                "group id {max} in a chunk of {} groups",
                chunk.num_groups
            )));
        }
        let n = chunk.groups.len();
        if n == 0 {
            self.reserve(chunk.num_groups)?;
            return Ok(());
        }
        let gpu = self.gpu.clone();
        stage(&gpu, &mut self.staging.groups, chunk.groups)?;
        // Upload each distinct host column once (min, max, first and last
        // usually share the price column).
        let mut up = Uploaded {
            f64s: HashMap::new(),
            i64s: HashMap::new(),
            u8s: HashMap::new(),
        };
        fn put<T: DeviceRepr + ValidAsZeroBits + Copy + Send + Sync>(
            gpu: &Gpu,
            map: &mut HashMap<(usize, usize), usize>,
            bufs: &mut Vec<Option<Staged<T>>>,
            host: &[T],
        ) -> R<usize> {
            if let Some(i) = map.get(&key(host)) {
                return Ok(*i);
            }
            let i = map.len();
            if bufs.len() <= i {
                bufs.push(None);
            }
            stage(gpu, &mut bufs[i], host)?;
            map.insert(key(host), i);
            Ok(i)
        }
        let mut idx = Vec::with_capacity(chunk.inputs.len());
        for (a, input) in self.accs.iter().zip(&chunk.inputs) {
            // Values are uploaded only for the ops that read them.
            let v = if !a.op.reads_values() {
                None
            } else {
                Some(put(
                    &gpu,
                    &mut up.f64s,
                    &mut self.staging.f64s,
                    &input.values[..n],
                )?)
            };
            let valid = put(&gpu, &mut up.u8s, &mut self.staging.u8s, &input.valid[..n])?;
            let w = if a.op.weighted() {
                Some(put(
                    &gpu,
                    &mut up.f64s,
                    &mut self.staging.f64s,
                    &input.weight[..n],
                )?)
            } else {
                None
            };
            let k = if a.op.keyed() {
                Some((
                    put(&gpu, &mut up.i64s, &mut self.staging.i64s, &input.key[..n])?,
                    put(
                        &gpu,
                        &mut up.u8s,
                        &mut self.staging.u8s,
                        &input.key_valid[..n],
                    )?,
                ))
            } else {
                None
            };
            idx.push((v, valid, w, k));
        }
        if self.staging.unused.is_none() {
            self.staging.unused = Some(gpu.zeros::<f64>(1)?);
        }
        let staging = std::mem::take(&mut self.staging);
        let unused = staging.unused.as_ref().expect("allocated");
        let inputs: Vec<DeviceInput<'_>> = idx
            .iter()
            .map(|(v, valid, w, k)| DeviceInput {
                values: v.map_or(unused, |v| dev(&staging.f64s[v])),
                valid: dev(&staging.u8s[*valid]),
                weight: w.map(|w| dev(&staging.f64s[w])),
                key: k.map(|(k, _)| dev(&staging.i64s[k])),
                key_valid: k.map(|(_, kv)| dev(&staging.u8s[kv])),
            })
            .collect();
        let groups = &staging.groups.as_ref().expect("staged").dev;
        let r = self.push_device(groups, n, chunk.num_groups, &inputs);
        drop(inputs);
        self.staging = staging;
        r
    }

    fn finish(mut self: Box<Self>, num_groups: usize) -> R<Vec<AggColumn>> {
        self.results(num_groups)
    }

    fn device_name(&self) -> String {
        self.gpu.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::{GpuError, check_lengths, guarded, par_copy};

    #[test]
    fn launch_lengths_are_checked() {
        // Long enough (longer is fine: staged buffers are reused), and no
        // buffers at all.
        check_lengths("agg_sum", 10, &[("groups", 10), ("values", 16)]).unwrap();
        check_lengths("agg_sum", 0, &[("groups", 0)]).unwrap();
        check_lengths("hold", 10, &[]).unwrap();
        // A short buffer is refused, by kernel and buffer name and lengths.
        let r = check_lengths("scan_zscore", 10, &[("x", 10), ("valid", 9), ("ids", 3)]);
        let Err(GpuError::InvalidArgument(m)) = &r else {
            panic!("{r:?}");
        };
        assert_eq!(
            m, "scan_zscore: `valid` holds 9 elements, needs at least 10",
            "the first short buffer is named"
        );
        assert!(
            r.unwrap_err()
                .to_string()
                .starts_with("invalid kernel arguments: ")
        );
    }

    #[test]
    fn panics_in_gpu_work_become_errors() {
        // The shape of a real device bug (an upload of values an op was not given).
        let empty: Vec<f64> = Vec::new();
        let r = guarded(|| Ok(empty[..std::hint::black_box(3)].len()));
        assert!(
            matches!(&r, Err(GpuError::Panicked(m)) if m.contains("out of range")),
            "{r:?}"
        );
        let r = guarded(|| -> Result<(), GpuError> { panic!("device state {}", 7) });
        assert!(
            matches!(&r, Err(GpuError::Panicked(m)) if m == "device state 7"),
            "{r:?}"
        );
        assert_eq!(guarded(|| Ok(5)).unwrap(), 5);
        let r = guarded(|| -> Result<(), GpuError> { Err(GpuError::OutOfMemory("x".into())) });
        assert!(matches!(r, Err(GpuError::OutOfMemory(_))));
    }

    #[test]
    fn parallel_copies_copy_everything() {
        for n in [0usize, 1, 1000, (8 << 20) / 8 * 3 + 17] {
            let src: Vec<u64> = (0..n as u64).map(|i| i * 2654435761).collect();
            let mut dst = vec![0u64; n];
            par_copy(&mut dst, &src);
            assert_eq!(dst, src, "{n} elements");
        }
    }
}
