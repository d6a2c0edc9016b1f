//! Which snapshot a time-travel reference means: `v<snapshot id>` or
//! `t<epoch millis>` (the snapshot current at that instant, from the table's
//! snapshot log, as Trino's `FOR TIMESTAMP AS OF` reads it).

use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::table::Table;

/// The snapshot id `version` designates in `table`.
pub fn snapshot_for(table: &Table, version: &str) -> DFResult<i64> {
    let metadata = table.metadata();
    let bad = || DataFusionError::Plan(format!("invalid time travel reference '{version}'"));
    if let Some(id) = version.strip_prefix('v') {
        let id: i64 = id.parse().map_err(|_| bad())?;
        return metadata
            .snapshot_by_id(id)
            .map(|s| s.snapshot_id())
            .ok_or_else(|| {
                DataFusionError::Plan(format!("Iceberg snapshot ID does not exists: {id}"))
            });
    }
    let at: i64 = version
        .strip_prefix('t')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    metadata
        .history()
        .iter()
        .filter(|l| l.timestamp_ms <= at)
        .max_by_key(|l| l.timestamp_ms)
        .map(|l| l.snapshot_id)
        .ok_or_else(|| {
            let when = chrono::DateTime::from_timestamp_millis(at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| at.to_string());
            DataFusionError::Plan(format!("No version history table at or before {when}"))
        })
}
