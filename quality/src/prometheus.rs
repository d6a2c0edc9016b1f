//! The newest quality values as Prometheus gauges.

use std::fmt::Write as _;

use crate::history::{LastRun, QualityRunner};

/// Escapes a label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `contango_quality_*` in the text exposition format.
pub fn render(runner: &QualityRunner) -> String {
    render_last(&runner.last())
}

fn render_last(last: &LastRun) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP contango_quality_score Share of passing quality checks per table (0-100).\n",
    );
    out.push_str("# TYPE contango_quality_score gauge\n");
    for (table, values) in &last.tables {
        if let Some(score) = LastRun::score(values) {
            let _ = writeln!(
                out,
                "contango_quality_score{{table=\"{}\"}} {score}",
                label(table)
            );
        }
    }
    out.push_str("# HELP contango_quality_check_value Newest value of each quality check.\n");
    out.push_str("# TYPE contango_quality_check_value gauge\n");
    let labels = |v: &crate::history::CheckValue| {
        format!(
            "table=\"{}\",check=\"{}\",column=\"{}\",metric=\"{}\"",
            label(&v.table),
            label(&v.check),
            label(v.column.as_deref().unwrap_or("")),
            label(&v.metric)
        )
    };
    for v in last.tables.values().flatten() {
        if let Some(x) = v.value {
            let _ = writeln!(out, "contango_quality_check_value{{{}}} {x}", labels(v));
        }
    }
    out.push_str(
        "# HELP contango_quality_check_passed 1 when the check passes, 0 when it fails.\n",
    );
    out.push_str("# TYPE contango_quality_check_passed gauge\n");
    for v in last.tables.values().flatten() {
        if let Some(p) = v.passed {
            let _ = writeln!(
                out,
                "contango_quality_check_passed{{{}}} {}",
                labels(v),
                u8::from(p)
            );
        }
    }
    if let Some(at) = last.at {
        out.push_str("# HELP contango_quality_last_run_timestamp_seconds When quality metrics were last recorded.\n");
        out.push_str("# TYPE contango_quality_last_run_timestamp_seconds gauge\n");
        let _ = writeln!(out, "contango_quality_last_run_timestamp_seconds {at}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::CheckValue;

    #[test]
    fn gauges() {
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
        let text = render_last(&last);
        assert!(
            text.contains("contango_quality_score{table=\"eia.wti\"} 50\n"),
            "{text}"
        );
        assert!(text.contains(
            "contango_quality_check_passed{table=\"eia.wti\",check=\"Price > 0\",column=\"Price\",metric=\"Compliance\"} 0\n"
        ));
        assert!(text.contains("check=\"completeness of \\\"Date\\\"\""));
        assert!(text.contains("contango_quality_last_run_timestamp_seconds 5\n"));
    }
}
