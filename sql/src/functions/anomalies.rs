//! `anomalies(table, method, window, threshold)`: the flagged rows of a
//! tick-shaped table (`commodity`, `ts`, `price`, and `source` when present),
//! each with a score and a reason. Series are per (commodity, source) in `ts`
//! order. Named arguments (`table => ...`) are turned positional by
//! [`crate::dialect`].
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
//! The table function plans ordinary SQL over the commodity functions
//! (`zscore`, `log_return`), so it runs wherever they run.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

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

use super::commodity::{RollingWindow, interval_micros};

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

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let ctx = crate::columns::context_of(state, "anomalies")?;
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
        let input = ctx
            .sql(&self.request.base_sql(Some(source.schema().as_ref())))
            .await?
            .create_physical_plan()
            .await?;
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
        crate::columns::scan_of(frame, &output_schema(), projection, limit).await
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
        crate::columns::project(self.0.clone(), projection)
    }
}
