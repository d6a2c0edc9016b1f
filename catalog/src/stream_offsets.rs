//! Kafka positions read back from Iceberg snapshot summaries (the property
//! names and encoding are [`contango_common::stream`]'s).
//!
//! The cumulative map of the newest snapshot that has one is where a stream
//! resumes, and what the live tail is deduplicated against.

use contango_common::stream::{OFFSETS_PROP, Offsets, decode};
use iceberg::table::Table;

/// The newest value of summary property `key` that `parse` accepts, walking
/// from the current snapshot through its parents: snapshots written by others
/// (compaction, manual inserts) are skipped.
pub fn newest_property<T>(
    table: &Table,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let metadata = table.metadata();
    let mut snapshot = metadata.current_snapshot();
    while let Some(s) = snapshot {
        if let Some(v) = s
            .summary()
            .additional_properties
            .get(key)
            .and_then(|v| parse(v))
        {
            return Some(v);
        }
        snapshot = s
            .parent_snapshot_id()
            .and_then(|p| metadata.snapshot_by_id(p));
    }
    None
}

/// The committed positions of `table`: the offsets map of the newest snapshot
/// that records one.
pub fn committed(table: &Table) -> Offsets {
    newest_property(table, OFFSETS_PROP, decode).unwrap_or_default()
}
