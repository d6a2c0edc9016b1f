//! Kafka positions recorded in Iceberg snapshot summaries.
//!
//! Every snapshot a stream commits carries two summary properties:
//!
//! - [`OFFSETS_PROP`]: the cumulative map `"topic:partition" -> next offset`
//!   (one past the last record the table holds for that partition);
//! - [`RANGE_PROP`]: the `[first, last]` offsets the snapshot itself added.
//!
//! The cumulative map of the newest snapshot that has one is where a stream
//! resumes, and what the live tail is deduplicated against.

use std::collections::BTreeMap;

use iceberg::table::Table;

/// Cumulative `"topic:partition" -> next offset` map (JSON object).
pub const OFFSETS_PROP: &str = "contango.kafka.offsets";
/// This snapshot's `"topic:partition" -> [first, last]` ranges (JSON object).
pub const RANGE_PROP: &str = "contango.kafka.range";
/// Name of the stream that wrote the snapshot.
pub const STREAM_PROP: &str = "contango.stream";

/// A topic-partition.
pub type TopicPartition = (String, i32);
/// Next offset per topic-partition.
pub type Offsets = BTreeMap<TopicPartition, i64>;

/// Encodes `"topic:partition"` keys.
pub fn key(topic: &str, partition: i32) -> String {
    format!("{topic}:{partition}")
}

/// Parses a `"topic:partition"` key (topic names cannot contain ':').
pub fn parse_key(k: &str) -> Option<TopicPartition> {
    let (t, p) = k.rsplit_once(':')?;
    Some((t.to_string(), p.parse().ok()?))
}

/// Encodes an offsets map as a JSON object.
pub fn encode(offsets: &Offsets) -> String {
    let map: serde_json::Map<String, serde_json::Value> = offsets
        .iter()
        .map(|((t, p), o)| (key(t, *p), serde_json::Value::from(*o)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Encodes per-partition `[first, last]` ranges as a JSON object.
pub fn encode_ranges(ranges: &BTreeMap<TopicPartition, (i64, i64)>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = ranges
        .iter()
        .map(|((t, p), (a, b))| (key(t, *p), serde_json::json!([a, b])))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Decodes [`encode`]'s output; `None` when malformed.
pub fn decode(s: &str) -> Option<Offsets> {
    let value: serde_json::Value = serde_json::from_str(s).ok()?;
    value
        .as_object()?
        .iter()
        .map(|(k, v)| Some((parse_key(k)?, v.as_i64()?)))
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut o = Offsets::new();
        o.insert(("commodity-prices".into(), 0), 17);
        o.insert(("a.b_c".into(), 12), 0);
        assert_eq!(decode(&encode(&o)).unwrap(), o);
        assert_eq!(parse_key("t:3"), Some(("t".into(), 3)));
        assert_eq!(parse_key("t"), None);
        assert!(decode("[1]").is_none());
        assert!(decode("{\"t:x\": 1}").is_none());
        let mut r = BTreeMap::new();
        r.insert(("t".to_string(), 1), (5, 9));
        assert_eq!(encode_ranges(&r), r#"{"t:1":[5,9]}"#);
    }
}

/// A stream commit, announced to watchers of the table (data quality
/// computes its metrics incrementally from it).
#[derive(Debug, Clone)]
pub struct Committed {
    /// The ticks table.
    pub table: iceberg::TableIdent,
    /// The snapshot the commit made.
    pub snapshot_id: i64,
    /// Offsets the table held before the commit (rows below them were committed earlier).
    pub before: Offsets,
    /// `[first, last]` offsets the commit added.
    pub ranges: BTreeMap<TopicPartition, (i64, i64)>,
}

/// Where stream commits are announced.
pub type CommitSink = tokio::sync::mpsc::UnboundedSender<Committed>;
