//! The one Prometheus registry. Every metric of every crate is registered
//! here, on the `prometheus` crate's types, and `/metrics` renders it with
//! the crate's text encoder: nothing writes the exposition format by hand.
//! The `process_*` metrics come from the crate's process collector (Linux),
//! with `process_cpu_seconds_total` in hundredths of a second as the kernel
//! counts it (the collector rounds it down to whole seconds).

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(process::Process::default()))
        .expect("the process collector registers once");
    registry
});

#[cfg(target_os = "linux")]
mod process {
    use prometheus::core::{Collector, Desc};
    use prometheus::process_collector::ProcessCollector;
    use prometheus::proto::{Counter, MetricFamily};

    /// The crate's process collector, with CPU time at the kernel's resolution.
    pub(super) struct Process(ProcessCollector);

    impl Default for Process {
        fn default() -> Self {
            Self(ProcessCollector::for_self())
        }
    }

    impl Collector for Process {
        fn desc(&self) -> Vec<&Desc> {
            self.0.desc()
        }

        fn collect(&self) -> Vec<MetricFamily> {
            let mut families = self.0.collect();
            if let Some(seconds) = cpu_seconds() {
                for family in &mut families {
                    if family.name() == "process_cpu_seconds_total" {
                        for metric in family.mut_metric() {
                            let mut counter = Counter::default();
                            counter.set_value(seconds);
                            metric.set_counter(counter);
                        }
                    }
                }
            }
            families
        }
    }

    /// User plus system CPU time of this process, from `/proc/self/stat`
    /// (fields 14 and 15, in clock ticks of 1/100 s, Linux's `USER_HZ`).
    fn cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |field: usize| fields.get(field - 3)?.parse::<f64>().ok();
        Some((ticks(14)? + ticks(15)?) / 100.0)
    }
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Registers `metric` in the process-wide registry and returns it. Each
/// metric is created once (in a `LazyLock` or a long-lived owner); a second
/// registration of the same name is a bug, reported by a panic in debug
/// builds and logged in release builds.
pub fn register<C: Collector + Clone + 'static>(metric: C) -> C {
    if let Err(e) = REGISTRY.register(Box::new(metric.clone())) {
        debug_assert!(false, "metric registered twice: {e}");
        tracing::error!("metric not registered: {e}");
    }
    metric
}

/// Every registered metric in Prometheus' text exposition format.
pub fn render() -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&REGISTRY.gather(), &mut out) {
        tracing::error!("metrics not encoded: {e}");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Building blocks of collectors that read live state at scrape time
/// (streams, data quality, the GPU): descriptions, samples and families in
/// the crate's own data model, labels in the order given.
pub mod collect {
    use std::collections::HashMap;

    use prometheus::core::Desc;
    use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

    /// The description of family `name` with `labels`.
    pub fn desc(name: &str, help: &str, labels: &[&str]) -> Desc {
        Desc::new(
            name.into(),
            help.into(),
            labels.iter().map(|l| (*l).to_string()).collect(),
            HashMap::new(),
        )
        .expect("valid metric description")
    }

    /// One sample of a counter or gauge family.
    pub fn sample(kind: MetricType, labels: &[(&str, &str)], value: f64) -> Metric {
        let mut m = Metric::from_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*name).to_string());
                    pair.set_value((*value).to_string());
                    pair
                })
                .collect(),
        );
        if kind == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        m
    }

    /// A family of `kind` holding `metrics`.
    pub fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
        let mut f = MetricFamily::default();
        f.set_name(name.to_string());
        f.set_help(help.to_string());
        f.set_field_type(kind);
        f.set_metric(metrics);
        f
    }
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_are_rendered_with_the_process_metrics() {
        let c = register(
            prometheus::IntCounterVec::new(
                prometheus::Opts::new("contango_test_things_total", "Things."),
                &["kind"],
            )
            .unwrap(),
        );
        c.with_label_values(&["a\"b"]).inc_by(3);
        let text = render();
        assert!(text.contains("# TYPE contango_test_things_total counter"));
        assert!(
            text.contains(r#"contango_test_things_total{kind="a\"b"} 3"#),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        {
            assert!(text.contains("process_resident_memory_bytes"), "{text}");
            // Burn a little CPU: the counter has sub-second resolution.
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            assert!(x != 1);
            let cpu: f64 = render()
                .lines()
                .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
                .and_then(|v| v.parse().ok())
                .expect("process_cpu_seconds_total is exported");
            assert!(cpu > 0.0, "{cpu}");
        }
    }
}
