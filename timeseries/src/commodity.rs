//! Commodity analytics in SQL, on both endpoints (the CPU path):
//!
//! - `vwap(price, volume)`: volume-weighted average price, with compensated
//!   (Kahan–Neumaier) sums so results do not depend on input order beyond
//!   rounding of the final division;
//! - `open_price(price, ts)` / `close_price(price, ts)`: price at the first /
//!   last `ts` of the group (with `min`/`max`: OHLC);
//! - `time_bucket(interval, ts [, origin])`: the start of `ts`'s bucket;
//! - `log_return(price) OVER (PARTITION BY .. ORDER BY ..)`: ln(pᵢ / pᵢ₋₁);
//! - `zscore(price, n) OVER (PARTITION BY .. ORDER BY ..)`: (pᵢ − mean) / stddev
//!   of the n rows before row i (sample stddev; NULL until n rows precede, or
//!   when they do not vary);
//! - `zscore(price, INTERVAL '1' HOUR, ts) OVER (...)`: the same over the prices
//!   of the hour before row i's `ts` (rows at the same `ts` excluded; NULL
//!   until the series reaches back a whole hour, or with fewer than 2 prices);
//! - `mad_zscore(price, n) OVER (...)`: the robust z-score 0.6745 · (pᵢ − median) / MAD
//!   of the n rows before row i (MAD: median absolute deviation; NULL when it is 0).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, PartitionEvaluatorArgs, StateFieldsArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator,
    PartitionEvaluator, ScalarUDF, Signature, TypeSignature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use contango_functions::Scalar;
use contango_functions::invalid_argument;

/// `time_bucket(interval, ts [, origin])`: DataFusion's `date_bin`, with
/// the origin cast to the nanosecond timestamp `date_bin` takes (in the zone
/// of `ts`), so a Trino `TIMESTAMP '...'` literal of any precision works.
pub fn scalars() -> Vec<ScalarUDF> {
    let inner = datafusion::functions::datetime::date_bin();
    let for_ret = inner.clone();
    vec![Scalar::rewrite(
        "time_bucket",
        Signature::new(TypeSignature::VariadicAny, Volatility::Immutable),
        move |types, _| match types.len() {
            2 | 3 => Ok(types[1].clone()),
            n => {
                let _ = &for_ret;
                Err(invalid_argument(format!(
                    "time_bucket takes 2 or 3 arguments, got {n}"
                )))
            }
        },
        move |mut args, info| {
            if args.len() == 3
                && let DataType::Timestamp(_, zone) = info.get_data_type(&args[1])?
            {
                let origin = args.pop().expect("three arguments");
                let wanted = DataType::Timestamp(TimeUnit::Nanosecond, zone);
                args.push(match info.get_data_type(&origin)? {
                    DataType::Timestamp(_, _) => datafusion::logical_expr::cast(origin, wanted),
                    _ => origin,
                });
            }
            Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
                inner.clone(),
                args,
            )))
        },
    )]
}

/// `vwap`, `open_price` and `close_price`.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(Vwap {
            signature: Signature::new(TypeSignature::Any(2), Volatility::Immutable),
        }),
        AggregateUDF::new_from_impl(crate::open_close::OpenClose::new(false)),
        AggregateUDF::new_from_impl(crate::open_close::OpenClose::new(true)),
    ]
}

/// `log_return` and `zscore`.
pub fn windows() -> Vec<WindowUDF> {
    vec![
        WindowUDF::new_from_impl(Series {
            kind: SeriesKind::LogReturn,
            signature: Signature::new(TypeSignature::Any(1), Volatility::Immutable),
        }),
        WindowUDF::new_from_impl(Series {
            kind: SeriesKind::ZScore,
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Immutable,
            ),
        }),
        WindowUDF::new_from_impl(Series {
            kind: SeriesKind::MadZScore,
            signature: Signature::new(TypeSignature::Any(2), Volatility::Immutable),
        }),
    ]
}

/// The compensated (Neumaier) sum shared with the GPU kernels' CPU references.
type Sum = contango_gpu_kernels::cpu::Neumaier;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Vwap {
    signature: Signature,
}

impl AggregateUDFImpl for Vwap {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "vwap"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DFResult<Vec<FieldRef>> {
        Ok(["pv", "pv_c", "v", "v_c"]
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format!("{}[{n}]", args.name),
                    DataType::Float64,
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        Ok(Box::new(VwapAcc::default()))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> DFResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(VwapGroups::default()))
    }
}

/// Vectorized VWAP state: compensated Σ price·volume and Σ volume per group.
#[derive(Debug, Default)]
struct VwapGroups {
    pv: Vec<Sum>,
    v: Vec<Sum>,
}

impl VwapGroups {
    fn resize(&mut self, n: usize) {
        self.pv.resize(n, Sum::default());
        self.v.resize(n, Sum::default());
    }
}

fn included(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl GroupsAccumulator for VwapGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DFResult<()> {
        self.resize(total_num_groups);
        let p = floats(&values[0])?;
        let v = floats(&values[1])?;
        let (p, v) = (
            p.as_primitive::<Float64Type>(),
            v.as_primitive::<Float64Type>(),
        );
        let (pv, vv) = (p.values(), v.values());
        for (i, &g) in group_indices.iter().enumerate() {
            if p.is_valid(i) && v.is_valid(i) && pv[i].is_finite() && included(opt_filter, i) {
                self.pv[g].add(pv[i] * vv[i]);
                self.v[g].add(vv[i]);
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DFResult<()> {
        self.resize(total_num_groups);
        let s: Vec<&Float64Array> = values
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for (i, &g) in group_indices.iter().enumerate() {
            if s[0].is_valid(i) && included(opt_filter, i) {
                self.pv[g].add(s[0].value(i));
                self.pv[g].add(s[1].value(i));
                self.v[g].add(s[2].value(i));
                self.v[g].add(s[3].value(i));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DFResult<ArrayRef> {
        let pv = emit_to.take_needed(&mut self.pv);
        let v = emit_to.take_needed(&mut self.v);
        Ok(Arc::new(Float64Array::from_iter(pv.iter().zip(&v).map(
            |(pv, v)| {
                let v = v.value();
                (v != 0.0).then(|| pv.value() / v)
            },
        ))))
    }

    fn state(&mut self, emit_to: EmitTo) -> DFResult<Vec<ArrayRef>> {
        let pv = emit_to.take_needed(&mut self.pv);
        let v = emit_to.take_needed(&mut self.v);
        let col = |f: &dyn Fn(&Sum) -> f64, xs: &[Sum]| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(xs.iter().map(f)))
        };
        Ok(vec![
            col(&|s| s.sum, &pv),
            col(&|s| s.compensation, &pv),
            col(&|s| s.sum, &v),
            col(&|s| s.compensation, &v),
        ])
    }

    fn size(&self) -> usize {
        (self.pv.capacity() + self.v.capacity()) * std::mem::size_of::<Sum>()
    }
}

#[derive(Debug, Default)]
struct VwapAcc {
    pv: Sum,
    v: Sum,
}

fn floats(a: &ArrayRef) -> DFResult<ArrayRef> {
    Ok(cast(a, &DataType::Float64)?)
}

impl Accumulator for VwapAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DFResult<()> {
        let p = floats(&values[0])?;
        let v = floats(&values[1])?;
        let (p, v) = (
            p.as_primitive::<Float64Type>(),
            v.as_primitive::<Float64Type>(),
        );
        for i in 0..p.len() {
            if p.is_valid(i) && v.is_valid(i) && p.value(i).is_finite() {
                self.pv.add(p.value(i) * v.value(i));
                self.v.add(v.value(i));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DFResult<()> {
        let s: Vec<&Float64Array> = states
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for i in 0..s[0].len() {
            if s[0].is_valid(i) {
                self.pv.add(s[0].value(i));
                self.pv.add(s[1].value(i));
                self.v.add(s[2].value(i));
                self.v.add(s[3].value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DFResult<Vec<ScalarValue>> {
        Ok([
            self.pv.sum,
            self.pv.compensation,
            self.v.sum,
            self.v.compensation,
        ]
        .into_iter()
        .map(|x| ScalarValue::Float64(Some(x)))
        .collect())
    }

    fn evaluate(&mut self) -> DFResult<ScalarValue> {
        let v = self.v.value();
        Ok(ScalarValue::Float64(
            (v != 0.0).then(|| self.pv.value() / v),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SeriesKind {
    LogReturn,
    ZScore,
    MadZScore,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Series {
    kind: SeriesKind,
    signature: Signature,
}

impl WindowUDFImpl for Series {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        match self.kind {
            SeriesKind::LogReturn => "log_return",
            SeriesKind::ZScore => "zscore",
            SeriesKind::MadZScore => "mad_zscore",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> DFResult<Box<dyn PartitionEvaluator>> {
        let exprs = args.input_exprs();
        let window = match self.kind {
            SeriesKind::LogReturn => RollingWindow::Rows(0),
            SeriesKind::ZScore | SeriesKind::MadZScore => rolling_window(exprs.get(1))
                .filter(|w| self.kind == SeriesKind::ZScore || matches!(w, RollingWindow::Rows(_)))
                .ok_or_else(|| {
                    DataFusionError::Plan(match self.kind {
                        SeriesKind::ZScore => "zscore(x, n) needs a constant window n >= 2 \
                             (or zscore(x, INTERVAL '..', ts) a positive interval of days or less)"
                            .into(),
                        _ => format!("{}(x, n) needs a constant window n >= 2", self.name()),
                    })
                })?,
        };
        let timed = matches!(window, RollingWindow::Micros(_));
        if timed != (exprs.len() == 3) {
            return Err(DataFusionError::Plan(if timed {
                "zscore(x, INTERVAL '..', ts): the time column is the third argument".into()
            } else {
                "zscore(x, n) takes two arguments (zscore(x, INTERVAL '..', ts) for a time window)"
                    .into()
            }));
        }
        Ok(Box::new(SeriesEvaluator {
            kind: self.kind,
            window,
        }))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> DFResult<FieldRef> {
        Ok(Arc::new(Field::new(args.name(), DataType::Float64, true)))
    }
}

/// The window of a rolling scan (the kernels' type).
pub use contango_gpu_kernels::Window as RollingWindow;

/// The window of `zscore(x, n)` or `zscore(x, INTERVAL .., ts)` from its
/// second argument: a constant n >= 2, or a positive interval without months.
pub fn rolling_window(e: Option<&Arc<dyn PhysicalExpr>>) -> Option<RollingWindow> {
    let value = e?.as_any().downcast_ref::<Literal>()?.value();
    if let Some(us) = interval_micros(value) {
        return (us > 0).then_some(RollingWindow::Micros(us));
    }
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(n)) if n >= 2 => Some(RollingWindow::Rows(n as usize)),
        _ => None,
    }
}

/// An interval of fixed length in microseconds (`None`: not an interval, or
/// one with months, whose length varies).
pub fn interval_micros(v: &ScalarValue) -> Option<i64> {
    const DAY: i64 = 86_400_000_000;
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => (i.days as i64)
            .checked_mul(DAY)?
            .checked_add(i.nanoseconds / 1000),
        ScalarValue::IntervalDayTime(Some(i)) => {
            (i.days as i64 * DAY).checked_add(i.milliseconds as i64 * 1000)
        }
        _ => None,
    }
}

#[derive(Debug)]
struct SeriesEvaluator {
    kind: SeriesKind,
    window: RollingWindow,
}

impl PartitionEvaluator for SeriesEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> DFResult<ArrayRef> {
        use contango_gpu_kernels::cpu::CpuScanner;
        use contango_gpu_kernels::{Scanner, Series, Times};
        use datafusion::arrow::datatypes::Int64Type;
        let x = floats(&values[0])?;
        let x = x.as_primitive::<Float64Type>();
        let valid = contango_common::columns::validity_bytes(x);
        // One partition is one series: the CPU reference of the GPU scans.
        let ids = vec![0u32; num_rows];
        let starts = [0u64, num_rows as u64];
        let series = Series {
            ids: &ids,
            starts: &starts,
        };
        let v = &x.values()[..num_rows];
        let out = match (self.kind, self.window) {
            (SeriesKind::LogReturn, _) => CpuScanner.log_return(v, &valid, series),
            (SeriesKind::ZScore, RollingWindow::Rows(w)) => CpuScanner.zscore(v, &valid, series, w),
            (SeriesKind::ZScore, RollingWindow::Micros(width)) => {
                let ts = contango_common::columns::time_micros(&values[2])?;
                let ts = ts.as_primitive::<Int64Type>();
                let times = Times {
                    ts: &ts.values()[..num_rows],
                    valid: &contango_common::columns::validity_bytes(ts),
                };
                CpuScanner.zscore_time(v, &valid, times, series, width)
            }
            (SeriesKind::MadZScore, RollingWindow::Rows(w)) => {
                CpuScanner.mad_zscore(v, &valid, series, w)
            }
            (SeriesKind::MadZScore, RollingWindow::Micros(_)) => {
                return Err(DataFusionError::Plan(
                    "mad_zscore(x, n) needs a constant window n >= 2".into(),
                ));
            }
        }
        .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        Ok(Arc::new(Float64Array::from(
            (0..num_rows).map(|i| out.get(i)).collect::<Vec<_>>(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use contango_functions::test_support::one_row_with;

    async fn one_row(sql: &str, zone: &str) -> (Vec<String>, Vec<String>) {
        one_row_with(sql, zone, crate::register).await
    }

    #[tokio::test]
    async fn vwap_open_close_and_buckets() {
        // vwap = (10*1 + 20*3) / 4 = 17.5; open/close by ts.
        let (v, t) = one_row(
            "SELECT vwap(p, v), open_price(p, ts), close_price(p, ts), min(p), max(p) FROM (VALUES \
             (CAST(20 AS DOUBLE), CAST(3 AS BIGINT), TIMESTAMP '2020-01-01 00:02:00'), \
             (10, 1, TIMESTAMP '2020-01-01 00:01:00')) t(p, v, ts)",
            "UTC",
        )
        .await;
        assert_eq!(v, ["17.5", "10.0", "20.0", "10.0", "20.0"]);
        assert_eq!(t[0], "double");
        let (v, _) = one_row(
            "SELECT time_bucket(INTERVAL '5' MINUTE, TIMESTAMP '2020-01-01 00:07:30'), \
             vwap(p, v) FROM (VALUES (CAST(1 AS DOUBLE), CAST(0 AS BIGINT))) t(p, v)",
            "UTC",
        )
        .await;
        assert_eq!(v, ["2020-01-01T00:05:00", "NULL"]);
    }

    #[test]
    fn mad_score_by_hand() {
        // prior 1, 2, 3, 4, 100: median 3, deviations 2, 1, 0, 1, 97 → MAD 1.
        assert_eq!(
            contango_gpu_kernels::cpu::mad_score(5.0, &[1.0, 2.0, 3.0, 4.0, 100.0]),
            Some(0.6745 * 2.0)
        );
        assert_eq!(
            contango_gpu_kernels::cpu::mad_score(5.0, &[7.0, 7.0, 7.0]),
            None
        );
    }

    #[tokio::test]
    async fn log_return_and_zscore() {
        let (v, _) = one_row(
            "SELECT array_agg(r ORDER BY i), array_agg(z ORDER BY i) FROM (SELECT i, \
             log_return(p) OVER (ORDER BY i) AS r, zscore(p, 3) OVER (ORDER BY i) AS z \
             FROM (VALUES (1, CAST(100 AS DOUBLE)), (2, 110), (3, 99), (4, 100), (5, 130)) t(i, p))",
            "UTC",
        )
        .await;
        // ln(110/100) = 0.09531..; z of 100 vs (100,110,99): mean 103, sd 6.0827..;
        // z of 130 vs (110, 99, 100): mean 103, sd 6.0827.. → 4.4387..
        assert!(v[0].starts_with("[NULL, 0.0953101798"), "{}", v[0]);
        assert!(
            v[1].contains("-0.4931969619") && v[1].contains("4.4387726"),
            "{}",
            v[1]
        );
    }

    #[tokio::test]
    async fn zscore_over_a_time_window() {
        // Ticks at 0, 10, 20, 30, 30, 45 s; window 20 s.
        let (v, _) = one_row(
            "SELECT array_agg(z ORDER BY s, p) FROM (SELECT s, p, \
             zscore(p, INTERVAL '20' SECOND, ts) OVER (ORDER BY ts) AS z FROM (SELECT s, p, \
             to_timestamp_seconds(1577836800 + s) AS ts FROM (VALUES \
             (0, CAST(1 AS DOUBLE)), (10, 2), (20, 3), (30, 100), (30, 7), (45, 4)) t(s, p)))",
            "UTC",
        )
        .await;
        // t=20: prior 1, 2 → (3 − 1.5) / 0.7071.. = 2.1213..; t=30 (both rows):
        // prior 2, 3 → z(7) = 6.3639.., z(100) = 137.8858..; t=45: prior
        // [25, 45) = 100, 7 → (4 − 53.5) / 65.7609.. = −0.7527..
        assert!(
            v[0].starts_with("[NULL, NULL, 2.1213203435")
                && v[0].contains("6.363961030")
                && v[0].contains("137.885822")
                && v[0].contains("-0.752726"),
            "{}",
            v[0]
        );
        for (sql, message) in [
            (
                "zscore(p, INTERVAL '20' SECOND) OVER (ORDER BY p)",
                "third argument",
            ),
            ("zscore(p, 5, p) OVER (ORDER BY p)", "two arguments"),
            (
                "zscore(p, INTERVAL '1' MONTH, p) OVER (ORDER BY p)",
                "constant window",
            ),
            (
                "mad_zscore(p, INTERVAL '1' HOUR) OVER (ORDER BY p)",
                "constant window",
            ),
        ] {
            let ctx = datafusion::prelude::SessionContext::new();
            crate::register_all(&ctx, "UTC");
            let query = format!("SELECT {sql} FROM (VALUES (CAST(1 AS DOUBLE))) t(p)");
            let err = match ctx.sql(&query).await {
                Ok(df) => df.collect().await.expect_err(sql),
                Err(e) => e,
            };
            assert!(err.to_string().contains(message), "{sql}: {err}");
        }
    }
}
