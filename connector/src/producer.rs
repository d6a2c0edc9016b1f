//! A built-in producer: replays the synthetic market into a topic as JSON
//! messages in the reference format, for `contango demo --stream`,
//! `contango produce` and the ingest benchmark.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use contango_common::error::{ContangoError, Result};
use contango_market::{MarketGenerator, MarketSpec};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// What to produce.
#[derive(Debug, Clone)]
pub struct ProduceSpec {
    /// Bootstrap servers.
    pub brokers: String,
    /// Topic (created with `partitions` partitions when absent).
    pub topic: String,
    /// Partitions of a created topic.
    pub partitions: i32,
    /// Messages to send (`None`: until stopped).
    pub messages: Option<u64>,
    /// Messages per second (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Market seed.
    pub seed: u64,
    /// Stamp messages with the current time instead of the market's own.
    pub live_time: bool,
    /// Extra librdkafka properties.
    pub kafka: BTreeMap<String, String>,
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub fn ensure_topic(config: &ClientConfig, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<_> = config
        .create()
        .map_err(|e| ContangoError::unavailable(format!("kafka admin client: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = futures::executor::block_on(admin.create_topics([&new], &opts))
        .map_err(|e| ContangoError::unavailable(format!("creating topic {topic}: {e}")))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(ContangoError::unavailable(format!(
                    "creating topic {t}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Produces per `spec` until done or `stop` is set; returns messages sent.
/// `progress` is called about once a second with the running count.
pub fn produce(spec: &ProduceSpec, stop: &AtomicBool, progress: &dyn Fn(u64)) -> Result<u64> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &spec.brokers);
    for (k, v) in &spec.kafka {
        cc.set(k, v);
    }
    ensure_topic(&cc, &spec.topic, spec.partitions)?;
    cc.set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .set("enable.idempotence", "true");
    let producer: BaseProducer = cc
        .create()
        .map_err(|e| ContangoError::unavailable(format!("kafka producer: {e}")))?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut last_progress = Instant::now();
    let mut json = String::with_capacity(160);
    let mut generated_rows = 0u64;
    'outer: for round in 0u64.. {
        let market = MarketGenerator::new(MarketSpec {
            seed: spec.seed.wrapping_add(round),
            rows: spec
                .messages
                .unwrap_or(10_000_000)
                .saturating_sub(generated_rows)
                .max(1),
            defect_rate: 0.0,
            ..MarketSpec::default()
        });
        for chunk in market {
            let t = &chunk.ticks;
            let commodity = t.column(0).as_string::<i32>();
            let ts = t.column(1).as_primitive::<TimestampMicrosecondType>();
            let price = t.column(2).as_primitive::<Float64Type>();
            let volume = t.column(3).as_primitive::<Int64Type>();
            let source = t.column(4).as_string::<i32>();
            for i in 0..t.num_rows() {
                if stop.load(Ordering::Relaxed) || spec.messages.is_some_and(|m| sent >= m) {
                    break 'outer;
                }
                if price.is_null(i) || volume.is_null(i) {
                    continue;
                }
                let ts_us = if spec.live_time {
                    chrono::Utc::now().timestamp_micros()
                } else {
                    ts.value(i)
                };
                json.clear();
                let stamp = chrono::DateTime::from_timestamp_micros(ts_us)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let _ = write!(
                    json,
                    r#"{{"commodity":"{}","price":{},"volume":{},"timestamp":"{stamp}","source":"{}"}}"#,
                    commodity.value(i),
                    price.value(i),
                    volume.value(i),
                    source.value(i)
                );
                let key = commodity.value(i);
                loop {
                    match producer.send(BaseRecord::to(&spec.topic).key(key).payload(&json)) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => {
                            return Err(ContangoError::unavailable(format!("produce: {e}")));
                        }
                    }
                }
                sent += 1;
                if sent.is_multiple_of(1024) {
                    producer.poll(Duration::ZERO);
                }
                if let Some(rate) = spec.rate {
                    let due = Duration::from_secs_f64(sent as f64 / rate);
                    let elapsed = started.elapsed();
                    if due > elapsed {
                        producer.poll(due - elapsed);
                    }
                }
                if last_progress.elapsed() >= Duration::from_secs(1) {
                    progress(sent);
                    last_progress = Instant::now();
                }
            }
            generated_rows += t.num_rows() as u64;
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| ContangoError::unavailable(format!("flushing producer: {e}")))?;
    progress(sent);
    Ok(sent)
}
