//! The SQL behind each view, per monitored table. Every statement scans its
//! table once (aggregates are unpivoted with a `VALUES` list), and rows come
//! out in the column order of the view's schema (see [`crate::views`]).

use datafusion::arrow::datatypes::DataType;

use crate::monitor::{Check, FUTURE_TOLERANCE_SECS, Monitored, RuleType};
use crate::rules::{AlertConfig, num};

/// Largest finite double: with Arrow's total order NaN sorts above it, so
/// `abs(x) > MAX` holds exactly for NaN and ±Infinity.
const MAX_FINITE: &str = "1.7976931348623157e308";

/// `"name"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`.
pub fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A float literal that always plans as DOUBLE.
fn double(x: f64) -> String {
    format!("CAST({} AS DOUBLE)", num(x))
}

/// `"catalog"."schema"."table"`.
pub fn table_ref(catalog: &str, schema: &str, table: &str) -> String {
    format!("{}.{}.{}", ident(catalog), ident(schema), ident(table))
}

fn now() -> &'static str {
    "CAST(now() AS TIMESTAMP(6))"
}

/// The event time as a zoneless microsecond timestamp.
fn time_expr(column: &str) -> String {
    format!("CAST({} AS TIMESTAMP(6))", ident(column))
}

/// Rows the check looks at, and rows violating it (SQL predicates).
pub fn check_predicates(c: &Check) -> (String, String) {
    let x = ident(&c.column);
    let finite = format!("{x} IS NOT NULL AND abs(CAST({x} AS DOUBLE)) <= {MAX_FINITE}");
    match c.rule {
        RuleType::Finite => (
            format!("{x} IS NOT NULL"),
            format!("abs(CAST({x} AS DOUBLE)) > {MAX_FINITE}"),
        ),
        RuleType::Range => {
            let r = c.range.clone().unwrap_or_default();
            let v = format!("CAST({x} AS DOUBLE)");
            let mut ok = Vec::new();
            if let Some(g) = r.greater_than {
                ok.push(format!("{v} > {}", double(g)));
            }
            if let Some(a) = r.at_least {
                ok.push(format!("{v} >= {}", double(a)));
            }
            if let Some(l) = r.less_than {
                ok.push(format!("{v} < {}", double(l)));
            }
            if let Some(m) = r.at_most {
                ok.push(format!("{v} <= {}", double(m)));
            }
            let counted = if matches!(
                c.data_type,
                DataType::Float16 | DataType::Float32 | DataType::Float64
            ) {
                finite
            } else {
                format!("{x} IS NOT NULL")
            };
            let violation = format!("({counted}) AND NOT ({})", ok.join(" AND "));
            (counted, violation)
        }
        RuleType::Future => (
            format!("{x} IS NOT NULL"),
            format!(
                "{} > {} + INTERVAL '{FUTURE_TOLERANCE_SECS} seconds'",
                time_expr(&c.column),
                now()
            ),
        ),
        RuleType::Allowed => (
            format!("{x} IS NOT NULL"),
            format!(
                "CAST({x} AS VARCHAR) NOT IN ({})",
                c.values
                    .iter()
                    .map(|v| text(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        RuleType::Pattern => (
            format!("{x} IS NOT NULL"),
            format!(
                "NOT regexp_like(CAST({x} AS VARCHAR), {})",
                text(c.regex.as_deref().unwrap_or(""))
            ),
        ),
    }
}

/// `count(*)` and `count(col)` of every column (the counts history keeps).
/// Columns: table_name, column_name, row_count, null_count, threshold.
pub fn completeness(catalog: &str, m: &Monitored, filter: Option<&str>) -> String {
    let counts: Vec<String> = m
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, _, _))| format!("count({}) AS c{i}", ident(c)))
        .collect();
    let cases: Vec<String> = (0..m.columns.len())
        .map(|i| format!("WHEN {i} THEN a.n - a.c{i}"))
        .collect();
    let values: Vec<String> = m
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, _, min))| format!("({i}, {}, {})", text(c), double(*min)))
        .collect();
    format!(
        "SELECT {name} AS table_name, k.column_name, a.n AS row_count, \
         CASE k.i {cases} END AS null_count, k.threshold \
         FROM (SELECT count(*) AS n, {counts} FROM {t}{w}) a \
         CROSS JOIN (VALUES {values}) k(i, column_name, threshold)",
        name = text(&m.name()),
        cases = cases.join(" "),
        counts = counts.join(", "),
        t = table_ref(catalog, &m.schema, &m.table),
        w = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default(),
        values = values.join(", "),
    )
}

/// Checked rows and violations per validity check. Columns: table_name,
/// column_name, check_name, rule_type, row_count, violations.
pub fn validity(catalog: &str, m: &Monitored, filter: Option<&str>) -> Option<String> {
    if m.checks.is_empty() {
        return None;
    }
    let mut aggs = Vec::new();
    let mut values = Vec::new();
    let (mut counted_cases, mut violation_cases) = (Vec::new(), Vec::new());
    for (i, c) in m.checks.iter().enumerate() {
        let (counted, violation) = check_predicates(c);
        aggs.push(format!(
            "count(CASE WHEN {counted} THEN 1 END) AS k{i}, \
             count(CASE WHEN ({counted}) AND ({violation}) THEN 1 END) AS v{i}"
        ));
        values.push(format!(
            "({i}, {}, {}, {})",
            text(&c.column),
            text(&c.name),
            text(c.rule.name())
        ));
        counted_cases.push(format!("WHEN {i} THEN a.k{i}"));
        violation_cases.push(format!("WHEN {i} THEN a.v{i}"));
    }
    Some(format!(
        "SELECT {name} AS table_name, k.column_name, k.check_name, k.rule_type, \
         CASE k.i {kc} END AS row_count, CASE k.i {vc} END AS violations \
         FROM (SELECT {aggs} FROM {t}{w}) a \
         CROSS JOIN (VALUES {values}) k(i, column_name, check_name, rule_type)",
        name = text(&m.name()),
        kc = counted_cases.join(" "),
        vc = violation_cases.join(" "),
        aggs = aggs.join(", "),
        t = table_ref(catalog, &m.schema, &m.table),
        w = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default(),
        values = values.join(", "),
    ))
}

/// Columns: table_name, key_columns, row_count, distinct_keys, unique_keys.
pub fn uniqueness(catalog: &str, m: &Monitored) -> Option<String> {
    if m.keys.is_empty() {
        return None;
    }
    let keys: Vec<String> = m.keys.iter().map(|k| ident(k)).collect();
    Some(format!(
        "SELECT {name} AS table_name, {kc} AS key_columns, coalesce(sum(g.k), 0) AS row_count, \
         count(*) AS distinct_keys, count(CASE WHEN g.k = 1 THEN 1 END) AS unique_keys \
         FROM (SELECT count(*) AS k FROM {t} GROUP BY {keys}) g",
        name = text(&m.name()),
        kc = text(&m.keys.join(", ")),
        t = table_ref(catalog, &m.schema, &m.table),
        keys = keys.join(", "),
    ))
}

/// Columns: table_name, max_event_time, last_commit_time, max_staleness_seconds.
pub fn freshness(catalog: &str, m: &Monitored) -> String {
    let event = match &m.time_column {
        Some(tc) => format!(
            "(SELECT max({te}) AS m FROM {t} WHERE {te} <= {now})",
            te = time_expr(tc),
            t = table_ref(catalog, &m.schema, &m.table),
            now = now()
        ),
        None => "(SELECT CAST(NULL AS TIMESTAMP(6)) AS m)".to_string(),
    };
    format!(
        "SELECT {name} AS table_name, e.m AS max_event_time, s.c AS last_commit_time, \
         {limit} AS max_staleness_seconds \
         FROM {event} e CROSS JOIN (SELECT max(committed_at) AS c FROM {snaps}) s",
        name = text(&m.name()),
        limit = m
            .max_staleness_secs
            .map_or("CAST(NULL AS DOUBLE)".to_string(), double),
        snaps = table_ref(catalog, &m.schema, &format!("{}$snapshots", m.table)),
    )
}

/// Columns: table_name, hour, row_count, trailing_mean, trailing_stddev,
/// previous_hours, expected_rows_per_hour.
pub fn volume(catalog: &str, m: &Monitored) -> Option<String> {
    let tc = m.time_column.as_ref()?;
    Some(format!(
        "SELECT {name} AS table_name, hour, row_count, avg(row_count) OVER w AS trailing_mean, \
         stddev_samp(row_count) OVER w AS trailing_stddev, count(row_count) OVER w AS previous_hours, \
         {expected} AS expected_rows_per_hour \
         FROM (SELECT date_trunc('hour', {te}) AS hour, count(*) AS row_count FROM {t} \
               WHERE {te} <= {now} GROUP BY 1) h \
         WINDOW w AS (ORDER BY hour ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING)",
        name = text(&m.name()),
        expected = m
            .expected_rows_per_hour
            .map_or("CAST(NULL AS DOUBLE)".to_string(), double),
        te = time_expr(tc),
        t = table_ref(catalog, &m.schema, &m.table),
        now = now(),
    ))
}

/// Names of the consistency checks, in the order [`consistency`] emits them.
pub const CONSISTENCY_CHECKS: [&str; 3] = [
    "bar trades = tick count",
    "low <= open, close <= high",
    "bar vwap = tick vwap",
];

/// Columns: table_name, bars_table, check_name, checked, violations.
pub fn consistency(catalog: &str, m: &Monitored) -> Option<String> {
    let (bs, bt, secs) = m.bars.as_ref()?;
    let t = table_ref(catalog, &m.schema, &m.table);
    let not_late = match &m.late {
        Some(late) => {
            let l = table_ref(catalog, &m.schema, late);
            let topic = if m.multi_topic {
                " AND l._kafka_topic = x._kafka_topic"
            } else {
                ""
            };
            format!(
                " WHERE NOT EXISTS (SELECT 1 FROM {l} l WHERE l._kafka_partition = x._kafka_partition \
                 AND l._kafka_offset = x._kafka_offset{topic})"
            )
        }
        None => String::new(),
    };
    let ticks = format!(
        "SELECT x.commodity AS c, date_bin(INTERVAL '{secs} seconds', x.ts) AS bucket, count(*) AS n, \
         CASE WHEN sum(x.volume) > 0 THEN sum(x.price * CAST(x.volume AS DOUBLE)) / CAST(sum(x.volume) AS DOUBLE) END AS vwap \
         FROM {t} x{not_late} GROUP BY 1, 2"
    );
    let vwap_differs = "(b.vwap IS NULL) <> (t.vwap IS NULL) OR \
         abs(b.vwap - t.vwap) > 1e-9 * greatest(abs(b.vwap), abs(t.vwap), 1.0)";
    Some(format!(
        "SELECT {name} AS table_name, {bars} AS bars_table, k.check_name, a.checked, \
         CASE k.i WHEN 0 THEN a.v0 WHEN 1 THEN a.v1 ELSE a.v2 END AS violations \
         FROM (SELECT count(*) AS checked, \
                 count(CASE WHEN t.n IS NULL OR t.n <> b.trades THEN 1 END) AS v0, \
                 count(CASE WHEN NOT (b.low <= b.open AND b.open <= b.high AND b.low <= b.close AND b.close <= b.high) THEN 1 END) AS v1, \
                 count(CASE WHEN {vwap_differs} THEN 1 END) AS v2 \
               FROM {b} b LEFT JOIN ({ticks}) t ON b.commodity = t.c AND b.bucket_start = t.bucket) a \
         CROSS JOIN (VALUES (0, {c0}), (1, {c1}), (2, {c2})) k(i, check_name)",
        name = text(&m.name()),
        bars = text(&format!("{bs}.{bt}")),
        b = table_ref(catalog, bs, bt),
        c0 = text(CONSISTENCY_CHECKS[0]),
        c1 = text(CONSISTENCY_CHECKS[1]),
        c2 = text(CONSISTENCY_CHECKS[2]),
    ))
}

/// Every check in one long table, from the other views.
pub fn checks(catalog: &str) -> String {
    let q = |v: &str| table_ref(catalog, crate::monitor::QUALITY_SCHEMA, v);
    format!(
        "SELECT table_name, 'completeness of ' || column_name AS check_name, column_name, \
                'Completeness' AS metric, value, passed FROM {completeness} \
         UNION ALL SELECT table_name, check_name, column_name, 'Compliance', value, passed FROM {validity} \
         UNION ALL SELECT table_name, \
                CASE WHEN m.i = 0 THEN 'unique (' ELSE 'distinct (' END || key_columns || ')', \
                CAST(NULL AS VARCHAR) AS column_name, \
                CASE WHEN m.i = 0 THEN 'Uniqueness' ELSE 'Distinctness' END, \
                CASE WHEN m.i = 0 THEN uniqueness ELSE distinctness END, \
                CASE WHEN m.i = 0 THEN passed END AS passed \
                FROM {uniqueness} CROSS JOIN (VALUES (0), (1)) m(i) \
         UNION ALL SELECT table_name, 'row count', CAST(NULL AS VARCHAR) AS column_name, 'Size', \
                CAST(max(row_count) AS DOUBLE), CAST(NULL AS BOOLEAN) AS passed FROM {completeness} GROUP BY table_name \
         UNION ALL SELECT table_name, 'freshness', CAST(NULL AS VARCHAR) AS column_name, 'Freshness', event_lag_seconds, passed \
                FROM {freshness} \
         UNION ALL SELECT table_name, 'volume of the latest hour', CAST(NULL AS VARCHAR) AS column_name, 'Volume', \
                CAST(row_count AS DOUBLE), NOT anomalous \
                FROM (SELECT *, row_number() OVER (PARTITION BY table_name ORDER BY hour DESC) AS r FROM {volume}) \
                WHERE r = 1 \
         UNION ALL SELECT table_name, check_name, CAST(NULL AS VARCHAR) AS column_name, 'Consistency', value, passed FROM {consistency}",
        completeness = q("completeness"),
        validity = q("validity"),
        uniqueness = q("uniqueness"),
        freshness = q("freshness"),
        volume = q("volume"),
        consistency = q("consistency"),
    )
}

/// One row per table: the share of scored checks that pass, and which fail.
pub fn summary(catalog: &str) -> String {
    format!(
        "SELECT table_name, \
         CASE WHEN count(passed) > 0 THEN 100.0 * count(CASE WHEN passed THEN 1 END) / count(passed) END AS score, \
         count(passed) AS checks, count(CASE WHEN NOT passed THEN 1 END) AS failed, \
         coalesce(string_agg(CASE WHEN NOT passed THEN check_name END, '; ' ORDER BY check_name), '') AS failing, \
         CAST(max(CASE WHEN metric = 'Size' THEN value END) AS BIGINT) AS row_count \
         FROM {} GROUP BY table_name",
        table_ref(catalog, crate::monitor::QUALITY_SCHEMA, "checks")
    )
}

/// Deequ's strategies over the history: SimpleThreshold (a failed check),
/// RelativeRateOfChange (Size) and OnlineNormal (rates).
pub fn alerts(catalog: &str, a: &AlertConfig) -> String {
    let h = table_ref(
        catalog,
        crate::monitor::QUALITY_SCHEMA,
        crate::history::HISTORY_TABLE,
    );
    let s = format!(
        "(SELECT table_name, check_name, column_name, metric, computed_at, value, passed, \
         lag(value) OVER w AS previous_value, avg(value) OVER p AS mean, stddev_samp(value) OVER p AS sd, \
         count(value) OVER p AS n FROM {h} \
         WINDOW w AS (PARTITION BY table_name, check_name, column_name, metric ORDER BY computed_at), \
         p AS (PARTITION BY table_name, check_name, column_name, metric ORDER BY computed_at \
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) s"
    );
    let cols = "table_name, check_name, column_name, metric, computed_at, value, previous_value";
    format!(
        "SELECT {cols}, 'SimpleThreshold' AS strategy, 'check failed: ' || check_name AS detail \
         FROM {s} WHERE passed = false \
         UNION ALL SELECT {cols}, 'RelativeRateOfChange', \
                'changed by ' || CAST(round(100.0 * (value / previous_value - 1.0), 1) AS VARCHAR) || '% since the previous run' \
           FROM {s} WHERE metric = 'Size' AND previous_value > 0 \
                AND (value / previous_value - 1.0 > {inc} OR 1.0 - value / previous_value > {dec}) \
         UNION ALL SELECT {cols}, 'OnlineNormal', \
                'outside mean ' || CAST(round(mean, 6) AS VARCHAR) || ' +/- {f} * stddev ' || CAST(round(sd, 6) AS VARCHAR) \
           FROM {s} WHERE metric IN ('Completeness', 'Compliance', 'Uniqueness', 'Distinctness', 'Consistency') \
                AND n >= {min} AND abs(value - mean) > {f} * sd \
                AND abs(value - mean) > 1e-12 * greatest(abs(value), abs(mean))",
        inc = double(a.max_rate_increase),
        dec = double(a.max_rate_decrease),
        f = num(a.deviation_factor),
        min = a.min_history,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RangeRule;
    use datafusion::arrow::array::{Float64Array, RecordBatch};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;
    use std::sync::Arc;

    async fn count(ctx: &SessionContext, c: &Check) -> (i64, i64) {
        let (counted, violation) = check_predicates(c);
        let sql = format!(
            "SELECT count(CASE WHEN {counted} THEN 1 END), \
             count(CASE WHEN ({counted}) AND ({violation}) THEN 1 END) FROM t"
        );
        let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let v = |i: usize| {
            b[0].column(i)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap()
                .value(0)
        };
        (v(0), v(1))
    }

    #[tokio::test]
    async fn finite_and_range_predicates() {
        let ctx = SessionContext::new();
        let x = Float64Array::from(vec![
            Some(1.0),
            Some(-36.98),
            Some(0.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            None,
        ]);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "Price",
            DataType::Float64,
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(x)]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        let check = |rule, range| Check {
            column: "Price".into(),
            data_type: DataType::Float64,
            name: String::new(),
            rule,
            range,
            values: vec![],
            regex: None,
        };
        // NaN and ±Infinity are the non-finite values; NULL is never checked.
        assert_eq!(count(&ctx, &check(RuleType::Finite, None)).await, (6, 3));
        // price > 0 over the finite values: −36.98 and 0 violate it.
        let positive = RangeRule {
            column: "Price".into(),
            greater_than: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            count(&ctx, &check(RuleType::Range, Some(positive))).await,
            (3, 2)
        );
        let band = RangeRule {
            column: "Price".into(),
            at_least: Some(-40.0),
            at_most: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            count(&ctx, &check(RuleType::Range, Some(band))).await,
            (3, 1)
        );
    }
}
