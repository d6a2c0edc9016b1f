//! Continuous OHLCV rollups of a stream table.
//!
//! Bars are emitted when they close: the finest interval's watermark is
//! `floor(newest committed event time − lateness)`, and every bar ending at or
//! before it is computed from the committed ticks and appended in one
//! snapshot whose summary records the new watermark ([`WATERMARK_PROP`]).
//! Coarser intervals are rolled up from the finest bars table, so every
//! interval counts exactly the same ticks. A tick whose finest bar was already
//! emitted is late: the committer keeps it in the ticks table and the late
//! table but no bar counts it. Because the watermark lives in the bars
//! table's own snapshots, a crash anywhere re-emits exactly the missing range.

use std::sync::Arc;

use arrow::array::RecordBatch;
use contango_catalog::guarded_commit::{CommitError, append_on};
use contango_catalog::stream_offsets::newest_property;
use contango_catalog::table::IcebergTable;
use contango_catalog::writer::{TableAppender, ensure_table};
use contango_common::error::{ContangoError, Result};
use datafusion::common::ScalarValue;
use datafusion::prelude::{SessionContext, col, lit};
use iceberg::spec::Transform;
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};

use crate::chunk::bars_schema;

/// Snapshot property: every bar ending at or before this instant (µs) is in the table.
pub const WATERMARK_PROP: &str = "contango.bars.watermark";

/// One rollup table.
#[derive(Debug, Clone)]
pub struct RollupTable {
    /// Interval label (`1m`).
    pub label: String,
    /// Interval, µs.
    pub interval_us: i64,
    /// The table.
    pub ident: TableIdent,
}

/// The rollups of one stream table, finest first.
#[derive(Debug, Clone)]
pub struct Rollups {
    tables: Vec<RollupTable>,
    lateness_us: i64,
    tie_break: String,
}

/// The watermark recorded by the newest snapshot of a bars table.
pub fn watermark(table: &Table) -> Option<i64> {
    newest_property(table, WATERMARK_PROP, |v| v.parse().ok())
}

fn ts_literal(us: i64) -> datafusion::logical_expr::Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(us),
        Some("UTC".into()),
    ))
}

fn floor_to(us: i64, step: i64) -> i64 {
    us.div_euclid(step) * step
}

impl Rollups {
    /// Creates (or opens) `<table>_bars_<label>` for each interval.
    pub async fn open(
        catalog: &dyn Catalog,
        base: &TableIdent,
        intervals: &[(String, i64)],
        lateness_secs: u64,
        multi_topic: bool,
    ) -> Result<Option<Self>> {
        if intervals.is_empty() {
            return Ok(None);
        }
        let mut tables = Vec::new();
        for (label, secs) in intervals {
            let ident = TableIdent::new(
                base.namespace().clone(),
                format!("{}_bars_{label}", base.name()),
            );
            ensure_table(
                catalog,
                &ident,
                &bars_schema(),
                &[("bucket_start", Transform::Month)],
            )
            .await?;
            tables.push(RollupTable {
                label: label.clone(),
                interval_us: secs * 1_000_000,
                ident,
            });
        }
        let tie_break = if multi_topic {
            "_kafka_topic, _kafka_partition, _kafka_offset"
        } else {
            "_kafka_partition, _kafka_offset"
        };
        Ok(Some(Self {
            tables,
            lateness_us: (lateness_secs as i64).saturating_mul(1_000_000),
            tie_break: tie_break.into(),
        }))
    }

    /// The tables, finest first.
    pub fn tables(&self) -> &[RollupTable] {
        &self.tables
    }

    /// The committed watermark of the finest interval (ticks before it are late).
    pub async fn late_before(&self, catalog: &dyn Catalog) -> Result<Option<i64>> {
        let t = catalog.load_table(&self.tables[0].ident).await?;
        Ok(watermark(&t))
    }

    /// Emits every bar closed by `newest_event_us` from the committed `ticks`.
    /// Returns the finest watermark now committed.
    pub async fn emit(
        &self,
        catalog: &Arc<dyn Catalog>,
        ticks: &Table,
        newest_event_us: i64,
    ) -> Result<Option<i64>> {
        if newest_event_us == i64::MIN {
            return self.late_before(catalog.as_ref()).await;
        }
        let fine = &self.tables[0];
        let target = floor_to(
            newest_event_us.saturating_sub(self.lateness_us),
            fine.interval_us,
        );
        let fine_w = self
            .emit_one(catalog, fine, target, Source::Ticks(ticks))
            .await?;
        if let Some(w) = fine_w
            && self.tables.len() > 1
        {
            let source = catalog.load_table(&fine.ident).await?;
            for dst in &self.tables[1..] {
                let target = floor_to(w, dst.interval_us);
                self.emit_one(catalog, dst, target, Source::Bars(&source))
                    .await?;
            }
        }
        Ok(fine_w)
    }

    /// Emits `[watermark, target)` into `dst`; returns `dst`'s watermark after.
    async fn emit_one(
        &self,
        catalog: &Arc<dyn Catalog>,
        dst: &RollupTable,
        target: i64,
        source: Source<'_>,
    ) -> Result<Option<i64>> {
        for _ in 0..8 {
            let table = catalog.load_table(&dst.ident).await?;
            let from = watermark(&table);
            if from.is_some_and(|w| w >= target) {
                return Ok(from);
            }
            let batches = self
                .aggregate(&source, dst.interval_us, from, target)
                .await?;
            let mut out = TableAppender::new(table.clone())?;
            for b in &batches {
                out.write(b).await?;
            }
            let files = out.finish().await?;
            let props =
                std::collections::HashMap::from([(WATERMARK_PROP.to_string(), target.to_string())]);
            match append_on(catalog.clone(), &table, files, props).await {
                Ok(_) => return Ok(Some(target)),
                Err(CommitError::Moved(_)) => continue,
                Err(CommitError::Iceberg(e)) => return Err(e.into()),
            }
        }
        Err(ContangoError::unavailable(format!(
            "bars table {} keeps moving; will retry",
            dst.ident
        )))
    }

    async fn aggregate(
        &self,
        source: &Source<'_>,
        interval_us: i64,
        from: Option<i64>,
        to: i64,
    ) -> Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        let (table, ts) = match source {
            Source::Ticks(t) | Source::Bars(t) => (
                *t,
                if matches!(source, Source::Ticks(_)) {
                    "ts"
                } else {
                    "bucket_start"
                },
            ),
        };
        let provider = IcebergTable::try_new(table.clone()).await?;
        let mut df = ctx.read_table(Arc::new(provider))?;
        df = df.filter(col(ts).lt(ts_literal(to)))?;
        if let Some(from) = from {
            df = df.filter(col(ts).gt_eq(ts_literal(from)))?;
        }
        ctx.register_table("src", df.into_view())?;
        let secs = interval_us / 1_000_000;
        let sql = match source {
            Source::Ticks(_) => format!(
                "SELECT commodity, date_bin(INTERVAL '{secs} seconds', ts) AS bucket_start, \
                 first_value(price ORDER BY ts, {tb}) AS open, max(price) AS high, \
                 min(price) AS low, last_value(price ORDER BY ts, {tb}) AS close, \
                 sum(volume) AS volume, sum(price * CAST(volume AS DOUBLE)) AS turnover, \
                 count(*) AS trades FROM src GROUP BY 1, 2",
                tb = self.tie_break
            ),
            Source::Bars(_) => format!(
                "SELECT commodity, date_bin(INTERVAL '{secs} seconds', bucket_start) AS bucket_start, \
                 first_value(open ORDER BY bucket_start) AS open, max(high) AS high, \
                 min(low) AS low, last_value(close ORDER BY bucket_start) AS close, \
                 sum(volume) AS volume, sum(turnover) AS turnover, \
                 CAST(sum(trades) AS BIGINT) AS trades FROM src GROUP BY 1, 2"
            ),
        };
        let sql = format!(
            "SELECT commodity, bucket_start, open, high, low, close, volume, \
             CASE WHEN volume > 0 THEN turnover / CAST(volume AS DOUBLE) END AS vwap, \
             turnover, trades FROM ({sql}) ORDER BY bucket_start, commodity"
        );
        Ok(ctx.sql(&sql).await?.collect().await?)
    }
}

enum Source<'a> {
    Ticks(&'a Table),
    Bars(&'a Table),
}
