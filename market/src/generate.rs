//! The tick generator: geometric Brownian motion per commodity plus labeled defects.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use chrono::{Datelike, NaiveDate, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp1, StandardNormal};

use crate::commodities::{COMMODITIES, Commodity};
use crate::schema::{DEFECT_KINDS, defects_schema, ticks_schema};

const MICROS_PER_MINUTE: i64 = 60_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Future timestamps are moved this far ahead (about 100 years), far beyond any clock skew.
const FUTURE_SHIFT_MICROS: i64 = 36_525 * MICROS_PER_DAY;
/// Aim for this many clean ticks per commodity per day before adding more days.
const TARGET_TICKS_PER_DAY: u64 = 4_000;
/// At most a year of trading days; larger markets get denser days.
const MAX_DAYS: u64 = 260;

/// What to generate.
#[derive(Debug, Clone)]
pub struct MarketSpec {
    /// RNG seed: the same seed and spec always produce the same market.
    pub seed: u64,
    /// Number of clean ticks before defects are applied (gaps remove some rows,
    /// duplicates add some; the total stays within a fraction of a percent).
    pub rows: u64,
    /// First trading day (weekends are skipped).
    pub start: NaiveDate,
    /// Probability that a given tick starts a defect.
    pub defect_rate: f64,
    /// How many commodities of [`COMMODITIES`] to use (at most all of them).
    pub commodities: usize,
}

impl Default for MarketSpec {
    fn default() -> Self {
        Self {
            seed: 42,
            rows: 1_000_000,
            start: NaiveDate::from_ymd_opt(2025, 1, 6).expect("valid date"),
            defect_rate: 0.001,
            commodities: COMMODITIES.len(),
        }
    }
}

impl MarketSpec {
    /// Number of trading days the market spans.
    pub fn days(&self) -> u64 {
        let n = self.commodity_count() as u64;
        self.rows
            .div_ceil(n * TARGET_TICKS_PER_DAY)
            .clamp(1, MAX_DAYS)
    }

    fn commodity_count(&self) -> usize {
        self.commodities.clamp(1, COMMODITIES.len())
    }
}

/// One trading day of the market.
#[derive(Debug, Clone)]
pub struct MarketChunk {
    /// The trading day.
    pub day: NaiveDate,
    /// Ticks of that day, grouped by commodity (schema: [`ticks_schema`]).
    pub ticks: RecordBatch,
    /// Labels of the defects injected that day (schema: [`defects_schema`]).
    pub defects: RecordBatch,
}

/// Iterator over the trading days of a [`MarketSpec`].
pub struct MarketGenerator {
    spec: MarketSpec,
    day_index: u64,
    day: NaiveDate,
    days: u64,
    prices: Vec<f64>,
}

impl MarketGenerator {
    /// A generator positioned at the first trading day.
    pub fn new(spec: MarketSpec) -> Self {
        let days = spec.days();
        let prices = COMMODITIES[..spec.commodity_count()]
            .iter()
            .map(|c| c.price)
            .collect();
        let day = next_weekday(spec.start);
        Self {
            spec,
            day_index: 0,
            day,
            days,
            prices,
        }
    }

    /// Number of clean ticks assigned to (day, commodity) slot `slot`.
    fn slot_rows(&self, slot: u64) -> u64 {
        let slots = self.days * self.prices.len() as u64;
        self.spec.rows / slots + u64::from(slot < self.spec.rows % slots)
    }
}

impl Iterator for MarketGenerator {
    type Item = MarketChunk;

    fn next(&mut self) -> Option<MarketChunk> {
        if self.day_index >= self.days {
            return None;
        }
        let n = self.prices.len();
        let mut out = ChunkBuilder::default();
        let day_start = self
            .day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros();
        for (k, commodity) in COMMODITIES[..n].iter().enumerate() {
            let slot = self.day_index * n as u64 + k as u64;
            let rows = self.slot_rows(slot);
            let mut rng = StdRng::seed_from_u64(mix(self.spec.seed, slot));
            self.prices[k] = simulate_day(
                commodity,
                self.prices[k],
                rows,
                day_start,
                self.spec.defect_rate,
                &mut rng,
                &mut out,
            );
        }
        let chunk = MarketChunk {
            day: self.day,
            ticks: out.ticks.finish(),
            defects: out.defects.finish(),
        };
        self.day_index += 1;
        self.day = next_weekday(self.day.succ_opt().expect("date in range"));
        Some(chunk)
    }
}

fn next_weekday(mut d: NaiveDate) -> NaiveDate {
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d = d.succ_opt().expect("date in range");
    }
    d
}

/// SplitMix64 finaliser: independent, reproducible streams per (seed, slot).
fn mix(seed: u64, slot: u64) -> u64 {
    let mut z = seed ^ slot.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A defect in progress that spans several ticks.
enum Run {
    None,
    Stale { price: f64, left: u32, len: u32 },
}

/// Simulates one commodity for one day; returns the closing (true) price.
fn simulate_day(
    c: &Commodity,
    mut price: f64,
    rows: u64,
    day_start: i64,
    defect_rate: f64,
    rng: &mut StdRng,
    out: &mut ChunkBuilder,
) -> f64 {
    if rows == 0 {
        return price;
    }
    let session = c.session_minutes as i64 * MICROS_PER_MINUTE;
    let spacing = (session / rows as i64).max(1);
    let open = day_start + c.open_minute as i64 * MICROS_PER_MINUTE;
    let dt = 1.0 / (252.0 * rows as f64);
    let drift = -0.5 * c.volatility * c.volatility * dt;
    let diffusion = c.volatility * dt.sqrt();
    let mut run = Run::None;
    let mut skip = 0u64;
    for i in 0..rows {
        let z: f64 = StandardNormal.sample(rng);
        price *= (drift + diffusion * z).exp();
        let ts = open + i as i64 * spacing + rng.random_range(0..spacing.max(2) / 2);
        let source = c.sources[rng.random_range(0..c.sources.len())];
        let e: f64 = Exp1.sample(rng);
        let volume = c.lot as i64 * (1 + (3.0 * e) as i64);
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let mut tick = Tick {
            commodity: c.symbol,
            ts,
            price: Some(price),
            volume: Some(volume),
            source,
        };
        if let Run::Stale {
            price: p,
            left,
            len,
        } = &mut run
        {
            tick.price = Some(*p);
            out.label(&tick, "stale", format!("repeat {p} ({len} ticks)"));
            out.tick(&tick);
            *left -= 1;
            if *left == 0 {
                run = Run::None;
            }
            continue;
        }
        if rng.random::<f64>() >= defect_rate {
            out.tick(&tick);
            continue;
        }
        match DEFECT_KINDS[rng.random_range(0..DEFECT_KINDS.len())] {
            "spike" => {
                let factor = rng.random_range(1.5..3.0);
                let factor = if rng.random::<bool>() {
                    factor
                } else {
                    1.0 / factor
                };
                tick.price = Some(price * factor);
                out.label(&tick, "spike", format!("x{factor:.3} of {price:.6}"));
                out.tick(&tick);
            }
            "negative" => {
                tick.price = Some(-price * rng.random_range(0.1..1.0));
                out.label(&tick, "negative", format!("true price {price:.6}"));
                out.tick(&tick);
            }
            "stale" => {
                // This tick carries the price that the next ticks repeat.
                out.tick(&tick);
                let len = rng.random_range(5..20u32);
                run = Run::Stale {
                    price,
                    left: len,
                    len,
                };
            }
            "gap" => {
                let missing = rng.random_range(20..100u64);
                out.label(
                    &tick,
                    "gap",
                    format!(
                        "{missing} ticks missing ({} s)",
                        missing as i64 * spacing / 1_000_000
                    ),
                );
                skip = missing - 1;
            }
            "duplicate" => {
                out.label(&tick, "duplicate", "row repeated".to_string());
                out.tick(&tick);
                out.tick(&tick);
            }
            "out_of_order" => {
                tick.ts -= rng.random_range(2..10) * spacing;
                out.label(&tick, "out_of_order", format!("moved back from {ts}"));
                out.tick(&tick);
            }
            "future_ts" => {
                tick.ts += FUTURE_SHIFT_MICROS;
                out.label(&tick, "future_ts", format!("moved ahead from {ts}"));
                out.tick(&tick);
            }
            "null_price" => {
                tick.price = None;
                out.label(&tick, "null_price", format!("true price {price:.6}"));
                out.tick(&tick);
            }
            _ => {
                tick.volume = None;
                out.label(&tick, "null_volume", format!("true volume {volume}"));
                out.tick(&tick);
            }
        }
    }
    price
}

struct Tick {
    commodity: &'static str,
    ts: i64,
    price: Option<f64>,
    volume: Option<i64>,
    source: &'static str,
}

#[derive(Default)]
struct ChunkBuilder {
    ticks: TicksBuilder,
    defects: DefectsBuilder,
}

impl ChunkBuilder {
    fn tick(&mut self, t: &Tick) {
        let b = &mut self.ticks;
        b.commodity.append_value(t.commodity);
        b.ts.append_value(t.ts);
        b.price.append_option(t.price);
        b.volume.append_option(t.volume);
        b.source.append_value(t.source);
    }

    fn label(&mut self, t: &Tick, defect: &str, detail: String) {
        let b = &mut self.defects;
        b.commodity.append_value(t.commodity);
        b.ts.append_value(t.ts);
        b.source.append_value(t.source);
        b.defect.append_value(defect);
        b.detail.append_value(detail);
    }
}

#[derive(Default)]
struct TicksBuilder {
    commodity: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    price: Float64Builder,
    volume: Int64Builder,
    source: StringBuilder,
}

impl TicksBuilder {
    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.commodity.finish()),
            Arc::new(self.ts.finish().with_timezone("UTC")),
            Arc::new(self.price.finish()),
            Arc::new(self.volume.finish()),
            Arc::new(self.source.finish()),
        ];
        RecordBatch::try_new(ticks_schema(), columns).expect("columns match ticks schema")
    }
}

#[derive(Default)]
struct DefectsBuilder {
    commodity: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    source: StringBuilder,
    defect: StringBuilder,
    detail: StringBuilder,
}

impl DefectsBuilder {
    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.commodity.finish()),
            Arc::new(self.ts.finish().with_timezone("UTC")),
            Arc::new(self.source.finish()),
            Arc::new(self.defect.finish()),
            Arc::new(self.detail.finish()),
        ];
        RecordBatch::try_new(defects_schema(), columns).expect("columns match defects schema")
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, TimestampMicrosecondType};

    use super::*;

    fn spec(rows: u64) -> MarketSpec {
        MarketSpec {
            rows,
            defect_rate: 0.01,
            ..MarketSpec::default()
        }
    }

    #[test]
    fn same_seed_same_market() {
        let a: Vec<_> = MarketGenerator::new(spec(50_000)).collect();
        let b: Vec<_> = MarketGenerator::new(spec(50_000)).collect();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ticks, y.ticks);
            assert_eq!(x.defects, y.defects);
        }
        let other: Vec<_> = MarketGenerator::new(MarketSpec {
            seed: 7,
            ..spec(50_000)
        })
        .collect();
        assert_ne!(a[0].ticks, other[0].ticks);
    }

    #[test]
    fn row_count_close_to_spec_and_defects_labeled() {
        let chunks: Vec<_> = MarketGenerator::new(spec(200_000)).collect();
        let rows: usize = chunks.iter().map(|c| c.ticks.num_rows()).sum();
        // Gaps remove up to 100 rows per defect, duplicates add one: stay within 10 %.
        assert!((180_000..=220_000).contains(&rows), "rows = {rows}");
        let mut kinds = std::collections::BTreeSet::new();
        for chunk in &chunks {
            let d = chunk.defects.column(3).as_string::<i32>();
            for i in 0..d.len() {
                kinds.insert(d.value(i).to_string());
            }
        }
        let expected: std::collections::BTreeSet<_> =
            DEFECT_KINDS.iter().map(|s| s.to_string()).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn negative_labels_match_negative_prices() {
        let mut negative_rows = 0;
        let mut negative_labels = 0;
        for chunk in MarketGenerator::new(spec(100_000)) {
            let price = chunk.ticks.column(2).as_primitive::<Float64Type>();
            negative_rows += price.iter().flatten().filter(|p| *p < 0.0).count();
            let d = chunk.defects.column(3).as_string::<i32>();
            negative_labels += (0..d.len()).filter(|&i| d.value(i) == "negative").count();
            let ts = chunk
                .ticks
                .column(1)
                .as_primitive::<TimestampMicrosecondType>();
            assert_eq!(ts.null_count(), 0);
        }
        assert!(negative_labels > 0);
        assert_eq!(negative_rows, negative_labels);
    }

    #[test]
    fn days_scale_with_rows() {
        assert_eq!(spec(10_000).days(), 1);
        assert_eq!(spec(100_000_000).days(), MAX_DAYS);
    }
}
