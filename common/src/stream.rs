//! What a Kafka stream records about itself, shared by the catalog (which
//! reads and writes it in Iceberg snapshot summaries and scans the hot tail),
//! the connector (which commits it) and data quality (which follows commits):
//! the summary property names, the offsets maps and their encoding, the
//! lineage columns of streamed tables, and the commit announcement.
//!
//! Every snapshot a stream commits carries two summary properties:
//!
//! - [`OFFSETS_PROP`]: the cumulative map `"topic:partition" -> next offset`
//!   (one past the last record the table holds for that partition);
//! - [`RANGE_PROP`]: the `[first, last]` offsets the snapshot itself added.

use std::collections::BTreeMap;

use datafusion::arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};

/// Cumulative `"topic:partition" -> next offset` map (JSON object).
pub const OFFSETS_PROP: &str = "contango.kafka.offsets";
/// This snapshot's `"topic:partition" -> [first, last]` ranges (JSON object).
pub const RANGE_PROP: &str = "contango.kafka.range";
/// Name of the stream that wrote the snapshot.
pub const STREAM_PROP: &str = "contango.stream";

/// Lineage column: Kafka partition.
pub const PARTITION_COLUMN: &str = "_kafka_partition";
/// Lineage column: Kafka offset.
pub const OFFSET_COLUMN: &str = "_kafka_offset";
/// Lineage column: Kafka topic (only when a stream reads several topics).
pub const TOPIC_COLUMN: &str = "_kafka_topic";

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

/// Names of a table's (topic, partition, offset) columns.
#[derive(Debug, Clone, Copy)]
pub struct Lineage {
    /// Topic column (rows of batches without it belong to a default topic).
    pub topic: &'static str,
    /// Partition column (INT).
    pub partition: &'static str,
    /// Offset column (BIGINT).
    pub offset: &'static str,
}

impl Lineage {
    /// The lineage columns of a stream table (and its late table).
    pub const STREAM: Lineage = Lineage {
        topic: TOPIC_COLUMN,
        partition: PARTITION_COLUMN,
        offset: OFFSET_COLUMN,
    };

    /// `true` for rows at or past `committed`'s next offset of their
    /// topic-partition (and for partitions it does not know); `None` when the
    /// batch lacks the partition or offset column.
    pub fn not_covered(
        &self,
        batch: &RecordBatch,
        committed: &Offsets,
        default_topic: &str,
    ) -> Option<BooleanArray> {
        let partitions = batch
            .column_by_name(self.partition)?
            .as_any()
            .downcast_ref::<Int32Array>()?;
        let offsets = batch
            .column_by_name(self.offset)?
            .as_any()
            .downcast_ref::<Int64Array>()?;
        let topics = batch
            .column_by_name(self.topic)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>());
        // One lookup per run of rows from the same partition, not per row.
        let mut last: Option<(&str, i32, i64)> = None;
        let mask = (0..batch.num_rows())
            .map(|i| {
                let topic = topics.map_or(default_topic, |t| t.value(i));
                let p = partitions.value(i);
                let next = match last {
                    Some((t, lp, n)) if t == topic && lp == p => n,
                    _ => {
                        let n = committed
                            .get(&(topic.to_string(), p))
                            .copied()
                            .unwrap_or(i64::MIN);
                        last = Some((topic, p, n));
                        n
                    }
                };
                Some(offsets.is_valid(i) && offsets.value(i) >= next)
            })
            .collect();
        Some(mask)
    }
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
