//! Data quality as part of the engine:
//!
//! - [`rules`]: `[quality]` in the configuration (rules per table, defaults
//!   for tick-shaped tables, the history schedule, alert strategies);
//! - [`monitor`]: which tables are monitored, rules resolved against columns;
//! - [`sql`]: the SQL behind each view (one scan per table and view);
//! - [`views`]: the `quality` schema laid over the Iceberg catalog
//!   (`completeness`, `validity`, `uniqueness`, `freshness`, `volume`,
//!   `consistency`, `checks`, `summary`, `alerts`);
//! - [`history`]: `quality.metrics_history` (scheduled full runs, incremental
//!   runs after each stream commit);
//! - [`prometheus`]: the newest values as gauges.

pub mod history;
pub mod monitor;
pub mod prometheus;
pub mod rules;
pub mod sql;
pub mod views;

pub use history::QualityRunner;
pub use rules::QualityConfig;
pub use views::{QualityCatalog, QualityShared};
