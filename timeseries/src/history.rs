//! Filters on `ts` that let the table functions over time series
//! (`anomalies`, `asof_join`) read less, and how far back they must read when
//! their result is filtered by a lower bound on time.
//!
//! Every series (a value of the key columns) with rows at or after the bound
//! needs the `rows` rows before a cut (the bound, or the bound minus a time
//! window), or all of its rows before the cut when it has fewer. The start is
//! found by counting the rows of slices of growing length backwards from the
//! cut (each slice a filtered scan, so Iceberg reads only its files), until
//! every such series has its rows, or nothing older exists for those that do
//! not.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result as DFResult;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::prelude::{DataFrame, lit};

/// A series: the values of the key columns.
type Key = Vec<ScalarValue>;

/// The columns that make series and order them.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Key columns (the same names in both frames [`start`] reads).
    pub keys: &'a [&'a str],
    /// The time column.
    pub ts: &'a str,
}

/// What the rows at or after the bound need before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Microseconds: the rows needed are the ones before this time.
    pub cut: i64,
    /// How many rows before `cut` each series needs.
    pub rows: u64,
    /// The first slice's length in microseconds (later ones grow 4×).
    pub first_span: i64,
}

/// An hour in microseconds: the first slice when nothing gives a time scale.
pub const HOUR: i64 = 3_600_000_000;

/// Slices tried before reading all history (4^16 hours is far beyond any
/// timestamp, so the last slices reach the start of time anyway).
pub const MAX_SLICES: usize = 16;

/// Short series beyond which the probe for older rows names the first key
/// only (a coarser test: it may read further back, never less far).
const MAX_NAMED_SERIES: usize = 64;

/// `Inexact` for the filters `pushable` accepts (they filter the input and
/// the result again), `Unsupported` for the others.
pub fn inexact_where(
    filters: &[&Expr],
    pushable: impl Fn(&Expr) -> bool,
) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| match pushable(f) {
            true => TableProviderFilterPushDown::Inexact,
            false => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// Whether `filter` may be evaluated on a table function's input as well:
/// the same value for a row every time (not volatile), and no subquery.
pub fn movable(filter: &Expr) -> bool {
    !filter.is_volatile()
        && !filter
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                ))
            })
            .unwrap_or(true)
}

/// The column `name` (as it is: no parsing of dots, no case folding).
pub fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `e` with its columns unqualified (for a table function's input).
pub fn unqualified(e: Expr) -> Expr {
    e.transform(|e| match e {
        Expr::Column(c) => Ok(Transformed::yes(column(&c.name))),
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
    .expect("renaming columns cannot fail")
}

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == name)
}

/// The comparisons of `column` that `filter` makes, each as (the column,
/// the operator with the column on its left, the other side): one for
/// `column < x` or its mirror image `x > column`, two for `column BETWEEN a
/// AND b`.
fn comparisons<'a>(filter: &'a Expr, column: &str) -> Vec<(&'a Expr, Operator, &'a Expr)> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_column(left, column) => {
            vec![(left, *op, right)]
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_column(right, column) => op
            .swap()
            .map(|op| (right.as_ref(), op, left.as_ref()))
            .into_iter()
            .collect(),
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(expr, column) => vec![
            (expr.as_ref(), Operator::GtEq, low.as_ref()),
            (expr.as_ref(), Operator::LtEq, high.as_ref()),
        ],
        _ => vec![],
    }
}

/// `column <= x` implied by `filter` (`column < x`, `<= x`, `= x`, their
/// mirror images, `column BETWEEN a AND x`), with `x` free of columns, as
/// (the column with its qualifier, `x`).
pub fn upper_bound(filter: &Expr, column: &str) -> Option<(Expr, Expr)> {
    comparisons(filter, column)
        .into_iter()
        .find(|(_, op, x)| {
            matches!(op, Operator::Lt | Operator::LtEq | Operator::Eq) && x.column_refs().is_empty()
        })
        .map(|(c, _, x)| (c.clone(), x.clone()))
}

/// The least microsecond time that `filter` allows of `column` (`column >=
/// x`, `> x`, `= x`, their mirror images, `column BETWEEN x AND b`), with `x`
/// a microsecond timestamp literal.
pub fn lower_bound(filter: &Expr, column: &str) -> Option<i64> {
    comparisons(filter, column)
        .into_iter()
        .find_map(|(_, op, x)| match (op, x) {
            (
                Operator::Gt | Operator::GtEq | Operator::Eq,
                Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _),
            ) => Some(*v),
            _ => None,
        })
}

/// A literal of `frame`'s column `ts` type (so the comparison reaches the
/// table's scan without a cast), or `None` unless that is microseconds.
pub fn ts_literal(frame: &DataFrame, ts: &str, micros: i64) -> Option<Expr> {
    match frame
        .schema()
        .field_with_unqualified_name(ts)
        .ok()?
        .data_type()
    {
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Some(lit(
            ScalarValue::TimestampMicrosecond(Some(micros), tz.clone()),
        )),
        _ => None,
    }
}

/// The earliest time `history` must be read from so that every series of
/// `shown` (the rows the result shows, at or after the bound) gets what
/// `need` says, or `None` to read it all (a time column that is not in
/// microseconds, or no start found in [`MAX_SLICES`] slices). `history`
/// carries the filters pushed into it already.
pub async fn start(
    history: &DataFrame,
    shown: DataFrame,
    series: Series<'_>,
    need: Need,
) -> DFResult<Option<i64>> {
    let key_columns: Vec<Expr> = series.keys.iter().map(|k| column(k)).collect();
    // Keys as the history's types, so they compare with its own and filter
    // its scan without casts.
    let types = series
        .keys
        .iter()
        .map(|k| {
            Ok(history
                .schema()
                .field_with_unqualified_name(k)?
                .data_type()
                .clone())
        })
        .collect::<DFResult<Vec<_>>>()?;
    let ts = |micros: i64| ts_literal(history, series.ts, micros);
    let shown: Vec<Key> = if key_columns.is_empty() {
        // One series: shown if any row is.
        let any = shown.limit(0, Some(1))?.collect().await?;
        match any.iter().any(|b| b.num_rows() > 0) {
            true => vec![vec![]],
            false => vec![],
        }
    } else {
        let distinct = shown
            .aggregate(key_columns.clone(), vec![])?
            .collect()
            .await?;
        keys(&distinct, &types)?
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    let mut missing: HashMap<Key, u64> = shown.into_iter().map(|k| (k, need.rows)).collect();
    if missing.is_empty() {
        return Ok(Some(need.cut));
    }
    let (mut newer, mut span) = (need.cut, need.first_span.max(1));
    for _ in 0..MAX_SLICES {
        let older = need.cut.saturating_sub(span);
        let (Some(from), Some(to)) = (ts(older), ts(newer)) else {
            return Ok(None);
        };
        let time = column(series.ts);
        let counted = history
            .clone()
            .filter(time.clone().gt_eq(from.clone()).and(time.clone().lt(to)))?
            .aggregate(key_columns.clone(), vec![count(lit(1)).alias("n")])?
            .collect()
            .await?;
        for (key, n) in keys(&counted, &types)? {
            if let Some(m) = missing.get_mut(&key) {
                *m = m.saturating_sub(n);
            }
        }
        missing.retain(|_, m| *m > 0);
        if missing.is_empty() || older == i64::MIN {
            return Ok(Some(older));
        }
        // Series still short: done if they have nothing older.
        let older_rows = history
            .clone()
            .filter(time.lt(from).and(any_of(series.keys, missing.keys())))?
            .limit(0, Some(1))?
            .collect()
            .await?;
        if older_rows.iter().all(|b| b.num_rows() == 0) {
            return Ok(Some(older));
        }
        (newer, span) = (older, span.saturating_mul(4));
    }
    Ok(None)
}

/// A filter passing the rows of `series` (of their first keys' values, when
/// there are many).
fn any_of<'a>(names: &[&str], series: impl ExactSizeIterator<Item = &'a Key>) -> Expr {
    let is = |name: &str, value: &ScalarValue| match value.is_null() {
        true => column(name).is_null(),
        false => column(name).eq(lit(value.clone())),
    };
    let terms: Vec<Expr> = if series.len() > MAX_NAMED_SERIES {
        let first: HashSet<&ScalarValue> = series.filter_map(|k| k.first()).collect();
        first.into_iter().map(|v| is(names[0], v)).collect()
    } else {
        series
            .map(|k| {
                names
                    .iter()
                    .zip(k)
                    .map(|(n, v)| is(n, v))
                    .reduce(Expr::and)
                    .unwrap_or(lit(true))
            })
            .collect()
    };
    terms.into_iter().reduce(Expr::or).unwrap_or(lit(false))
}

/// The keys of every row (as `types`), with the count of the column after
/// them when there is one (else 0).
fn keys(batches: &[RecordBatch], types: &[DataType]) -> DFResult<Vec<(Key, u64)>> {
    let mut out = Vec::new();
    for b in batches {
        let columns = types
            .iter()
            .enumerate()
            .map(|(i, t)| cast(b.column(i), t))
            .collect::<Result<Vec<_>, _>>()?;
        let n = match b.num_columns() > types.len() {
            true => Some(cast(b.column(types.len()), &DataType::Int64)?),
            false => None,
        };
        for r in 0..b.num_rows() {
            let key = columns
                .iter()
                .map(|c| ScalarValue::try_from_array(c, r))
                .collect::<DFResult<Key>>()?;
            let count = n
                .as_ref()
                .map_or(0, |n| n.as_primitive::<Int64Type>().value(r) as u64);
            out.push((key, count));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionContext, col};

    use super::*;

    const HOUR: i64 = 3_600_000_000;

    /// Ticks of (commodity, source) at the given hours.
    fn ticks(rows: &[(Option<&str>, &str, i64)]) -> DataFrame {
        let schema = Arc::new(Schema::new(vec![
            Field::new("commodity", DataType::Utf8, true),
            Field::new("source", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>(),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        rows.iter().map(|r| r.2 * HOUR).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        futures::executor::block_on(ctx.table("t")).unwrap()
    }

    /// The start for the series shown at or after `bound`.
    async fn start_of(t: &DataFrame, bound: i64, need: Need) -> Option<i64> {
        let at = ScalarValue::TimestampMicrosecond(Some(bound), Some("UTC".into()));
        let shown = t.clone().filter(col("ts").gt_eq(lit(at))).unwrap();
        let series = Series {
            keys: &["commodity", "source"],
            ts: "ts",
        };
        start(t, shown, series, need).await.unwrap()
    }

    fn need(cut: i64, rows: u64) -> Need {
        Need {
            cut: cut * HOUR,
            rows,
            first_span: HOUR,
        }
    }

    #[tokio::test]
    async fn slices_grow_until_every_shown_series_has_its_rows() {
        // One tick an hour from hour 0 to 999 for WTI, from 900 for BRENT
        // and from 980 for WTI from another source (young series), and one
        // HH tick before the bound only.
        let mut rows: Vec<(Option<&str>, &str, i64)> =
            (0..1000).map(|h| (Some("WTI"), "ICE", h)).collect();
        rows.extend((900..1000).map(|h| (Some("BRENT"), "ICE", h)));
        rows.extend((980..1000).map(|h| (Some("WTI"), "NEW", h)));
        rows.push((Some("HH"), "NYMEX", 10));
        let t = ticks(&rows);
        let at = |h: i64| Some(h * HOUR);
        // 20 rows before hour 990: slices reach back 1, 4, 16, 64 hours.
        assert_eq!(start_of(&t, 990 * HOUR, need(990, 20)).await, at(990 - 64));
        assert_eq!(start_of(&t, 990 * HOUR, need(990, 16)).await, at(990 - 16));
        assert_eq!(start_of(&t, 990 * HOUR, need(990, 17)).await, at(990 - 64));
        // The slices up to 4 hours hold 4 ticks (lower edges included): 5 need the next.
        assert_eq!(start_of(&t, 990 * HOUR, need(990, 5)).await, at(990 - 16));
        // 200 rows: WTI/ICE has them 256 hours back, where the young series
        // have nothing older (WTI's other source does not count for WTI/NEW).
        assert_eq!(
            start_of(&t, 990 * HOUR, need(990, 200)).await,
            at(990 - 256)
        );
        // Only series with rows at or after the bound matter (HH has none).
        // With WTI filtered out, BRENT is short at 64 hours (it starts at
        // hour 900): nothing older of BRENT ends the search there.
        let brent = t.clone().filter(col("commodity").eq(lit("BRENT"))).unwrap();
        assert_eq!(
            start_of(&brent, 990 * HOUR, need(990, 200)).await,
            at(990 - 256)
        );
        assert_eq!(
            start_of(&brent, 950 * HOUR, need(950, 200)).await,
            at(950 - 64)
        );
        // Nothing at or after the bound: no history needed.
        assert_eq!(start_of(&t, 2000 * HOUR, need(2000, 20)).await, at(2000));
        // A cut before the bound (time windows): rows before the cut.
        assert_eq!(start_of(&t, 990 * HOUR, need(900, 1)).await, at(899));
    }

    #[test]
    fn many_short_series_are_probed_by_commodity() {
        let names = ["commodity", "source"];
        let text = |v: Option<&str>| ScalarValue::Utf8(v.map(str::to_string));
        let few: Vec<Key> = vec![vec![text(Some("WTI")), text(None)]];
        assert_eq!(
            any_of(&names, few.iter()).to_string(),
            "commodity = Utf8(\"WTI\") AND source IS NULL"
        );
        let many: Vec<Key> = (0..=MAX_NAMED_SERIES)
            .map(|i| vec![text(Some("WTI")), text(Some(&format!("S{i}")))])
            .collect();
        assert_eq!(
            any_of(&names, many.iter()).to_string(),
            "commodity = Utf8(\"WTI\")"
        );
    }

    #[tokio::test]
    async fn null_commodities_and_other_time_units() {
        let t = ticks(&[(None, "X", 1), (None, "X", 5), (None, "X", 9)]);
        // Needs 2 rows before hour 9: hours 1 and 5, found in the 16-hour slice.
        assert_eq!(
            start_of(&t, 9 * HOUR, need(9, 2)).await,
            Some(9 * HOUR - 16 * HOUR)
        );
        // Needs 5: only 2 exist, and the probe for older NULL-commodity rows
        // finds none once the slices pass hour 1.
        assert_eq!(
            start_of(&t, 9 * HOUR, need(9, 5)).await,
            Some(9 * HOUR - 16 * HOUR)
        );
        let seconds = t
            .select(vec![
                col("commodity"),
                col("source"),
                datafusion::logical_expr::cast(
                    col("ts"),
                    DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                )
                .alias("ts"),
            ])
            .unwrap();
        assert_eq!(start_of(&seconds, 9 * HOUR, need(9, 2)).await, None);
    }
}
