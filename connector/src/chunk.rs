//! Table schemas of a stream and the builder that turns messages into
//! Arrow chunks: accepted ticks, rejected messages, and the offsets covered.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use contango_common::stream::TopicPartition;
use contango_common::stream::{OFFSET_COLUMN, PARTITION_COLUMN, TOPIC_COLUMN};

use crate::record::Validator;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The tick columns shared by the stream table and the late-records table.
fn tick_fields(multi_topic: bool) -> Vec<Field> {
    let mut fields = vec![
        Field::new("commodity", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, true),
        Field::new("source", DataType::Utf8, false),
    ];
    if multi_topic {
        fields.push(Field::new(TOPIC_COLUMN, DataType::Utf8, false));
    }
    fields.push(Field::new(PARTITION_COLUMN, DataType::Int32, false));
    fields.push(Field::new(OFFSET_COLUMN, DataType::Int64, false));
    fields
}

/// The stream table: ticks plus lineage columns.
pub fn ticks_schema(multi_topic: bool) -> SchemaRef {
    Arc::new(Schema::new(tick_fields(multi_topic)))
}

/// Late records: ticks plus the watermark they missed.
pub fn late_schema(multi_topic: bool) -> SchemaRef {
    let mut fields = tick_fields(multi_topic);
    fields.push(Field::new("watermark", ts_type(), false));
    Arc::new(Schema::new(fields))
}

/// The dead-letter table.
pub fn rejected_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
        Field::new("payload", DataType::Binary, true),
        Field::new("payload_text", DataType::Utf8, true),
        Field::new("message_key", DataType::Binary, true),
        Field::new("kafka_timestamp", ts_type(), true),
        Field::new("received_at", ts_type(), false),
    ]))
}

/// OHLCV bars.
pub fn bars_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("commodity", DataType::Utf8, false),
        Field::new("bucket_start", ts_type(), false),
        Field::new("open", DataType::Float64, false),
        Field::new("high", DataType::Float64, false),
        Field::new("low", DataType::Float64, false),
        Field::new("close", DataType::Float64, false),
        Field::new("volume", DataType::Int64, true),
        Field::new("vwap", DataType::Float64, true),
        Field::new("turnover", DataType::Float64, true),
        Field::new("trades", DataType::Int64, false),
    ]))
}

/// Messages of one poll interval, parsed.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Accepted ticks (stream table schema).
    pub ticks: RecordBatch,
    /// Rejected messages (dead-letter schema).
    pub rejected: RecordBatch,
    /// `[first, last]` offsets per partition.
    pub ranges: BTreeMap<TopicPartition, (i64, i64)>,
    /// Rejections by reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// Newest event time among the ticks, µs (i64::MIN when none).
    pub max_ts: i64,
}

impl Chunk {
    /// Messages covered.
    pub fn messages(&self) -> usize {
        self.ticks.num_rows() + self.rejected.num_rows()
    }
}

/// Accumulates messages into a [`Chunk`].
pub struct ChunkBuilder {
    validator: Validator,
    multi_topic: bool,
    commodity: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    price: Float64Builder,
    volume: Int64Builder,
    source: StringBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    r_topic: StringBuilder,
    r_partition: Int32Builder,
    r_offset: Int64Builder,
    r_reason: StringBuilder,
    r_detail: StringBuilder,
    r_payload: BinaryBuilder,
    r_text: StringBuilder,
    r_key: BinaryBuilder,
    r_kafka_ts: TimestampMicrosecondBuilder,
    r_received: TimestampMicrosecondBuilder,
    ranges: Vec<(TopicPartition, (i64, i64))>,
    reasons: BTreeMap<&'static str, u64>,
    max_ts: i64,
    messages: usize,
}

impl ChunkBuilder {
    /// A builder validating with `validator`.
    pub fn new(validator: Validator, multi_topic: bool) -> Self {
        Self {
            validator,
            multi_topic,
            commodity: StringBuilder::new(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            price: Float64Builder::new(),
            volume: Int64Builder::new(),
            source: StringBuilder::new(),
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            r_topic: StringBuilder::new(),
            r_partition: Int32Builder::new(),
            r_offset: Int64Builder::new(),
            r_reason: StringBuilder::new(),
            r_detail: StringBuilder::new(),
            r_payload: BinaryBuilder::new(),
            r_text: StringBuilder::new(),
            r_key: BinaryBuilder::new(),
            r_kafka_ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            r_received: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            ranges: Vec::new(),
            reasons: BTreeMap::new(),
            max_ts: i64::MIN,
            messages: 0,
        }
    }

    /// Messages added since the last [`finish`](Self::finish).
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Adds one message.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        kafka_ts_ms: Option<i64>,
        now_us: i64,
    ) {
        self.messages += 1;
        self.track(topic, partition, offset);
        match self.validator.check(payload, now_us) {
            Ok(t) => {
                self.commodity.append_value(&t.commodity);
                self.ts.append_value(t.ts_us);
                self.price.append_value(t.price);
                self.volume.append_option(t.volume);
                self.source.append_value(&t.source);
                if self.multi_topic {
                    self.topic.append_value(topic);
                }
                self.partition.append_value(partition);
                self.offset.append_value(offset);
                self.max_ts = self.max_ts.max(t.ts_us);
            }
            Err(r) => {
                *self.reasons.entry(r.reason).or_default() += 1;
                self.r_topic.append_value(topic);
                self.r_partition.append_value(partition);
                self.r_offset.append_value(offset);
                self.r_reason.append_value(r.reason);
                self.r_detail.append_value(&r.detail);
                self.r_payload.append_option(payload);
                self.r_text
                    .append_option(payload.and_then(|p| std::str::from_utf8(p).ok()));
                self.r_key.append_option(key);
                self.r_kafka_ts
                    .append_option(kafka_ts_ms.and_then(|m| m.checked_mul(1000)));
                self.r_received.append_value(now_us);
            }
        }
    }

    fn track(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(((t, p), (_, last))) = self.ranges.last_mut()
            && *p == partition
            && t == topic
        {
            *last = offset;
            return;
        }
        match self
            .ranges
            .iter_mut()
            .find(|((t, p), _)| *p == partition && t == topic)
        {
            Some((_, (_, last))) => *last = offset,
            None => self
                .ranges
                .push(((topic.to_string(), partition), (offset, offset))),
        }
    }

    /// Takes what was added as a chunk and starts over.
    pub fn finish(&mut self) -> Chunk {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.commodity.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.price.finish()),
            Arc::new(self.volume.finish()),
            Arc::new(self.source.finish()),
        ];
        if self.multi_topic {
            columns.push(Arc::new(self.topic.finish()));
        }
        columns.push(Arc::new(self.partition.finish()));
        columns.push(Arc::new(self.offset.finish()));
        let ticks = RecordBatch::try_new(ticks_schema(self.multi_topic), columns)
            .expect("tick columns match the schema");
        let rejected = RecordBatch::try_new(
            rejected_schema(),
            vec![
                Arc::new(self.r_topic.finish()),
                Arc::new(self.r_partition.finish()),
                Arc::new(self.r_offset.finish()),
                Arc::new(self.r_reason.finish()),
                Arc::new(self.r_detail.finish()),
                Arc::new(self.r_payload.finish()),
                Arc::new(self.r_text.finish()),
                Arc::new(self.r_key.finish()),
                Arc::new(self.r_kafka_ts.finish()),
                Arc::new(self.r_received.finish()),
            ],
        )
        .expect("rejected columns match the schema");
        self.messages = 0;
        Chunk {
            ticks,
            rejected,
            ranges: std::mem::take(&mut self.ranges).into_iter().collect(),
            reasons: std::mem::take(&mut self.reasons),
            max_ts: std::mem::replace(&mut self.max_ts, i64::MIN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StreamConfig;

    #[test]
    fn chunks_split_accepted_and_rejected() {
        let mut b = ChunkBuilder::new(Validator::new(&StreamConfig::default()), false);
        let now = 1_762_000_000_000_000;
        let ok =
            br#"{"commodity":"WTI","price":70.5,"volume":3,"timestamp":1761991200,"source":"ICE"}"#;
        b.add("t", 0, 10, None, Some(ok), None, now);
        b.add("t", 0, 11, Some(b"k"), Some(b"garbage"), Some(5), now);
        b.add("t", 1, 4, None, Some(ok), None, now);
        b.add("t", 0, 12, None, Some(ok), None, now);
        let c = b.finish();
        assert_eq!(c.ticks.num_rows(), 3);
        assert_eq!(c.rejected.num_rows(), 1);
        assert_eq!(c.ranges[&("t".to_string(), 0)], (10, 12));
        assert_eq!(c.ranges[&("t".to_string(), 1)], (4, 4));
        assert_eq!(c.reasons["malformed_json"], 1);
        assert_eq!(c.max_ts, 1_761_991_200_000_000);
        assert_eq!(b.messages(), 0);
        let empty = b.finish();
        assert_eq!(empty.messages(), 0);
        assert!(empty.ranges.is_empty());
    }
}
