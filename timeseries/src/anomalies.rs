//! `anomalies(table, method, window, threshold)`: the flagged rows of a
//! tick-shaped table (`commodity`, `ts`, `price`, and `source` when present),
//! each with a score and a reason. Series are per (commodity, source) in `ts`
//! order. Named arguments (`table => ...`) are turned positional by the
//! SQL front end's dialect rewrites (`contango_sql::dialect`).
//!
//! Methods:
//! - `zscore`: |price − mean| / sd of the `window` previous prices > threshold;
//! - `jump`: the log return's z-score against the `window` previous returns > threshold;
//!
//!   for these two, `window` may also be a time span (`window => INTERVAL '1' HOUR`):
//!   the prices (returns) of the hour before each tick;
//! - `mad`: the robust (median / MAD) z-score against the `window` previous prices > threshold;
//! - `stale`: the repeats of a price unchanged for at least `window` ticks (score = run length);
//! - `negative`: price < 0 (score = price).
//!
//! Every method runs as one scan over the gathered series
//! ([`crate::gpu::anomaly::AnomalyScanExec`]), on the GPU or its CPU references.
//!
//! Filters on the output reach the table's scan (and its Iceberg file
//! pruning) where they cannot change an output row that passes them: filters
//! on `commodity` and `source` (they keep or drop whole series), upper bounds
//! on `ts` for the methods that look only backwards (`zscore`, `mad`, `jump`;
//! a stale run's length also counts later ticks), and every filter on the
//! input columns for `negative`. They are applied to the output again.
//! A lower bound on `ts` for those backward-looking methods limits the
//! input too, to the history the rows after it need ([`super::history`]).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::col;

use crate::history;

/// Argument order of `anomalies(...)` (for named arguments).
pub const ARGUMENTS: &[&str] = &["table", "method", "window", "threshold"];

/// The `anomalies` table function.
#[derive(Debug)]
pub struct Anomalies;

#[derive(Debug, Clone)]
struct Request {
    table: String,
    method: String,
    window: RollingWindow,
    threshold: f64,
}

use crate::commodity::{RollingWindow, interval_micros};

fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Negative(inner) => literal(inner).and_then(|v| v.arithmetic_negate().ok()),
        _ => None,
    }
}

fn bad(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

impl TableFunctionImpl for Anomalies {
    fn call(&self, args: &[Expr]) -> DFResult<Arc<dyn TableProvider>> {
        let text = |i: usize| -> DFResult<Option<String>> {
            match args.get(i).map(literal) {
                None => Ok(None),
                Some(Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)))) => {
                    Ok(Some(s))
                }
                Some(_) => Err(bad(format!(
                    "anomalies: argument '{}' must be a string",
                    ARGUMENTS[i]
                ))),
            }
        };
        let number = |i: usize| -> DFResult<Option<f64>> {
            match args.get(i).map(literal) {
                None => Ok(None),
                Some(Some(v)) if !v.is_null() => match v.cast_to(&DataType::Float64)? {
                    ScalarValue::Float64(Some(x)) => Ok(Some(x)),
                    _ => Err(bad(format!(
                        "anomalies: argument '{}' must be a number",
                        ARGUMENTS[i]
                    ))),
                },
                Some(_) => Err(bad(format!(
                    "anomalies: argument '{}' must be a number",
                    ARGUMENTS[i]
                ))),
            }
        };
        let table = text(0)?.ok_or_else(|| bad("anomalies: the table argument is required"))?;
        let method = text(1)?
            .unwrap_or_else(|| "zscore".into())
            .to_ascii_lowercase();
        if !["zscore", "mad", "jump", "stale", "negative"].contains(&method.as_str()) {
            return Err(bad(format!(
                "anomalies: unknown method '{method}' (zscore, mad, jump, stale, negative)"
            )));
        }
        let window_arg = args.get(2).and_then(literal);
        let is_interval = window_arg
            .as_ref()
            .is_some_and(|v| matches!(v.data_type(), DataType::Interval(_)));
        let span = window_arg.as_ref().and_then(interval_micros);
        let window = match (is_interval, span) {
            (true, _) if !us_allowed(&method) => {
                return Err(bad(format!(
                    "anomalies: method '{method}' needs a window in rows (an integer >= 2)"
                )));
            }
            (true, Some(us)) if us > 0 => RollingWindow::Micros(us),
            (true, _) => {
                return Err(bad(
                    "anomalies: a window interval must be positive and without months",
                ));
            }
            (false, _) => {
                let n = number(2)?.unwrap_or(20.0);
                if n < 2.0 || n.fract() != 0.0 {
                    return Err(bad(
                        "anomalies: window must be an integer >= 2 or an interval (zscore, jump)",
                    ));
                }
                RollingWindow::Rows(n as usize)
            }
        };
        let threshold = number(3)?.unwrap_or(4.0);
        // The table name is spliced into SQL: allow only a (quoted) dotted name.
        let safe = !table.is_empty()
            && table
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '"'));
        if !safe {
            return Err(bad(format!("anomalies: invalid table name '{table}'")));
        }
        Ok(Arc::new(AnomaliesTable {
            request: Request {
                table,
                method,
                window,
                threshold,
            },
        }))
    }
}

#[derive(Debug)]
struct AnomaliesTable {
    request: Request,
}

fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("commodity", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("price", DataType::Float64, true),
        Field::new("score", DataType::Float64, true),
        Field::new("reason", DataType::Utf8, true),
    ]))
}

/// Whether `method` takes a time window.
fn us_allowed(method: &str) -> bool {
    matches!(method, "zscore" | "jump")
}

impl Request {
    /// The filter of the input (the table's ticks) that `output_filter` (a
    /// conjunct of a filter on the output) allows without changing any
    /// output row that passes it, if any (see the module docs).
    fn input_filter(&self, output_filter: &Expr) -> Option<Expr> {
        if !history::movable(output_filter) {
            return None;
        }
        let columns = output_filter.column_refs();
        let named = |names: &[&str]| columns.iter().all(|c| names.contains(&c.name.as_str()));
        let filter = if named(&["commodity", "source"])
            || (self.method == "negative" && named(&["commodity", "source", "ts", "price"]))
        {
            output_filter.clone()
        } else if named(&["ts"]) && self.method != "stale" {
            time_upper_bound(output_filter)?
        } else {
            return None;
        };
        // The input's columns carry no qualifier.
        Some(history::unqualified(filter))
    }

    /// What rows at or after a lower bound on `ts` need before them, for the
    /// methods that look only backwards (`None` for the others).
    fn need(&self, bound: i64) -> Option<history::Need> {
        let rows = match self.method.as_str() {
            "zscore" | "mad" => 0,
            "jump" => 1, // the return of the window's first row needs the row before it
            _ => return None,
        };
        Some(match self.window {
            RollingWindow::Rows(n) => history::Need {
                cut: bound,
                rows: n as u64 + rows,
                first_span: history::HOUR,
            },
            // One row before the window: it shows that the series reaches back
            // far enough, and is the previous price of the window's first return.
            RollingWindow::Micros(us) => history::Need {
                cut: bound.saturating_sub(us),
                rows: 1,
                first_span: us,
            },
        })
    }

    #[cfg(test)]
    /// The window arguments of `zscore(x, ...)`.
    fn window_args(&self) -> String {
        match self.window {
            RollingWindow::Rows(n) => n.to_string(),
            RollingWindow::Micros(us) => format!("INTERVAL '{us} microseconds', ts"),
        }
    }

    /// The table's ticks as (commodity, source, ts, price), cast to
    /// VARCHAR, TIMESTAMP WITH TIME ZONE and DOUBLE where `schema` (the
    /// table's; `None`: always) has other types: the scan reads strings of
    /// any kind and timestamps of any unit as they are.
    fn base_sql(&self, schema: Option<&Schema>) -> String {
        let kind = |name: &str| {
            schema.and_then(|s| s.field_with_name(name).ok().map(|f| f.data_type().clone()))
        };
        let text = |name: &str| match kind(name) {
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => name.to_string(),
            _ => format!("CAST({name} AS VARCHAR)"),
        };
        let source = match schema {
            Some(s) if s.field_with_name("source").is_err() => "CAST(NULL AS VARCHAR)".to_string(),
            _ => text("source"),
        };
        let ts = match kind("ts") {
            Some(DataType::Timestamp(_, _)) => "ts".to_string(),
            _ => "CAST(ts AS TIMESTAMP(6) WITH TIME ZONE)".to_string(),
        };
        let price = match kind("price") {
            Some(DataType::Float64) => "price".to_string(),
            _ => "CAST(price AS DOUBLE)".to_string(),
        };
        format!(
            "SELECT {} AS commodity, {source} AS source, {ts} AS ts, {price} AS price FROM {}",
            text("commodity"),
            self.table
        )
    }

    /// The window-function formulation of the method (the reference the
    /// scan is tested against).
    #[cfg(test)]
    fn sql(&self) -> String {
        let th = self.threshold;
        let w = match self.window {
            RollingWindow::Rows(n) => n,
            RollingWindow::Micros(_) => 0,
        };
        let zw = self.window_args();
        let base = self.base_sql(Some(&Schema::empty()));
        let series = "PARTITION BY commodity, source ORDER BY ts";
        let body = match self.method.as_str() {
            "zscore" => format!(
                "SELECT commodity, source, ts, price, z AS score, 'price z-score beyond {th}' AS reason \
                 FROM (SELECT *, zscore(price, {zw}) OVER ({series}) AS z FROM b) WHERE abs(z) > {th}"
            ),
            "mad" => format!(
                "SELECT commodity, source, ts, price, z AS score, 'robust (MAD) z-score beyond {th}' AS reason \
                 FROM (SELECT *, mad_zscore(price, {w}) OVER ({series}) AS z FROM b) WHERE abs(z) > {th}"
            ),
            "jump" => format!(
                "SELECT commodity, source, ts, price, z AS score, 'log-return jump beyond {th} sigma' AS reason \
                 FROM (SELECT *, zscore(r, {zw}) OVER ({series}) AS z \
                       FROM (SELECT *, log_return(price) OVER ({series}) AS r FROM b)) WHERE abs(z) > {th}"
            ),
            "stale" => format!(
                "SELECT commodity, source, ts, price, CAST(len AS DOUBLE) AS score, \
                 'price unchanged for ' || CAST(len AS VARCHAR) || ' ticks' AS reason \
                 FROM (SELECT *, count(*) OVER (PARTITION BY commodity, source, run) AS len, \
                              row_number() OVER (PARTITION BY commodity, source, run ORDER BY ts) AS pos \
                       FROM (SELECT *, sum(chg) OVER ({series} ROWS UNBOUNDED PRECEDING) AS run \
                             FROM (SELECT *, CASE WHEN price = lag(price) OVER ({series}) THEN 0 ELSE 1 END AS chg FROM b))) \
                 WHERE len >= {w} AND pos > 1"
            ),
            _ => "SELECT commodity, source, ts, price, price AS score, 'negative price' AS reason \
                  FROM b WHERE price < 0"
                .to_string(),
        };
        format!("WITH b AS ({base}) {body}")
    }
}

/// `ts <= x` implied by `filter` (see [`history::upper_bound`]).
fn time_upper_bound(filter: &Expr) -> Option<Expr> {
    history::upper_bound(filter, "ts").map(|(ts, x)| ts.lt_eq(x))
}

/// The least `ts` that `filter` allows (see [`history::lower_bound`]).
fn time_lower_bound(filter: &Expr) -> Option<i64> {
    history::lower_bound(filter, "ts")
}

/// The window-function formulation of `anomalies(table, method, window,
/// threshold)` over a table without `source` (the reference the scan is
/// tested against).
#[cfg(test)]
pub(crate) fn reference_sql(
    table: &str,
    method: &str,
    window: RollingWindow,
    threshold: f64,
) -> String {
    Request {
        table: table.into(),
        method: method.into(),
        window,
        threshold,
    }
    .sql()
}

#[async_trait]
impl TableProvider for AnomaliesTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(history::inexact_where(filters, |f| {
            let bounds_history = time_lower_bound(f).and_then(|b| self.request.need(b));
            bounds_history.is_some() || self.request.input_filter(f).is_some()
        }))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let ctx = contango_common::columns::context_of(state, "anomalies")?;
        let source = ctx.table_provider(self.request.table.as_str()).await?;
        for needed in ["commodity", "ts", "price"] {
            if source.schema().field_with_name(needed).is_err() {
                return Err(bad(format!(
                    "anomalies: table {} has no column '{needed}' (needs commodity, ts, price)",
                    self.request.table
                )));
            }
        }
        // Every method runs as one scan over the gathered series: on the
        // GPU kernels when the session's placement says so, else on their
        // CPU references.
        let mut ticks = ctx
            .sql(&self.request.base_sql(Some(source.schema().as_ref())))
            .await?;
        for f in filters.iter().filter_map(|f| self.request.input_filter(f)) {
            ticks = ticks.filter(f)?;
        }
        let lower = filters.iter().filter_map(time_lower_bound).max();
        if let Some((bound, need)) = lower.and_then(|b| Some((b, self.request.need(b)?)))
            && let Some(at_bound) = history::ts_literal(&ticks, "ts", bound)
            && let Some(start) = history::start(
                &ticks,
                ticks.clone().filter(col("ts").gt_eq(at_bound))?,
                history::Series {
                    keys: &["commodity", "source"],
                    ts: "ts",
                },
                need,
            )
            .await?
            && let Some(from) = history::ts_literal(&ticks, "ts", start)
        {
            ticks = ticks.filter(col("ts").gt_eq(from))?;
        }
        let input = ticks.create_physical_plan().await?;
        let exec = crate::gpu::anomaly::AnomalyScanExec::new(
            input,
            crate::gpu::anomaly::AnomalyMethod {
                method: self.request.method.clone(),
                window: self.request.window,
                threshold: self.request.threshold,
            },
            crate::gpu::rule::placement_or_cpu(state.config_options()),
            output_schema(),
        );
        let frame = ctx.read_table(Arc::new(PlanTable(Arc::new(exec))))?;
        // Exactly the declared schema (VARCHAR casts plan as Utf8View).
        contango_common::columns::scan_of(frame, &output_schema(), projection, limit).await
    }
}

/// An already planned operator, read as a table (so projection and limit
/// apply as to any scan).
#[derive(Debug)]
struct PlanTable(Arc<dyn ExecutionPlan>);

#[async_trait]
impl TableProvider for PlanTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        contango_common::columns::project(self.0.clone(), projection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, in_subquery, lit, random};

    fn request(method: &str) -> Request {
        Request {
            table: "ticks".into(),
            method: method.into(),
            window: RollingWindow::Rows(20),
            threshold: 4.0,
        }
    }

    fn pushed(method: &str, filter: Expr) -> Option<String> {
        request(method).input_filter(&filter).map(|f| f.to_string())
    }

    #[test]
    fn only_filters_that_cannot_change_a_passing_row_reach_the_input() {
        let key = col("anomalies.commodity").eq(lit("WTI"));
        let upper = col("ts").lt(lit(5i64));
        for method in ["zscore", "mad", "jump", "stale", "negative"] {
            // Series keys keep or drop whole series; the qualifier goes.
            assert_eq!(
                pushed(method, key.clone()).as_deref(),
                Some("commodity = Utf8(\"WTI\")")
            );
            // Scores exist only on the output; volatile filters never move.
            assert_eq!(pushed(method, col("score").gt(lit(5.0))), None);
            assert_eq!(pushed(method, col("reason").is_not_null()), None);
            assert_eq!(
                pushed(
                    method,
                    col("commodity").eq(lit("WTI")).and(random().lt(lit(0.5)))
                ),
                None
            );
            // Nor do subqueries.
            let subquery = Arc::new(
                datafusion::logical_expr::LogicalPlanBuilder::empty(true)
                    .build()
                    .unwrap(),
            );
            assert_eq!(
                pushed(method, in_subquery(col("commodity"), subquery)),
                None
            );
        }
        for method in ["zscore", "mad", "jump"] {
            // Upper bounds drop only later rows; lower bounds would drop history.
            assert_eq!(
                pushed(method, upper.clone()).as_deref(),
                Some("ts <= Int64(5)")
            );
            assert_eq!(
                pushed(method, lit(5i64).gt_eq(col("ts"))).as_deref(),
                Some("ts <= Int64(5)")
            );
            assert_eq!(
                pushed(method, col("ts").eq(lit(5i64))).as_deref(),
                Some("ts <= Int64(5)")
            );
            assert_eq!(
                pushed(method, col("ts").between(lit(1i64), lit(5i64))).as_deref(),
                Some("ts <= Int64(5)")
            );
            assert_eq!(
                pushed(method, col("ts").not_between(lit(1i64), lit(5i64))),
                None
            );
            assert_eq!(pushed(method, col("ts").gt(lit(1i64))), None);
            assert_eq!(pushed(method, col("ts").lt(col("ts"))), None);
            assert_eq!(pushed(method, col("price").gt(lit(0.0))), None);
        }
        // A stale run's length counts the ticks after it.
        assert_eq!(pushed("stale", upper.clone()), None);
        // Lower bounds (literal times) bound the history read instead.
        let at = |us: i64| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(us),
                Some("UTC".into()),
            ))
        };
        assert_eq!(time_lower_bound(&col("ts").gt_eq(at(7))), Some(7));
        assert_eq!(time_lower_bound(&at(7).lt(col("ts"))), Some(7));
        assert_eq!(time_lower_bound(&col("ts").between(at(3), at(9))), Some(3));
        assert_eq!(time_lower_bound(&col("ts").lt_eq(at(7))), None);
        assert_eq!(time_lower_bound(&col("ts").gt_eq(lit(7i64))), None);
    }

    #[test]
    fn rows_after_a_lower_bound_need_their_window_before_it() {
        use history::Need;
        const HOUR: i64 = 3_600_000_000;
        let with = |method: &str, window| Request {
            window,
            ..request(method)
        };
        let rows = RollingWindow::Rows(20);
        let hour = RollingWindow::Micros(HOUR);
        let need = |cut, rows, first_span| {
            Some(Need {
                cut,
                rows,
                first_span,
            })
        };
        assert_eq!(
            with("zscore", rows).need(HOUR * 10),
            need(HOUR * 10, 20, HOUR)
        );
        assert_eq!(with("mad", rows).need(HOUR * 10), need(HOUR * 10, 20, HOUR));
        // The first return of the window needs the price before it.
        assert_eq!(
            with("jump", rows).need(HOUR * 10),
            need(HOUR * 10, 21, HOUR)
        );
        // A time window: one row before it (the series reaches back; the
        // previous price of its first return).
        assert_eq!(
            with("zscore", hour).need(HOUR * 10),
            need(HOUR * 9, 1, HOUR)
        );
        assert_eq!(with("jump", hour).need(HOUR * 10), need(HOUR * 9, 1, HOUR));
        assert_eq!(with("stale", rows).need(HOUR), None);
        assert_eq!(with("negative", rows).need(HOUR), None);
        // `negative` looks at each row alone.
        let row = col("price").gt(lit(-50.0)).and(col("ts").gt(lit(1i64)));
        assert_eq!(
            pushed("negative", row).as_deref(),
            Some("price > Float64(-50) AND ts > Int64(1)")
        );
    }
}

/// Lower bounds end to end, on hourly ticks where one row of history too
/// few changes a flagged row.
#[cfg(test)]
mod history_tests {
    use std::sync::Arc;

    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    const HOUR: i64 = 3_600_000_000;
    const T0: i64 = 1_700_000_000_000_000 / HOUR * HOUR;

    /// Hourly WTI ticks for 200 hours, a jump at hour 100 and a spike half
    /// an hour after hour 150 (off the hourly grid).
    fn context() -> SessionContext {
        let mut ts: Vec<i64> = (0..200).map(|h| T0 + h * HOUR).collect();
        ts.push(T0 + 150 * HOUR + HOUR / 2);
        ts.sort();
        let price: Vec<f64> = ts
            .iter()
            .map(|t| {
                let h = (t - T0) as f64 / HOUR as f64;
                let wiggle = 70.0 + (h * 1.3).sin() * 0.4 + (h * 0.37).cos() * 0.3;
                if h == 150.5 {
                    wiggle * 1.4
                } else if h >= 100.0 {
                    wiggle * 1.25
                } else {
                    wiggle
                }
            })
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("commodity", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("price", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["WTI"; ts.len()])),
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Float64Array::from(price)),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        crate::register_all(&ctx, "UTC");
        ctx.register_table(
            "ticks",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        ctx
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn a_lower_bound_keeps_every_flagged_row_as_it_was() {
        let ctx = context();
        let at = |h: f64| format!("to_timestamp_micros({})", T0 + (h * HOUR as f64) as i64);
        for (call, from, flagged) in [
            // Hour 100's return is scored against the 16 returns before it:
            // those need the 17 prices before hour 100.
            ("anomalies('ticks', 'jump', 16, 3)", 100.0, "100"),
            // The spike's window is [146:30, 150:30): the series must reach
            // back to 146:30, which only the tick at 146:00 shows.
            (
                "anomalies('ticks', 'zscore', INTERVAL '4' HOUR, 3)",
                150.5,
                "150.5",
            ),
            (
                "anomalies('ticks', 'jump', INTERVAL '4' HOUR, 3)",
                150.5,
                "150.5",
            ),
        ] {
            let all = rows(
                &ctx,
                &format!(
                    "SELECT ts, score FROM {call} WHERE ts >= {} ORDER BY ts",
                    at(from)
                ),
            )
            .await;
            // The same rows filtered after the scan (`+ 0` keeps the bound
            // from reaching it).
            let reference = rows(
                &ctx,
                &format!(
                    "SELECT ts, score FROM (SELECT ts, score, ts + INTERVAL '0' SECOND AS t FROM {call}) \
                     WHERE t >= {} ORDER BY ts",
                    at(from)
                ),
            )
            .await;
            assert_eq!(all, reference, "{call}");
            // The bound reached the scan's input, moved back by the history.
            let plan = rows(
                &ctx,
                &format!(
                    "EXPLAIN SELECT ts, score FROM {call} WHERE ts >= {}",
                    at(from)
                ),
            )
            .await;
            let input = plan.split("AnomalyScanExec").nth(1).unwrap_or_default();
            assert!(input.contains("ts@1 >= "), "{plan}");
            assert!(
                all.lines().count() > 4,
                "{call} flags hour {flagged}:\n{all}"
            );
        }
    }
}
