//! The newest quality values as Prometheus gauges (`contango_quality_*`),
//! read from the runners' last run at scrape time by one collector in the
//! process-wide registry ([`contango_common::metrics`]).

use std::sync::{Arc, LazyLock, Weak};

use contango_common::metrics::collect::{desc, family, sample};
use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::history::{LastRun, QualityRunner};

/// (name, help, label names) of every family, in the order [`families`]
/// fills them.
const FAMILIES: [(&str, &str, &[&str]); 4] = [
    (
        "contango_quality_score",
        "Share of passing quality checks per table (0-100).",
        &["table"],
    ),
    (
        "contango_quality_check_value",
        "Newest value of each quality check.",
        &["table", "check", "column", "metric"],
    ),
    (
        "contango_quality_check_passed",
        "1 when the check passes, 0 when it fails.",
        &["table", "check", "column", "metric"],
    ),
    (
        "contango_quality_last_run_timestamp_seconds",
        "When quality metrics were last recorded.",
        &[],
    ),
];

const SCORE: usize = 0;
const CHECK_VALUE: usize = 1;
const CHECK_PASSED: usize = 2;
const LAST_RUN: usize = 3;

static COLLECTOR: LazyLock<QualityCollector> =
    LazyLock::new(|| contango_common::metrics::register(QualityCollector::new()));

/// Exports `runner`'s newest values on `/metrics` while it lives (once per
/// runner; calling it again is harmless).
pub fn publish(runner: &Arc<QualityRunner>) {
    let mut runners = COLLECTOR.runners.lock();
    runners.retain(|r| r.strong_count() > 0);
    if !runners.iter().any(|r| r.as_ptr() == Arc::as_ptr(runner)) {
        runners.push(Arc::downgrade(runner));
    }
}

/// Reads the published runners' last runs when the registry is gathered.
#[derive(Clone)]
struct QualityCollector {
    descs: Arc<Vec<Desc>>,
    runners: Arc<Mutex<Vec<Weak<QualityRunner>>>>,
}

impl QualityCollector {
    fn new() -> Self {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, labels)| desc(name, help, labels))
            .collect();
        Self {
            descs: Arc::new(descs),
            runners: Arc::default(),
        }
    }
}

impl Collector for QualityCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let runners: Vec<Arc<QualityRunner>> = {
            let mut runners = self.runners.lock();
            runners.retain(|r| r.strong_count() > 0);
            runners.iter().filter_map(Weak::upgrade).collect()
        };
        let runs: Vec<LastRun> = runners.iter().map(|r| r.last()).collect();
        families(&runs)
    }
}

/// A gauge sample with its labels in the given order.
fn gauge(labels: &[(&str, &str)], value: f64) -> Metric {
    sample(MetricType::GAUGE, labels, value)
}

/// The `contango_quality_*` families of `runs` (families without samples
/// are left out, as the registry does).
fn families(runs: &[LastRun]) -> Vec<MetricFamily> {
    let mut metrics: Vec<Vec<Metric>> = vec![Vec::new(); FAMILIES.len()];
    for last in runs {
        for (table, values) in &last.tables {
            if let Some(score) = LastRun::score(values) {
                metrics[SCORE].push(gauge(&[("table", table.as_str())], score));
            }
        }
        for v in last.tables.values().flatten() {
            let l = [
                ("table", v.table.as_str()),
                ("check", v.check.as_str()),
                ("column", v.column.as_deref().unwrap_or("")),
                ("metric", v.metric.as_str()),
            ];
            if let Some(x) = v.value {
                metrics[CHECK_VALUE].push(gauge(&l, x));
            }
            if let Some(p) = v.passed {
                metrics[CHECK_PASSED].push(gauge(&l, f64::from(u8::from(p))));
            }
        }
    }
    // One timestamp: the newest run of any runner.
    if let Some(at) = runs.iter().filter_map(|r| r.at).reduce(f64::max) {
        metrics[LAST_RUN].push(gauge(&[], at));
    }
    FAMILIES
        .iter()
        .zip(metrics)
        .filter(|(_, metrics)| !metrics.is_empty())
        .map(|((name, help, _), metrics)| family(name, help, MetricType::GAUGE, metrics))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::CheckValue;

    fn last() -> LastRun {
        let mut last = LastRun {
            at: Some(5.0),
            ..Default::default()
        };
        last.tables.insert(
            "eia.wti".into(),
            vec![
                CheckValue {
                    table: "eia.wti".into(),
                    check: "Price > 0".into(),
                    column: Some("Price".into()),
                    metric: "Compliance".into(),
                    value: Some(0.999),
                    passed: Some(false),
                },
                CheckValue {
                    table: "eia.wti".into(),
                    check: "row count".into(),
                    column: None,
                    metric: "Size".into(),
                    value: Some(10.0),
                    passed: None,
                },
                CheckValue {
                    table: "eia.wti".into(),
                    check: "completeness of \"Date\"".into(),
                    column: Some("Date".into()),
                    metric: "Completeness".into(),
                    value: Some(1.0),
                    passed: Some(true),
                },
            ],
        );
        last
    }

    #[test]
    fn gauges() {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&families(&[last()]))
            .unwrap();
        for (name, _, _) in FAMILIES {
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{text}");
        }
        assert!(
            text.contains("contango_quality_score{table=\"eia.wti\"} 50\n"),
            "{text}"
        );
        assert!(text.contains(
            "contango_quality_check_passed{table=\"eia.wti\",check=\"Price > 0\",column=\"Price\",metric=\"Compliance\"} 0\n"
        ));
        assert!(text.contains(
            "contango_quality_check_value{table=\"eia.wti\",check=\"row count\",column=\"\",metric=\"Size\"} 10\n"
        ));
        assert!(text.contains("check=\"completeness of \\\"Date\\\"\""));
        assert!(text.contains("contango_quality_last_run_timestamp_seconds 5\n"));
        assert!(
            !text.contains("contango_quality_check_passed{table=\"eia.wti\",check=\"row count\""),
            "unscored checks have no passed gauge: {text}"
        );
    }

    #[test]
    fn nothing_recorded_yet_exports_nothing() {
        assert!(families(&[LastRun::default()]).is_empty());
        let mut older = last();
        older.at = Some(2.0);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&families(&[older, last()]))
            .unwrap();
        assert_eq!(
            text.matches("contango_quality_last_run_timestamp_seconds 5\n")
                .count(),
            1,
            "{text}"
        );
    }
}
