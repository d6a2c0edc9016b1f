//! The Kafka side of a stream: one thread polling an explicitly assigned
//! librdkafka consumer, parsing messages into chunks for the committer.
//!
//! Partitions are assigned explicitly, starting at the offsets recorded in
//! the Iceberg table (see `contango_catalog::stream_offsets`); the consumer
//! group is used only to publish committed offsets for lag monitoring.
//! librdkafka reconnects by itself when a broker goes away and comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use contango_common::error::{ContangoError, Result};
use contango_common::stream::Offsets;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::chunk::{Chunk, ChunkBuilder};
use crate::config::StreamConfig;
use crate::metrics::StreamMetrics;
use crate::record::Validator;

/// Largest chunk handed to the committer at once.
const MAX_CHUNK: usize = 65_536;

/// librdkafka client settings shared by the consumer and the demo producer:
/// brokers plus the stream's `kafka.*` pass-through properties.
pub fn client_config(config: &StreamConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.kafka {
        c.set(k, v);
    }
    c
}

/// Takes the brokers' high watermarks from librdkafka's statistics (the
/// values its fetch responses carry) — no extra requests: a slow broker
/// would time them out, and librdkafka drops the connection on a timeout.
struct Watermarks(Arc<StreamMetrics>);

impl ClientContext for Watermarks {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.hi_offset >= 0 {
                    self.0.high_watermark(&(topic.clone(), *p), part.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for Watermarks {}

type StreamConsumer = BaseConsumer<Watermarks>;

/// A running consumer thread.
pub struct ConsumerHandle {
    stop: Arc<AtomicBool>,
    commits: std::sync::mpsc::Sender<Offsets>,
    thread: Option<JoinHandle<()>>,
}

impl ConsumerHandle {
    /// Asks the consumer to publish `offsets` as the group's committed offsets.
    pub fn publish_offsets(&self, offsets: Offsets) {
        let _ = self.commits.send(offsets);
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Connects, assigns every partition of the stream's topics at `positions`
/// (absent partitions start at `config.start`) and starts polling. Blocking:
/// call from a blocking-capable context.
pub fn start(
    config: &StreamConfig,
    positions: &Offsets,
    chunks: mpsc::Sender<Chunk>,
    metrics: Arc<StreamMetrics>,
) -> Result<ConsumerHandle> {
    let mut cc = client_config(config);
    cc.set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &config.start)
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set("statistics.interval.ms", "1000")
        .set("socket.keepalive.enable", "true");
    let consumer: StreamConsumer = cc
        .create_with_context(Watermarks(metrics.clone()))
        .map_err(|e| ContangoError::unavailable(format!("stream '{}': {e}", config.name)))?;
    let mut tpl = TopicPartitionList::new();
    let mut assigned = Vec::new();
    for topic in config.all_topics() {
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .map_err(|e| {
                ContangoError::unavailable(format!(
                    "stream '{}': brokers {} unreachable: {e}",
                    config.name, config.brokers
                ))
            })?;
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| {
                ContangoError::unavailable(format!(
                    "stream '{}': topic '{topic}' does not exist on {}",
                    config.name, config.brokers
                ))
            })?;
        for p in t.partitions() {
            let offset = match positions.get(&(topic.clone(), p.id())) {
                Some(o) => Offset::Offset(*o),
                None if config.start == "latest" => Offset::End,
                None => Offset::Beginning,
            };
            tpl.add_partition_offset(&topic, p.id(), offset)
                .map_err(|e| ContangoError::internal(e.to_string()))?;
            assigned.push((topic.clone(), p.id()));
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| ContangoError::unavailable(format!("stream '{}': {e}", config.name)))?;
    tracing::info!(stream = %config.name, partitions = assigned.len(), "consumer assigned");

    let stop = Arc::new(AtomicBool::new(false));
    let (commit_tx, commit_rx) = std::sync::mpsc::channel::<Offsets>();
    let builder = ChunkBuilder::new(Validator::new(config), config.all_topics().len() > 1);
    let tail_every = Duration::from_millis(config.tail_interval_ms);
    let name = config.name.clone();
    let stop_flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("stream-{name}"))
        .spawn(move || {
            poll_loop(PollLoop {
                consumer,
                builder,
                chunks,
                commits: commit_rx,
                stop: stop_flag,
                tail_every,
                name,
            })
        })
        .map_err(|e| ContangoError::internal(format!("cannot start consumer thread: {e}")))?;
    Ok(ConsumerHandle {
        stop,
        commits: commit_tx,
        thread: Some(thread),
    })
}

struct PollLoop {
    consumer: StreamConsumer,
    builder: ChunkBuilder,
    chunks: mpsc::Sender<Chunk>,
    commits: std::sync::mpsc::Receiver<Offsets>,
    stop: Arc<AtomicBool>,
    tail_every: Duration,
    name: String,
}

fn poll_loop(mut l: PollLoop) {
    let mut flushed = Instant::now();
    let mut errors_logged_at: Option<Instant> = None;
    let poll_wait = (l.tail_every / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut now_us = chrono::Utc::now().timestamp_micros();
    let mut since_clock = 0u32;
    while !l.stop.load(Ordering::Relaxed) {
        while let Ok(offsets) = l.commits.try_recv() {
            publish(&l.consumer, &offsets);
        }
        match l.consumer.poll(poll_wait) {
            Some(Ok(m)) => {
                since_clock += 1;
                if since_clock >= 256 {
                    now_us = chrono::Utc::now().timestamp_micros();
                    since_clock = 0;
                }
                l.builder.add(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.payload(),
                    m.timestamp().to_millis(),
                    now_us,
                );
            }
            Some(Err(e)) => {
                if errors_logged_at.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(stream = %l.name, error = %e, "kafka error (librdkafka retries)");
                    errors_logged_at = Some(Instant::now());
                }
            }
            None => {
                now_us = chrono::Utc::now().timestamp_micros();
            }
        }
        let n = l.builder.messages();
        if n > 0 && (n >= MAX_CHUNK || flushed.elapsed() >= l.tail_every) {
            now_us = chrono::Utc::now().timestamp_micros();
            if l.chunks.blocking_send(l.builder.finish()).is_err() {
                break;
            }
            flushed = Instant::now();
        } else if n == 0 {
            flushed = Instant::now();
        }
    }
    tracing::debug!(stream = %l.name, "consumer stopped");
}

/// Commits `offsets` to the consumer group (monitoring only; failures are
/// harmless: positions come from Iceberg).
fn publish(consumer: &StreamConsumer, offsets: &Offsets) {
    let mut tpl = TopicPartitionList::new();
    for ((t, p), o) in offsets {
        if tpl.add_partition_offset(t, *p, Offset::Offset(*o)).is_err() {
            return;
        }
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        tracing::debug!(error = %e, "group offset commit failed (monitoring only)");
    }
}
