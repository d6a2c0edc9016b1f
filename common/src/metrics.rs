//! The one Prometheus registry. Every metric of every crate is registered
//! here, on the `prometheus` crate's types, and `/metrics` renders it with
//! the crate's text encoder: nothing writes the exposition format by hand.
//! The `process_*` metrics come from the crate's process collector (Linux).

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("the process collector registers once");
    registry
});

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
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }
}
