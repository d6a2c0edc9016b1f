//! Deterministic synthetic commodity market: ticks with labeled defects.
//!
//! The generator walks every commodity through trading days with a geometric
//! Brownian motion, emits ticks inside each commodity's trading session, and
//! injects defects (spikes, negative prices, stale runs, gaps, duplicates,
//! out-of-order and future timestamps, nulls) whose labels are returned
//! alongside so anomaly scans and quality checks can be scored.
//!
//! Output is a sequence of [`MarketChunk`]s, one per trading day, each holding
//! ticks sorted by commodity (the partition order of the `ticks` table) plus the
//! defect labels for that day. The same seed always yields the same market.

mod commodities;
mod generate;
mod schema;

pub use commodities::{COMMODITIES, Commodity};
pub use generate::{MarketChunk, MarketGenerator, MarketSpec};
pub use schema::{DEFECT_KINDS, defects_schema, ticks_schema};
