//! Process-wide GPU counters for `/metrics`: what the GPU operators did
//! across every query (each plan also reports its own in EXPLAIN ANALYZE).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

static ROWS_ON_GPU: AtomicU64 = AtomicU64::new(0);
static ROWS_ON_CPU: AtomicU64 = AtomicU64::new(0);
static OFFLOADS: AtomicU64 = AtomicU64::new(0);
static FALLBACKS: AtomicU64 = AtomicU64::new(0);
static DEVICE_NANOS: AtomicU64 = AtomicU64::new(0);

/// The device processed `rows` in `seconds` (one offloaded piece of work).
pub fn record_gpu(rows: usize, seconds: f64) {
    ROWS_ON_GPU.fetch_add(rows as u64, Ordering::Relaxed);
    OFFLOADS.fetch_add(1, Ordering::Relaxed);
    DEVICE_NANOS.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
}

/// The CPU references processed `rows` inside a GPU operator.
pub fn record_cpu(rows: usize) {
    ROWS_ON_CPU.fetch_add(rows as u64, Ordering::Relaxed);
}

/// The device failed and the CPU took over.
pub fn record_fallback() {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// `contango_gpu_*` in the Prometheus text format.
pub fn prometheus() -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, labels: &str, v: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {v}"
        );
    };
    let gpu = contango_gpu_kernels::Gpu::shared();
    metric(
        "contango_gpu_available",
        "gauge",
        "1 when a GPU with the kernels loaded is in use.",
        "",
        f64::from(u8::from(gpu.is_some())),
    );
    if let Some(g) = &gpu {
        let device = format!("{{device=\"{}\"}}", g.name().replace('"', "'"));
        metric(
            "contango_gpu_device_memory_bytes",
            "gauge",
            "Device memory in total.",
            &device,
            g.total_memory() as f64,
        );
        if let Ok(free) = g.free_memory() {
            metric(
                "contango_gpu_device_memory_free_bytes",
                "gauge",
                "Device memory free now.",
                &device,
                free as f64,
            );
        }
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    metric(
        "contango_gpu_plans_offloaded_total",
        "counter",
        "Pieces of operator work (aggregation chunks, scan segments) run on the GPU.",
        "",
        load(&OFFLOADS),
    );
    metric(
        "contango_gpu_rows_total",
        "counter",
        "Rows processed on the GPU by GPU operators.",
        "",
        load(&ROWS_ON_GPU),
    );
    metric(
        "contango_gpu_cpu_rows_total",
        "counter",
        "Rows GPU operators processed on the CPU references (no GPU, small input, fallback).",
        "",
        load(&ROWS_ON_CPU),
    );
    metric(
        "contango_gpu_kernel_seconds_total",
        "counter",
        "Time spent in device work (transfers and kernels).",
        "",
        load(&DEVICE_NANOS) / 1e9,
    );
    metric(
        "contango_gpu_fallbacks_total",
        "counter",
        "Times the device failed and the CPU took over.",
        "",
        load(&FALLBACKS),
    );
    out
}
