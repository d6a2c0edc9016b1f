//! GPU execution of commodity aggregations and anomaly scans: session
//! options, the `GpuAggregateExec` operator, the placement rule, and the
//! device-backed anomaly scan used by `anomalies(...)`. The kernels (and their
//! CPU references) live in the `contango-gpu-kernels` crate.

pub mod aggregate;
pub mod anomaly;
pub mod intern;
pub mod options;
pub mod rule;
pub mod segments;
pub mod series;
pub mod stats;
pub mod window;

pub use options::{GpuMode, GpuOptions};
pub use rule::GpuPlacementRule;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::PlanProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};

/// The properties of an operator that reads all of its input and emits
/// `schema`'s rows in one partition at the end (`GpuAggregateExec`,
/// `AnomalyScanExec`).
fn one_final_partition(schema: &SchemaRef) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema.clone()),
        Partitioning::UnknownPartitioning(1),
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    fn context(mode: GpuMode) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .with_option_extension(GpuOptions::new(mode, 0, 1024));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(GpuPlacementRule))
            .build();
        let ctx = SessionContext::new_with_state(state);
        crate::register_all(&ctx, "UTC");
        // 5 commodities × 3000 ticks in 4 partitions, with nulls, ties in
        // time across commodities, WTI's negative settlement and a stale run.
        let schema = Arc::new(Schema::new(vec![
            Field::new("commodity", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("price", DataType::Float64, true),
            Field::new("volume", DataType::Int64, true),
        ]));
        let mut parts = vec![];
        for p in 0..4 {
            let mut c = vec![];
            let mut t = vec![];
            let mut x = vec![];
            let mut v = vec![];
            for i in 0..3750i64 {
                let k = i * 4 + p;
                c.push(["WTI", "BRENT", "HH", "RBOB", "HO"][(k % 5) as usize]);
                t.push(1_700_000_000_000_000 + k * 1_700_000 / 5 * 5);
                let base = 50.0 + (k % 5) as f64 * 10.0 + ((k * 7919) % 1000) as f64 / 100.0;
                x.push(if k % 97 == 0 {
                    None
                } else if k == 777 {
                    Some(-36.98)
                } else if (k / 5) % 40 < 6 {
                    Some(60.0 + (k % 5) as f64) // stale runs
                } else if k % 331 == 0 {
                    Some(base * 4.0) // spikes
                } else {
                    Some(base)
                });
                v.push(if k % 89 == 0 { None } else { Some(k % 500 + 1) });
            }
            parts.push(vec![
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(c)),
                        Arc::new(TimestampMicrosecondArray::from(t).with_timezone("UTC")),
                        Arc::new(Float64Array::from(x)),
                        Arc::new(Int64Array::from(v)),
                    ],
                )
                .unwrap(),
            ]);
        }
        ctx.register_table("ticks", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string();
        let batches = df.collect().await.unwrap();
        (pretty_format_batches(&batches).unwrap().to_string(), shown)
    }

    /// Rounds floats in printed tables to 9 significant digits (the
    /// documented tolerance of sums) so both paths print the same.
    fn rounded(s: &str) -> String {
        s.lines()
            .filter(|l| !l.starts_with('+'))
            .collect::<Vec<_>>()
            .join("\n")
            .split('|')
            .map(|cell| match cell.trim().parse::<f64>() {
                Ok(x) if cell.contains('.') || cell.contains('e') => format!("{x:.9e}"),
                _ => cell.trim().to_string(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    #[tokio::test]
    async fn gpu_operators_match_datafusion() {
        let on = context(GpuMode::On);
        let off = context(GpuMode::Off);
        for sql in [
            "SELECT commodity, time_bucket(INTERVAL '1' MINUTE, ts) AS m, open_price(price, ts) AS o, \
             max(price) AS h, min(price) AS l, close_price(price, ts) AS c, sum(CAST(volume AS DOUBLE)) AS v, \
             vwap(price, volume) AS vw, count(*) AS n, count(price) AS np FROM ticks GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT commodity, date_trunc('day', ts) AS d, avg(price), stddev(price), var_pop(price), \
             stddev_pop(price), variance(price) FROM ticks GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT commodity, close_price(price, ts) AS last, max(ts) FROM ticks GROUP BY 1 ORDER BY 1",
            "SELECT count(*), sum(price), min(price), max(price) FROM ticks",
            "SELECT count(*), sum(price) FROM ticks WHERE price > 1000",
            // No rows: no groups (one key and two keys intern differently).
            "SELECT commodity, count(*), sum(price) FROM ticks WHERE price > 1000 GROUP BY 1",
            "SELECT commodity, date_trunc('day', ts), count(*) FROM ticks WHERE price > 1000 GROUP BY 1, 2",
            "SELECT commodity, count(*) FILTER (WHERE price < 0) FROM ticks GROUP BY 1 ORDER BY 1",
        ] {
            let (a, plan_on) = run(&on, sql).await;
            let (b, plan_off) = run(&off, sql).await;
            assert!(plan_on.contains("GpuAggregateExec: device="), "{plan_on}");
            assert!(!plan_off.contains("GpuAggregateExec"), "{plan_off}");
            assert_eq!(rounded(&a), rounded(&b), "{sql}\n{a}\n{b}");
        }
        for (method, window, threshold) in [
            ("zscore", 20, 3.0),
            ("mad", 15, 3.5),
            // Beyond the per-thread sort: sliding sorted windows.
            ("mad", 200, 3.5),
            ("jump", 20, 3.0),
            ("stale", 4, 0.0),
            ("negative", 2, 0.0),
        ] {
            let sql = format!(
                "SELECT commodity, source, ts, price, score, reason FROM anomalies('ticks', '{method}', {window}, {threshold}) \
                 ORDER BY commodity, ts"
            );
            let (a, plan_on) = run(&on, &sql).await;
            let (b, plan_off) = run(&off, &sql).await;
            assert!(plan_on.contains("GpuAnomalyScanExec: device="), "{plan_on}");
            assert!(
                plan_off.contains("AnomalyScanExec: device=cpu"),
                "{plan_off}"
            );
            assert!(!plan_off.contains("GpuAnomalyScanExec"), "{plan_off}");
            assert!(b.lines().count() >= 5, "{method} finds something:\n{b}");
            assert_eq!(rounded(&a), rounded(&b), "{sql}\n{a}\n{b}");
            // Both against the same method written as window functions.
            let reference = crate::anomalies::reference_sql(
                "ticks",
                method,
                crate::commodity::RollingWindow::Rows(window),
                threshold,
            );
            let (c, _) = run(
                &off,
                &format!(
                    "SELECT commodity, source, ts, price, score, reason \
                     FROM ({reference}) ORDER BY commodity, ts"
                ),
            )
            .await;
            // (The reference prints times without their zone.)
            assert_eq!(
                rounded(&c),
                rounded(&b.replace("Z ", " ")),
                "{method}\n{c}\n{b}"
            );
        }
        // A device memory limit the accumulators exceed: the aggregation
        // finishes on the CPU with the same result (on a GPU machine the
        // fallback is counted; without a GPU the CPU kernels ran anyway).
        let limited = context(GpuMode::On);
        limited
            .sql("SET contango.gpu_memory_limit = 1")
            .await
            .unwrap();
        let sql = "SELECT commodity, date_trunc('hour', ts) AS h, max(price), vwap(price, volume) \
                   FROM ticks GROUP BY 1, 2 ORDER BY 1, 2";
        let df = limited.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let task = limited.task_ctx();
        let batches = datafusion::physical_plan::collect(plan.clone(), task)
            .await
            .unwrap();
        let (b, _) = run(&off, sql).await;
        assert_eq!(
            rounded(&pretty_format_batches(&batches).unwrap().to_string()),
            rounded(&b)
        );
        let mut fallbacks = 0;
        let _ = datafusion::common::tree_node::TreeNode::apply(&plan, |node| {
            if node.name() == "GpuAggregateExec" {
                fallbacks += node
                    .metrics()
                    .and_then(|m| m.sum_by_name("gpu_fallbacks"))
                    .map_or(0, |v| v.as_usize());
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
        let expected = usize::from(contango_gpu_kernels::Gpu::shared().is_some());
        assert_eq!(fallbacks, expected, "device fallbacks");

        // Window functions of the series kind.
        let sql = "SELECT commodity, ts, log_return(price) OVER w AS r, zscore(price, 20) OVER w AS z, \
                   mad_zscore(price, 15) OVER w AS m, mad_zscore(price, 200) OVER w AS m2, \
                   zscore(price, INTERVAL '30' MINUTE, ts) OVER w AS zt \
                   FROM ticks WINDOW w AS (PARTITION BY commodity ORDER BY ts) ORDER BY commodity, ts";
        let (a, plan_on) = run(&on, sql).await;
        let (b, plan_off) = run(&off, sql).await;
        assert!(plan_on.contains("GpuWindowExec: device="), "{plan_on}");
        assert!(!plan_off.contains("GpuWindowExec"), "{plan_off}");
        assert_eq!(a.lines().count(), 15_004);
        assert_eq!(rounded(&a), rounded(&b), "{sql}");
        let (scored, _) = run(
            &on,
            "SELECT count(zt) > 1000 AS enough, count(*) > count(zt) AS some_null FROM (SELECT \
             zscore(price, INTERVAL '30' MINUTE, ts) OVER (PARTITION BY commodity ORDER BY ts) AS zt FROM ticks)",
        )
        .await;
        assert!(scored.contains("| true   | true      |"), "{scored}");
        // Mixed with a DataFusion window function: stays on DataFusion.
        let (_, plan) = run(
            &on,
            "SELECT zscore(price, 5) OVER w, row_number() OVER w FROM ticks WINDOW w AS (PARTITION BY commodity ORDER BY ts)",
        )
        .await;
        assert!(!plan.contains("GpuWindowExec"), "{plan}");
        // Ineligible: DISTINCT and integer sums stay on DataFusion's operators.
        let (_, plan) = run(
            &on,
            "SELECT count(DISTINCT commodity), sum(volume) FROM ticks",
        )
        .await;
        assert!(!plan.contains("GpuAggregateExec"), "{plan}");
    }

    /// `auto` keeps aggregations on DataFusion and, with a GPU, puts series
    /// scans on it; without a GPU everything stays on the CPU.
    #[tokio::test]
    async fn auto_puts_scans_on_a_gpu_and_keeps_aggregations() {
        let auto = context(GpuMode::Auto);
        let (_, plan) = run(&auto, "SELECT commodity, max(price) FROM ticks GROUP BY 1").await;
        assert!(!plan.contains("GpuAggregateExec"), "{plan}");
        let (_, plan) = run(&auto, "SELECT * FROM anomalies('ticks', 'zscore', 20, 3)").await;
        let (_, window) = run(
            &auto,
            "SELECT zscore(price, 20) OVER (PARTITION BY commodity ORDER BY ts) FROM ticks",
        )
        .await;
        if contango_gpu_kernels::Gpu::shared().is_some() {
            assert!(plan.contains("GpuAnomalyScanExec: device="), "{plan}");
            assert!(window.contains("GpuWindowExec"), "{window}");
        } else {
            assert!(plan.contains("AnomalyScanExec: device=cpu"), "{plan}");
            assert!(!window.contains("GpuWindowExec"), "{window}");
        }
    }

    /// Many GPU aggregations at once, each of many small chunks, equal the
    /// CPU's: the conditions under which the H100 once returned wrong rows
    /// (see benches/RESULTS.md, run E). Without a GPU it exercises the host
    /// side (per-partition interning, id mapping) under concurrency.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_gpu_aggregations_match_the_cpu() {
        let sql = "SELECT commodity, date_trunc('day', ts) AS d, avg(price), stddev(price), var_pop(price), \
             stddev_pop(price), variance(price) FROM ticks GROUP BY 1, 2 ORDER BY 1, 2";
        let off = context(GpuMode::Off);
        let (b, _) = run(&off, sql).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..40 {
                    let on = context(GpuMode::On);
                    let (a, _) = run(&on, sql).await;
                    assert_eq!(rounded(&a), rounded(&b), "{a}\n{b}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// The value of the first sample of `name` in Prometheus text.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// `/metrics`' GPU counters follow what the operators did: on a GPU the
    /// device's memory and the rows it processed, without one the rows the
    /// CPU references took inside the GPU operators. (Counters are process
    /// wide and other tests add to them: only increases are asserted.)
    #[tokio::test]
    async fn gpu_counters_follow_the_operators() {
        let before = stats::prometheus();
        let on = context(GpuMode::On);
        run(
            &on,
            "SELECT commodity, max(price), vwap(price, volume) FROM ticks GROUP BY 1",
        )
        .await;
        let after = stats::prometheus();
        let grew = |name: &str| sample(&after, name).unwrap() - sample(&before, name).unwrap();
        match contango_gpu_kernels::Gpu::shared() {
            Some(g) => {
                assert_eq!(sample(&after, "contango_gpu_available"), Some(1.0));
                let total = sample(&after, "contango_gpu_device_memory_bytes").unwrap();
                assert_eq!(total, g.total_memory() as f64);
                assert!(total > 1e9, "{after}");
                let free = sample(&after, "contango_gpu_device_memory_free_bytes").unwrap();
                assert!(free > 0.0 && free <= total, "{after}");
                assert!(after.contains(&format!("{{device=\"{}\"}}", g.name())));
                assert!(grew("contango_gpu_rows_total") >= 15_000.0, "{after}");
                assert!(grew("contango_gpu_plans_offloaded_total") >= 1.0, "{after}");
                assert!(grew("contango_gpu_kernel_seconds_total") > 0.0, "{after}");
            }
            None => {
                assert_eq!(sample(&after, "contango_gpu_available"), Some(0.0));
                assert!(sample(&after, "contango_gpu_device_memory_bytes").is_none());
                assert!(grew("contango_gpu_cpu_rows_total") >= 15_000.0, "{after}");
            }
        }
    }
}
