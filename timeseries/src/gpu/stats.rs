//! Process-wide GPU counters for `/metrics`: what the GPU operators did
//! across every query (each plan also reports its own in EXPLAIN ANALYZE).
//!
//! One collector in the process-wide registry ([`contango_common::metrics`])
//! holds the counters and reads the device's state (available, memory) at
//! scrape time.

use std::sync::{Arc, LazyLock};

use contango_common::metrics::collect::{desc, family, sample};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{Counter, IntCounter, Opts};

static GPU_METRICS: LazyLock<GpuCollector> =
    LazyLock::new(|| contango_common::metrics::register(GpuCollector::new()));

/// Registers the `contango_gpu_*` metrics, so that `/metrics` has them
/// before any GPU operator ran (idempotent).
pub fn register() {
    LazyLock::force(&GPU_METRICS);
}

/// The device processed `rows` in `seconds` (one offloaded piece of work).
pub fn record_gpu(rows: usize, seconds: f64) {
    let m = &GPU_METRICS.0;
    m.rows_on_gpu.inc_by(rows as u64);
    m.offloads.inc();
    m.kernel_seconds.inc_by(seconds.max(0.0));
}

/// The CPU references processed `rows` inside a GPU operator.
pub fn record_cpu(rows: usize) {
    GPU_METRICS.0.rows_on_cpu.inc_by(rows as u64);
}

/// The device failed and the CPU took over.
pub fn record_fallback() {
    GPU_METRICS.0.fallbacks.inc();
}

/// The `contango_gpu_*` families alone in the text exposition format (the
/// crate's encoder; `/metrics` renders them with everything else).
pub fn prometheus() -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&GPU_METRICS.collect())
        .unwrap_or_default()
}

#[derive(Clone)]
struct GpuCollector(Arc<GpuMetrics>);

struct GpuMetrics {
    available: Desc,
    memory: Desc,
    memory_free: Desc,
    offloads: IntCounter,
    rows_on_gpu: IntCounter,
    rows_on_cpu: IntCounter,
    kernel_seconds: Counter,
    fallbacks: IntCounter,
}

impl GpuCollector {
    fn new() -> Self {
        let int = |name: &str, help: &str| {
            IntCounter::with_opts(Opts::new(name, help)).expect("valid counter")
        };
        Self(Arc::new(GpuMetrics {
            available: desc(
                "contango_gpu_available",
                "1 when a GPU with the kernels loaded is in use.",
                &[],
            ),
            memory: desc(
                "contango_gpu_device_memory_bytes",
                "Device memory in total.",
                &["device"],
            ),
            memory_free: desc(
                "contango_gpu_device_memory_free_bytes",
                "Device memory free now.",
                &["device"],
            ),
            offloads: int(
                "contango_gpu_plans_offloaded_total",
                "Pieces of operator work (aggregation chunks, scan segments) run on the GPU.",
            ),
            rows_on_gpu: int(
                "contango_gpu_rows_total",
                "Rows processed on the GPU by GPU operators.",
            ),
            rows_on_cpu: int(
                "contango_gpu_cpu_rows_total",
                "Rows GPU operators processed on the CPU references (no GPU, small input, fallback).",
            ),
            kernel_seconds: Counter::with_opts(Opts::new(
                "contango_gpu_kernel_seconds_total",
                "Time spent in device work (transfers and kernels).",
            ))
            .expect("valid counter"),
            fallbacks: int(
                "contango_gpu_fallbacks_total",
                "Times the device failed and the CPU took over.",
            ),
        }))
    }
}

/// A gauge family of one sample, from the family's description.
fn gauge(desc: &Desc, labels: &[(&str, &str)], value: f64) -> MetricFamily {
    family(
        &desc.fq_name,
        &desc.help,
        MetricType::GAUGE,
        vec![sample(MetricType::GAUGE, labels, value)],
    )
}

impl Collector for GpuCollector {
    fn desc(&self) -> Vec<&Desc> {
        let m = &self.0;
        let mut descs = vec![&m.available, &m.memory, &m.memory_free];
        descs.extend(m.offloads.desc());
        descs.extend(m.rows_on_gpu.desc());
        descs.extend(m.rows_on_cpu.desc());
        descs.extend(m.kernel_seconds.desc());
        descs.extend(m.fallbacks.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let m = &self.0;
        let gpu = contango_gpu_kernels::Gpu::shared();
        let mut out = vec![gauge(&m.available, &[], f64::from(u8::from(gpu.is_some())))];
        if let Some(g) = &gpu {
            let device = [("device", g.name())];
            out.push(gauge(&m.memory, &device, g.total_memory() as f64));
            if let Ok(free) = g.free_memory() {
                out.push(gauge(&m.memory_free, &device, free as f64));
            }
        }
        out.extend(m.offloads.collect());
        out.extend(m.rows_on_gpu.collect());
        out.extend(m.rows_on_cpu.collect());
        out.extend(m.kernel_seconds.collect());
        out.extend(m.fallbacks.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU families in the registry keep their names, types and labels.
    #[test]
    fn gpu_metrics_are_rendered_by_the_registry() {
        register();
        record_cpu(3);
        let text = contango_common::metrics::render();
        for (name, kind) in [
            ("contango_gpu_available", "gauge"),
            ("contango_gpu_plans_offloaded_total", "counter"),
            ("contango_gpu_rows_total", "counter"),
            ("contango_gpu_cpu_rows_total", "counter"),
            ("contango_gpu_kernel_seconds_total", "counter"),
            ("contango_gpu_fallbacks_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} in\n{text}"
            );
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} in\n{text}"
            );
        }
        match contango_gpu_kernels::Gpu::shared() {
            Some(g) => {
                assert!(text.contains("contango_gpu_available 1\n"), "{text}");
                let line = format!(
                    "contango_gpu_device_memory_bytes{{device=\"{}\"}} ",
                    g.name()
                );
                assert!(text.contains(&line), "{text}");
                assert!(text.contains("# TYPE contango_gpu_device_memory_free_bytes gauge\n"));
            }
            None => {
                assert!(text.contains("contango_gpu_available 0\n"), "{text}");
                assert!(!text.contains("contango_gpu_device_memory"), "{text}");
            }
        }
        assert_eq!(
            prometheus()
                .lines()
                .filter(|l| l.starts_with("# TYPE "))
                .count(),
            6 + 2 * usize::from(contango_gpu_kernels::Gpu::shared().is_some()),
            "{}",
            prometheus()
        );
    }
}
