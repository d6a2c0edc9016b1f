//! Trino's aggregates: `count_if`, `min_by`/`max_by`, `arbitrary` and
//! `approx_distinct` (bigint, DataFusion's HyperLogLog: bounded memory) are
//! rewritten into DataFusion aggregates; `approx_percentile(x, p)` and
//! `approx_percentile(x, ARRAY[p, ...])` are computed here: exactly (the
//! nearest-rank percentile) up to [`EXACT_VALUES`] values per group, then
//! with a t-digest of [`DIGEST_CENTROIDS`] centroids (about 1% rank error,
//! Trino's default accuracy), so memory stays bounded whatever the input.
//! [`NullFilterIsFalse`] makes grouped aggregates skip rows whose FILTER
//! condition is NULL.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, TypeSignature, Volatility, case,
    lit,
};
use datafusion_functions_aggregate_common::tdigest::TDigest;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::{BinaryExpr, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

use super::invalid_argument;

/// `agg(...) FILTER (WHERE c)` becomes `FILTER (WHERE c AND c IS NOT NULL)`,
/// FALSE where `c` is NULL, keeping its name. DataFusion 53's grouped
/// accumulators read the filter's value bits without its nulls
/// (`accumulate_indices`), so a grouped `count(*)` counted rows whose
/// condition is NULL (e.g. `price > 100` where the price is NULL); SQL
/// aggregates only the rows where it is TRUE. (`c IS TRUE` would do, but
/// DataFusion then plans it with another nullability than it declares.)
/// Upstream fix: apache/datafusion#22068 (issue #22067); drop this rule with
/// a DataFusion release that has it.
#[derive(Debug)]
pub struct NullFilterIsFalse;

/// Whether `c` is already `x AND x IS NOT NULL`.
fn is_guarded(c: &Expr) -> bool {
    matches!(c, Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right })
        if matches!(right.as_ref(), Expr::IsNotNull(x) if x == left))
}

impl AnalyzerRule for NullFilterIsFalse {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DFResult<LogicalPlan> {
        super::rewrite_keeping_names(plan, |e, _| {
            e.transform_up(|e| match e {
                Expr::AggregateFunction(mut f)
                    if f.params.filter.as_deref().is_some_and(|c| !is_guarded(c)) =>
                {
                    let c = *f.params.filter.take().expect("a filter");
                    f.params.filter = Some(Box::new(c.clone().and(c.is_not_null())));
                    Ok(Transformed::yes(Expr::AggregateFunction(f)))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    }

    fn name(&self) -> &str {
        "aggregate_null_filter_is_false"
    }
}

/// Every aggregate of this module.
pub fn functions() -> Vec<AggregateUDF> {
    vec![
        rewritten(
            "count_if",
            1,
            |_| Ok(DataType::Int64),
            false,
            |mut f, _| {
                let b = f.params.args.remove(0);
                let counted = case(b).when(lit(true), lit(1i64)).end()?;
                Ok(with_filter(agg::count(counted), f.params.filter))
            },
        ),
        rewritten(
            "arbitrary",
            1,
            |t| Ok(t[0].clone()),
            true,
            |mut f, _| {
                let x = f.params.args.remove(0);
                Ok(with_filter(agg::first_value(x, vec![]), f.params.filter))
            },
        ),
        rewritten("max_by", 2, |t| Ok(t[0].clone()), true, |f, _| by(f, false)),
        rewritten("min_by", 2, |t| Ok(t[0].clone()), true, |f, _| by(f, true)),
        AggregateUDF::new_from_impl(ApproxDistinct::new()),
        AggregateUDF::new_from_impl(Percentile::new()),
        datafusion::functions_aggregate::variance::var_samp_udaf()
            .as_ref()
            .clone()
            .with_aliases(["variance"]),
    ]
}

fn with_filter(e: Expr, filter: Option<Box<Expr>>) -> Expr {
    match (e, filter) {
        (Expr::AggregateFunction(mut a), Some(filter)) => {
            a.params.filter = Some(filter);
            Expr::AggregateFunction(a)
        }
        (e, _) => e,
    }
}

/// `max_by(x, y)` / `min_by(x, y)`: `x` of the row with the largest / smallest `y`.
fn by(mut f: AggregateFunction, ascending: bool) -> DFResult<Expr> {
    let y = f.params.args.remove(1);
    let x = f.params.args.remove(0);
    let order = vec![y.clone().sort(ascending, false)];
    let value = agg::first_value(x, order);
    // Rows where y is NULL never win.
    let filter = Some(Box::new(match f.params.filter {
        Some(existing) => existing.and(y.is_not_null()),
        None => y.is_not_null(),
    }));
    Ok(with_filter(value, filter))
}

type RewriteFn = dyn Fn(AggregateFunction, &SimplifyContext) -> DFResult<Expr> + Send + Sync;
type ReturnFn = dyn Fn(&[DataType]) -> DFResult<DataType> + Send + Sync;

/// An aggregate that the optimizer rewrites into DataFusion aggregates.
struct Rewritten {
    name: &'static str,
    signature: Signature,
    ret: Box<ReturnFn>,
    nullable: bool,
    rewrite: Arc<RewriteFn>,
}

fn rewritten(
    name: &'static str,
    arity: usize,
    ret: impl Fn(&[DataType]) -> DFResult<DataType> + Send + Sync + 'static,
    nullable: bool,
    rewrite: impl Fn(AggregateFunction, &SimplifyContext) -> DFResult<Expr> + Send + Sync + 'static,
) -> AggregateUDF {
    AggregateUDF::new_from_impl(Rewritten {
        name,
        signature: Signature::new(TypeSignature::Any(arity), Volatility::Immutable),
        ret: Box::new(ret),
        nullable,
        rewrite: Arc::new(rewrite),
    })
}

impl fmt::Debug for Rewritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rewritten")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for Rewritten {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Rewritten {}

impl Hash for Rewritten {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl AggregateUDFImpl for Rewritten {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        (self.ret)(arg_types)
    }

    fn is_nullable(&self) -> bool {
        self.nullable
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        Err(DataFusionError::NotImplemented(format!(
            "{} is only supported as a plain aggregate (not as a window function)",
            self.name
        )))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let rewrite = self.rewrite.clone();
        Some(Box::new(move |f, info| rewrite(f, info)))
    }
}

/// `approx_distinct(x)`: DataFusion's HyperLogLog (fixed-size state),
/// answering Trino's bigint.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ApproxDistinct {
    inner: Arc<AggregateUDF>,
}

impl ApproxDistinct {
    fn new() -> Self {
        Self {
            inner: datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf(),
        }
    }
}

impl AggregateUDFImpl for ApproxDistinct {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "approx_distinct"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Int64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DFResult<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        Ok(Box::new(AsBigint(self.inner.accumulator(args)?)))
    }
}

/// An accumulator whose unsigned count is answered as a bigint.
#[derive(Debug)]
struct AsBigint(Box<dyn Accumulator>);

impl Accumulator for AsBigint {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DFResult<()> {
        self.0.update_batch(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DFResult<()> {
        self.0.merge_batch(states)
    }

    fn state(&mut self) -> DFResult<Vec<ScalarValue>> {
        self.0.state()
    }

    fn evaluate(&mut self) -> DFResult<ScalarValue> {
        Ok(match self.0.evaluate()? {
            ScalarValue::UInt64(v) => ScalarValue::Int64(v.map(|n| n.min(i64::MAX as u64) as i64)),
            other => other.cast_to(&DataType::Int64)?,
        })
    }

    fn size(&self) -> usize {
        self.0.size()
    }
}

/// `approx_percentile(x, p)` and `approx_percentile(x, ARRAY[p...])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Percentile {
    signature: Signature,
}

impl Percentile {
    fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::Any(2), Volatility::Immutable),
        }
    }
}

fn percentile_value_type(x: &DataType) -> DFResult<DataType> {
    match x {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Ok(DataType::Int64),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Ok(DataType::Int64)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
            Ok(DataType::Float64)
        }
        other => Err(invalid_argument(format!("approx_percentile of {other}"))),
    }
}

impl AggregateUDFImpl for Percentile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "approx_percentile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        let value = percentile_value_type(&arg_types[0])?;
        Ok(match &arg_types[1] {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
                DataType::List(Arc::new(Field::new_list_field(value, true)))
            }
            _ => value,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DFResult<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                list.clone(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[percentiles]", args.name),
                list.clone(),
                true,
            )),
            Arc::new(Field::new(format!("{}[digest]", args.name), list, true)),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DFResult<Box<dyn Accumulator>> {
        Ok(Box::new(PercentileAcc {
            values: Vec::new(),
            digest: None,
            percentiles: None,
            ret: args.return_field.data_type().clone(),
        }))
    }
}

/// Values a group keeps exactly before they are folded into a t-digest.
pub const EXACT_VALUES: usize = 4096;
/// Centroids of the t-digest (its size bound).
pub const DIGEST_CENTROIDS: usize = 100;

#[derive(Debug)]
struct PercentileAcc {
    /// Values not yet in the digest (all of them while there are few).
    values: Vec<f64>,
    digest: Option<TDigest>,
    percentiles: Option<Vec<f64>>,
    ret: DataType,
}

impl PercentileAcc {
    /// Folds the buffered values into the digest once there are too many.
    fn compress(&mut self, force: bool) {
        if self.values.len() > EXACT_VALUES || (force && self.digest.is_some()) {
            let values = std::mem::take(&mut self.values);
            let digest = self
                .digest
                .take()
                .unwrap_or_else(|| TDigest::new(DIGEST_CENTROIDS));
            self.digest = Some(digest.merge_unsorted_f64(values));
        }
    }
}

/// A digest as one list: `[max_size, sum, count, max, min, mean, weight, ...]`.
fn digest_to_list(d: &TDigest) -> Vec<f64> {
    let state = d.to_scalar_state();
    let mut out = Vec::new();
    for v in &state[..5] {
        out.push(match v {
            ScalarValue::UInt64(Some(n)) => *n as f64,
            ScalarValue::Float64(Some(f)) => *f,
            _ => f64::NAN,
        });
    }
    if let ScalarValue::List(l) = &state[5] {
        out.extend(l.values().as_primitive::<Float64Type>().values().iter());
    }
    out
}

fn digest_from_list(v: &[f64]) -> DFResult<TDigest> {
    if v.len() < 5
        || !(v.len() - 5).is_multiple_of(2)
        || v[3].total_cmp(&v[4]).is_lt() && v[2] > 0.0
    {
        return Err(DataFusionError::Internal(
            "approx_percentile: malformed digest state".into(),
        ));
    }
    let centroids: Vec<ScalarValue> = v[5..]
        .iter()
        .map(|f| ScalarValue::Float64(Some(*f)))
        .collect();
    Ok(TDigest::from_scalar_state(&[
        ScalarValue::UInt64(Some(v[0] as u64)),
        ScalarValue::Float64(Some(v[1])),
        ScalarValue::Float64(Some(v[2])),
        ScalarValue::Float64(Some(v[3])),
        ScalarValue::Float64(Some(v[4])),
        ScalarValue::List(ScalarValue::new_list_nullable(
            &centroids,
            &DataType::Float64,
        )),
    ]))
}

fn percentiles_of(array: &ArrayRef) -> DFResult<Option<Vec<f64>>> {
    if array.is_empty() || array.is_null(0) {
        return Ok(None);
    }
    let ps: Vec<f64> = match ScalarValue::try_from_array(array, 0)? {
        ScalarValue::List(l) => {
            let values = cast(l.value(0).as_ref(), &DataType::Float64)?;
            values
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .collect()
        }
        v => vec![
            cast(&v.to_array()?, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .value(0),
        ],
    };
    if ps.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return Err(invalid_argument("Percentile must be between 0 and 1"));
    }
    Ok(Some(ps))
}

impl Accumulator for PercentileAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DFResult<()> {
        if self.percentiles.is_none() {
            self.percentiles = percentiles_of(&values[1])?;
        }
        let x = cast(&values[0], &DataType::Float64)?;
        for chunk in x
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .collect::<Vec<_>>()
            .chunks(EXACT_VALUES)
        {
            self.values.extend_from_slice(chunk);
            self.compress(false);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DFResult<()> {
        if self.percentiles.is_none() {
            let ps = states[1].as_list::<i32>();
            if let Some(i) = (0..ps.len()).find(|i| ps.is_valid(*i)) {
                let v = ps.value(i);
                self.percentiles = Some(v.as_primitive::<Float64Type>().iter().flatten().collect());
            }
        }
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let v = lists.value(i);
                self.values
                    .extend(v.as_primitive::<Float64Type>().iter().flatten());
                self.compress(false);
            }
        }
        let digests = states[2].as_list::<i32>();
        for i in 0..digests.len() {
            if digests.is_valid(i) {
                let v = digests.value(i);
                let other = digest_from_list(v.as_primitive::<Float64Type>().values())?;
                self.digest = Some(match self.digest.take() {
                    Some(mine) => TDigest::merge_digests([&mine, &other]),
                    None => other,
                });
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DFResult<Vec<ScalarValue>> {
        let list = |values: Vec<f64>, valid: bool| {
            let values: ArrayRef = Arc::new(Float64Array::from(values));
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Float64, true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
                values,
                (!valid).then(|| datafusion::arrow::buffer::NullBuffer::new_null(1)),
            )))
        };
        let ps = self.percentiles.clone();
        let digest = self.digest.take();
        Ok(vec![
            list(std::mem::take(&mut self.values), true),
            list(ps.clone().unwrap_or_default(), ps.is_some()),
            list(
                digest.as_ref().map(digest_to_list).unwrap_or_default(),
                digest.is_some(),
            ),
        ])
    }

    fn evaluate(&mut self) -> DFResult<ScalarValue> {
        let element = match &self.ret {
            DataType::List(f) => f.data_type().clone(),
            t => t.clone(),
        };
        let pick = |sorted: &[f64], p: f64| -> ScalarValue {
            if sorted.is_empty() {
                return ScalarValue::try_from(&element).unwrap_or(ScalarValue::Null);
            }
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let v = sorted[rank - 1];
            match element {
                DataType::Int64 => ScalarValue::Int64(Some(v.round() as i64)),
                _ => ScalarValue::Float64(Some(v)),
            }
        };
        self.compress(true);
        let estimate = |digest: &TDigest, p: f64| -> ScalarValue {
            let v = digest.estimate_quantile(p);
            match element {
                DataType::Int64 => ScalarValue::Int64(Some(v.round() as i64)),
                _ => ScalarValue::Float64(Some(v)),
            }
        };
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let digest = self.digest.as_ref();
        let one = |p: f64| match digest {
            Some(d) => estimate(d, p),
            None => pick(&sorted, p),
        };
        let empty = self.values.is_empty() && digest.is_none_or(|d| d.count() == 0.0);
        let ps = self.percentiles.clone().unwrap_or_default();
        match &self.ret {
            DataType::List(_) => {
                if empty {
                    return ScalarValue::try_from(&self.ret);
                }
                let items: Vec<ScalarValue> = ps.iter().map(|p| one(*p)).collect();
                Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                    &items, &element,
                )))
            }
            _ => Ok(match ps.first() {
                Some(_) if empty => ScalarValue::try_from(&element)?,
                Some(p) => one(*p),
                None => ScalarValue::try_from(&element)?,
            }),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.values.capacity() * 8
            + self.digest.as_ref().map_or(0, |d| d.size() * 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::one_row;

    const DATA: &str = "(VALUES ('WTI', 70.0, 1), ('WTI', -36.98, 2), ('WTI', 20.0, 3), \
                        ('BRENT', 80.0, 1), ('BRENT', NULL, 2)) t(c, p, k)";

    #[tokio::test]
    async fn rewritten_aggregates() {
        let (v, t) = one_row(
            &format!(
                "SELECT count_if(p < 0), max_by(c, p), min_by(c, p), arbitrary(c) IS NOT NULL, \
                 approx_distinct(c), bool_and(p > -100), bool_or(p < 0) FROM {DATA}"
            ),
            "UTC",
        )
        .await;
        assert_eq!(v, ["1", "BRENT", "WTI", "true", "2", "true", "true"]);
        assert_eq!(t[0], "bigint");
        assert_eq!(t[4], "bigint");
        // max_by within groups, with a FILTER.
        let (v, _) = one_row(
            &format!("SELECT max_by(k, p) FILTER (WHERE c = 'WTI') FROM {DATA}"),
            "UTC",
        )
        .await;
        assert_eq!(v, ["1"]);
    }

    #[tokio::test]
    async fn grouped_filters_skip_rows_whose_condition_is_null() {
        // BRENT's second price is NULL: `p > -100` is NULL there, so only
        // its first row (k = 1) passes; WTI's three rows all pass.
        for sql in [
            format!(
                "SELECT c, count(*) FILTER (WHERE p > -100), sum(k) FILTER (WHERE p > -100), \
                 count(k) FILTER (WHERE p > -100) FROM {DATA} GROUP BY c ORDER BY c"
            ),
            format!(
                "SELECT c, count(*) FILTER (WHERE p > -100), sum(k) FILTER (WHERE p > -100), \
                 count(k) FILTER (WHERE p > -100) FROM {DATA} GROUP BY c ORDER BY c DESC"
            ),
        ] {
            let (v, _) = one_row(&sql, "UTC").await;
            let want = if sql.ends_with("DESC") {
                ["WTI", "3", "6", "3"]
            } else {
                ["BRENT", "1", "1", "1"]
            };
            assert_eq!(v, want, "{sql}");
        }
        // The column keeps its name.
        let (v, _) = one_row(
            &format!(
                "SELECT \"count(*) FILTER (WHERE t.p > Int64(-100))\" FROM \
                 (SELECT c, count(*) FILTER (WHERE p > -100) FROM {DATA} GROUP BY c) ORDER BY 1"
            ),
            "UTC",
        )
        .await;
        assert_eq!(v, ["1"]);
    }

    #[tokio::test]
    async fn percentiles() {
        // Nearest rank over 1..=10: p50 = 5, p90 = 9, p100 = 10.
        let (v, t) = one_row(
            "SELECT approx_percentile(x, 0.5), approx_percentile(x, ARRAY[0.9, 1.0]), approx_percentile(CAST(x AS DOUBLE), 0.1) \
             FROM (SELECT unnest(range(1, 11)) AS x)",
            "UTC",
        )
        .await;
        assert_eq!(v, ["5", "[9, 10]", "1.0"]);
        assert_eq!(t, ["bigint", "array(bigint)", "double"]);
    }

    #[tokio::test]
    async fn percentiles_of_many_values_are_bounded_and_close() {
        // 2M values: a t-digest, not a buffer. Oracle: the exact nearest-rank
        // percentile of 1..=2_000_000 is p * 2_000_000.
        let (v, _) = one_row(
            "SELECT approx_percentile(x, 0.5), approx_percentile(x, ARRAY[0.01, 0.99]), \
             approx_distinct(x) FROM (SELECT unnest(range(1, 2000001)) AS x)",
            "UTC",
        )
        .await;
        let p50: f64 = v[0].parse().unwrap();
        assert!((p50 - 1_000_000.0).abs() < 20_000.0, "{v:?}");
        let ends: Vec<f64> = v[1]
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|x| x.parse().unwrap())
            .collect();
        assert!((ends[0] - 20_000.0).abs() < 20_000.0, "{v:?}");
        assert!((ends[1] - 1_980_000.0).abs() < 20_000.0, "{v:?}");
        // HyperLogLog: within 2.3% (Trino's default standard error) x 3.
        let distinct: f64 = v[2].parse().unwrap();
        assert!((distinct / 2_000_000.0 - 1.0).abs() < 0.07, "{v:?}");
    }

    #[test]
    fn percentile_state_stays_small() {
        use datafusion::logical_expr::Accumulator;
        let mut acc = super::PercentileAcc {
            values: Vec::new(),
            digest: None,
            percentiles: None,
            ret: DataType::Float64,
        };
        let p: ArrayRef = Arc::new(Float64Array::from(vec![0.5; 10_000]));
        for chunk in 0..100 {
            let x: ArrayRef = Arc::new(Float64Array::from_iter_values(
                (0..10_000).map(|i| (chunk * 10_000 + i) as f64),
            ));
            acc.update_batch(&[x, p.clone()]).unwrap();
        }
        assert!(
            acc.size() < 128 * 1024,
            "{} bytes for 1M values",
            acc.size()
        );
        // State round trip through merge keeps the estimate.
        let state: Vec<ArrayRef> = acc
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        let mut merged = super::PercentileAcc {
            values: Vec::new(),
            digest: None,
            percentiles: None,
            ret: DataType::Float64,
        };
        merged.merge_batch(&state).unwrap();
        let ScalarValue::Float64(Some(m)) = merged.evaluate().unwrap() else {
            panic!("not a double")
        };
        assert!((m - 500_000.0).abs() < 10_000.0, "{m}");
    }
}
