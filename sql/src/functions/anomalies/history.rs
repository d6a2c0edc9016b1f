//! How far back `anomalies(...)` must read when its result is filtered by a
//! lower bound on `ts`. Every series with rows at or after the bound needs
//! the `rows` rows before a cut (the bound, or the bound minus the time
//! window), or all of its rows before the cut when it has fewer. The start
//! is found by counting the rows of slices of growing length backwards from
//! the cut (each slice a filtered scan, so Iceberg reads only its files),
//! until every such series has its rows, or nothing older exists for the
//! commodities of those that do not.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DFResult;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{DataFrame, col, lit};

/// A series: (commodity, source).
type Key = (Option<String>, Option<String>);

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

/// Slices tried before reading all history (4^16 hours is far beyond any
/// timestamp, so the last slices reach the start of time anyway).
const MAX_SLICES: usize = 16;

/// A `ts` literal of the type of `ticks`' `ts` (so the comparison reaches
/// the table's scan without a cast), or `None` unless that is microseconds.
pub fn ts_literal(ticks: &DataFrame, micros: i64) -> Option<Expr> {
    match ticks
        .schema()
        .field_with_unqualified_name("ts")
        .ok()?
        .data_type()
    {
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Some(lit(
            ScalarValue::TimestampMicrosecond(Some(micros), tz.clone()),
        )),
        _ => None,
    }
}

/// The earliest time `ticks` must be read from so that every series with
/// rows at or after `bound` gets what `need` says, or `None` to read it all
/// (a `ts` that is not in microseconds, or no start found in
/// [`MAX_SLICES`] slices). `ticks` carries the other pushed filters.
pub async fn start(ticks: &DataFrame, bound: i64, need: Need) -> DFResult<Option<i64>> {
    let ts = |micros: i64| ts_literal(ticks, micros);
    let Some(at_bound) = ts(bound) else {
        return Ok(None);
    };
    let shown = ticks
        .clone()
        .filter(col("ts").gt_eq(at_bound))?
        .aggregate(vec![col("commodity"), col("source")], vec![])?
        .collect()
        .await?;
    let mut missing: HashMap<Key, u64> = keys(&shown)?
        .into_iter()
        .map(|(key, _)| (key, need.rows))
        .collect();
    let (mut newer, mut span) = (need.cut, need.first_span.max(1));
    for _ in 0..MAX_SLICES {
        if missing.is_empty() {
            return Ok(Some(newer));
        }
        let older = need.cut.saturating_sub(span);
        let (Some(from), Some(to)) = (ts(older), ts(newer)) else {
            return Ok(None);
        };
        let counted = ticks
            .clone()
            .filter(col("ts").gt_eq(from.clone()).and(col("ts").lt(to)))?
            .aggregate(
                vec![col("commodity"), col("source")],
                vec![count(lit(1)).alias("n")],
            )?
            .collect()
            .await?;
        for (key, n) in keys(&counted)? {
            if let Some(m) = missing.get_mut(&key) {
                *m = m.saturating_sub(n);
            }
        }
        missing.retain(|_, m| *m > 0);
        if missing.is_empty() || older == i64::MIN {
            return Ok(Some(older));
        }
        // Series still short: done if they have nothing older.
        let older_rows = ticks
            .clone()
            .filter(col("ts").lt(from).and(any_of(missing.keys())))?
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

/// Short series beyond which the probe for older rows names commodities
/// only (a coarser test: it may read further back, never less far).
const MAX_NAMED_SERIES: usize = 64;

/// A filter passing the rows of `series` (of their commodities, when there
/// are many).
fn any_of<'a>(series: impl ExactSizeIterator<Item = &'a Key>) -> Expr {
    let is = |column: &str, value: &Option<String>| match value {
        Some(v) => col(column).eq(lit(v.as_str())),
        None => col(column).is_null(),
    };
    let terms: Vec<Expr> = if series.len() > MAX_NAMED_SERIES {
        let commodities: HashSet<&Option<String>> = series.map(|(c, _)| c).collect();
        commodities
            .into_iter()
            .map(|c| is("commodity", c))
            .collect()
    } else {
        series
            .map(|(c, s)| is("commodity", c).and(is("source", s)))
            .collect()
    };
    terms.into_iter().reduce(Expr::or).unwrap_or(lit(false))
}

/// (commodity, source) of every row, with the `n` column's count when there
/// is one (else 0).
fn keys(batches: &[RecordBatch]) -> DFResult<Vec<(Key, u64)>> {
    let mut out = Vec::new();
    for b in batches {
        let text = |i: usize| cast(b.column(i), &DataType::Utf8);
        let (commodity, source) = (text(0)?, text(1)?);
        let (commodity, source) = (commodity.as_string::<i32>(), source.as_string::<i32>());
        let n = match b.num_columns() {
            3 => Some(cast(b.column(2), &DataType::Int64)?),
            _ => None,
        };
        for r in 0..b.num_rows() {
            let get = |a: &datafusion::arrow::array::StringArray| {
                a.is_valid(r).then(|| a.value(r).to_string())
            };
            let count = n
                .as_ref()
                .map_or(0, |n| n.as_primitive::<Int64Type>().value(r) as u64);
            out.push(((get(commodity), get(source)), count));
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
    use datafusion::prelude::SessionContext;

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
        assert_eq!(
            start(&t, 990 * HOUR, need(990, 20)).await.unwrap(),
            at(990 - 64)
        );
        assert_eq!(
            start(&t, 990 * HOUR, need(990, 16)).await.unwrap(),
            at(990 - 16)
        );
        assert_eq!(
            start(&t, 990 * HOUR, need(990, 17)).await.unwrap(),
            at(990 - 64)
        );
        // The slices up to 4 hours hold 4 ticks (lower edges included): 5 need the next.
        assert_eq!(
            start(&t, 990 * HOUR, need(990, 5)).await.unwrap(),
            at(990 - 16)
        );
        // 200 rows: WTI/ICE has them 256 hours back, where the young series
        // have nothing older (WTI's other source does not count for WTI/NEW).
        assert_eq!(
            start(&t, 990 * HOUR, need(990, 200)).await.unwrap(),
            at(990 - 256)
        );
        // Only series with rows at or after the bound matter (HH has none).
        // With WTI filtered out, BRENT is short at 64 hours (it starts at
        // hour 900): nothing older of BRENT ends the search there.
        let brent = t.clone().filter(col("commodity").eq(lit("BRENT"))).unwrap();
        assert_eq!(
            start(&brent, 990 * HOUR, need(990, 200)).await.unwrap(),
            at(990 - 256)
        );
        assert_eq!(
            start(&brent, 950 * HOUR, need(950, 200)).await.unwrap(),
            at(950 - 64)
        );
        // Nothing at or after the bound: no history needed.
        assert_eq!(
            start(&t, 2000 * HOUR, need(2000, 20)).await.unwrap(),
            at(2000)
        );
        // A cut before the bound (time windows): rows before the cut.
        assert_eq!(start(&t, 990 * HOUR, need(900, 1)).await.unwrap(), at(899));
    }

    #[test]
    fn many_short_series_are_probed_by_commodity() {
        let few: Vec<Key> = vec![(Some("WTI".into()), None)];
        assert_eq!(
            any_of(few.iter()).to_string(),
            "commodity = Utf8(\"WTI\") AND source IS NULL"
        );
        let many: Vec<Key> = (0..=MAX_NAMED_SERIES)
            .map(|i| (Some("WTI".into()), Some(format!("S{i}"))))
            .collect();
        assert_eq!(any_of(many.iter()).to_string(), "commodity = Utf8(\"WTI\")");
    }

    #[tokio::test]
    async fn null_commodities_and_other_time_units() {
        let t = ticks(&[(None, "X", 1), (None, "X", 5), (None, "X", 9)]);
        // Needs 2 rows before hour 9: hours 1 and 5, found in the 16-hour slice.
        assert_eq!(
            start(&t, 9 * HOUR, need(9, 2)).await.unwrap(),
            Some(9 * HOUR - 16 * HOUR)
        );
        // Needs 5: only 2 exist, and the probe for older NULL-commodity rows
        // finds none once the slices pass hour 1.
        assert_eq!(
            start(&t, 9 * HOUR, need(9, 5)).await.unwrap(),
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
        assert_eq!(start(&seconds, 9 * HOUR, need(9, 2)).await.unwrap(), None);
    }
}
