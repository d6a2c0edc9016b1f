//! Per-stream and per-partition metrics: served as `system.runtime.streams`
//! (one row per stream and topic-partition) and, through a collector in the
//! process-wide Prometheus registry, as `contango_stream_*` on `/metrics`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Instant;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use contango_common::metrics::collect::{desc, family, sample};
use contango_common::stream::TopicPartition;
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::{Mutex, RwLock};
use prometheus::core::{Collector, Desc, Metric as _};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Histogram, HistogramOpts};

/// Live counters of one stream.
#[derive(Debug)]
pub struct StreamMetrics {
    /// Stream name.
    pub name: String,
    /// Target table.
    pub table: String,
    inner: Mutex<Inner>,
    /// Commit latency (`contango_stream_commit_seconds{stream}`), collected
    /// by [`StreamsCollector`] while the stream lives.
    commit_seconds: Histogram,
}

/// Upper bounds (seconds) of the commit latency histogram buckets.
const COMMIT_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Default, Clone)]
struct Partition {
    committed: Option<i64>,
    high_watermark: Option<i64>,
    records: u64,
}

#[derive(Debug)]
struct Inner {
    state: &'static str,
    last_error: Option<String>,
    records: u64,
    accepted: u64,
    rejected: BTreeMap<String, u64>,
    late: u64,
    commits: u64,
    last_commit_seconds: f64,
    last_commit_ms: Option<i64>,
    newest_event_us: Option<i64>,
    rate: f64,
    rate_mark: (Instant, u64),
    tail_rows: u64,
    restarts: u64,
    partitions: BTreeMap<TopicPartition, Partition>,
}

impl Inner {
    /// The rate of the last full second; decays to the average since then
    /// when nothing arrives.
    fn current_rate(&self) -> f64 {
        let (mark, count) = self.rate_mark;
        let elapsed = mark.elapsed().as_secs_f64();
        if elapsed > 2.0 {
            (self.records - count) as f64 / elapsed
        } else {
            self.rate
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl StreamMetrics {
    /// Metrics of a new stream.
    pub fn new(name: &str, table: &str) -> Self {
        Self {
            name: name.into(),
            table: table.into(),
            inner: Mutex::new(Inner {
                state: "starting",
                last_error: None,
                records: 0,
                accepted: 0,
                rejected: BTreeMap::new(),
                late: 0,
                commits: 0,
                last_commit_seconds: 0.0,
                last_commit_ms: None,
                newest_event_us: None,
                rate: 0.0,
                rate_mark: (Instant::now(), 0),
                tail_rows: 0,
                restarts: 0,
                partitions: BTreeMap::new(),
            }),
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new(FAMILIES[COMMIT_SECONDS].0, FAMILIES[COMMIT_SECONDS].2)
                    .const_label("stream", name)
                    .buckets(COMMIT_BUCKETS.to_vec()),
            )
            .expect("valid histogram options"),
        }
    }

    /// `starting`, `running`, `retrying` or `stopped`, with the error that caused a retry.
    pub fn set_state(&self, state: &'static str, error: Option<String>) {
        let mut i = self.inner.lock();
        if state == "retrying" {
            i.restarts += 1;
        }
        i.state = state;
        if error.is_some() || state == "running" {
            i.last_error = error;
        }
    }

    /// Records received (accepted + rejected), by partition.
    pub fn received(&self, chunk: &crate::chunk::Chunk) {
        let mut i = self.inner.lock();
        i.records += chunk.messages() as u64;
        i.accepted += chunk.ticks.num_rows() as u64;
        for (reason, n) in &chunk.reasons {
            *i.rejected.entry((*reason).to_string()).or_default() += n;
        }
        for (tp, (a, b)) in &chunk.ranges {
            i.partitions.entry(tp.clone()).or_default().records += (b - a + 1).max(0) as u64;
        }
        let (mark, count) = i.rate_mark;
        let elapsed = mark.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            let rate = (i.records - count) as f64 / elapsed;
            i.rate = rate;
            i.rate_mark = (Instant::now(), i.records);
        }
    }

    /// A commit finished.
    pub fn committed(
        &self,
        offsets: &BTreeMap<TopicPartition, i64>,
        seconds: f64,
        late: u64,
        newest_event_us: i64,
    ) {
        let mut i = self.inner.lock();
        i.commits += 1;
        i.late += late;
        i.last_commit_seconds = seconds;
        self.commit_seconds.observe(seconds);
        i.last_commit_ms = Some(now_ms());
        if newest_event_us != i64::MIN {
            i.newest_event_us = Some(i.newest_event_us.unwrap_or(i64::MIN).max(newest_event_us));
        }
        for (tp, next) in offsets {
            i.partitions.entry(tp.clone()).or_default().committed = Some(*next);
        }
    }

    /// Positions at (re)start.
    pub fn positions(&self, offsets: &BTreeMap<TopicPartition, i64>) {
        let mut i = self.inner.lock();
        for (tp, next) in offsets {
            i.partitions.entry(tp.clone()).or_default().committed = Some(*next);
        }
    }

    /// The broker's high watermark of a partition.
    pub fn high_watermark(&self, tp: &TopicPartition, high: i64) {
        let mut i = self.inner.lock();
        i.partitions.entry(tp.clone()).or_default().high_watermark = Some(high);
    }

    /// Rows in the hot tail.
    pub fn tail_rows(&self, rows: usize) {
        self.inner.lock().tail_rows = rows as u64;
    }

    /// Total records received so far.
    pub fn records(&self) -> u64 {
        self.inner.lock().records
    }
}

/// Every stream of the server.
#[derive(Debug, Default)]
pub struct StreamRegistry {
    streams: RwLock<Vec<Arc<StreamMetrics>>>,
}

impl StreamRegistry {
    /// Adds a stream's metrics (also to `/metrics`, while the stream lives).
    pub fn add(&self, m: Arc<StreamMetrics>) {
        STREAMS_COLLECTOR.add(&m);
        self.streams.write().push(m);
    }

    /// The streams.
    pub fn streams(&self) -> Vec<Arc<StreamMetrics>> {
        self.streams.read().clone()
    }

    /// `system.runtime.streams`.
    pub fn table(self: &Arc<Self>) -> Arc<dyn TableProvider> {
        Arc::new(StreamsTable {
            registry: self.clone(),
        })
    }

    fn batch(&self) -> DFResult<RecordBatch> {
        let mut stream = StringBuilder::new();
        let mut table = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut topic = StringBuilder::new();
        let mut partition = Int32Builder::new();
        let mut committed = Int64Builder::new();
        let mut high = Int64Builder::new();
        let mut lag = Int64Builder::new();
        let mut records = Int64Builder::new();
        let mut stream_records = Int64Builder::new();
        let mut rate = Float64Builder::new();
        let mut rejected = Int64Builder::new();
        let mut rejected_by = StringBuilder::new();
        let mut late = Int64Builder::new();
        let mut commits = Int64Builder::new();
        let mut commit_ms = Float64Builder::new();
        let mut last_commit = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut freshness = Float64Builder::new();
        let mut tail = Int64Builder::new();
        let mut error = StringBuilder::new();
        let now = now_ms();
        for s in self.streams() {
            let i = s.inner.lock();
            let parts: Vec<_> = if i.partitions.is_empty() {
                vec![(None, Partition::default())]
            } else {
                i.partitions
                    .iter()
                    .map(|(k, v)| (Some(k.clone()), v.clone()))
                    .collect()
            };
            for (tp, p) in parts {
                stream.append_value(&s.name);
                table.append_value(&s.table);
                state.append_value(i.state);
                topic.append_option(tp.as_ref().map(|t| t.0.as_str()));
                partition.append_option(tp.as_ref().map(|t| t.1));
                committed.append_option(p.committed);
                high.append_option(p.high_watermark);
                lag.append_option(
                    p.high_watermark
                        .zip(p.committed)
                        .map(|(h, c)| (h - c).max(0)),
                );
                records.append_value(p.records as i64);
                stream_records.append_value(i.records as i64);
                rate.append_value(i.current_rate());
                rejected.append_value(i.rejected.values().sum::<u64>() as i64);
                rejected_by.append_value(serde_json::to_string(&i.rejected).unwrap_or_default());
                late.append_value(i.late as i64);
                commits.append_value(i.commits as i64);
                commit_ms.append_value(i.last_commit_seconds * 1000.0);
                last_commit.append_option(i.last_commit_ms);
                freshness.append_option(i.last_commit_ms.map(|t| (now - t) as f64 / 1000.0));
                tail.append_value(i.tail_rows as i64);
                error.append_option(i.last_error.as_deref());
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(stream.finish()),
            Arc::new(table.finish()),
            Arc::new(state.finish()),
            Arc::new(topic.finish()),
            Arc::new(partition.finish()),
            Arc::new(committed.finish()),
            Arc::new(high.finish()),
            Arc::new(lag.finish()),
            Arc::new(records.finish()),
            Arc::new(stream_records.finish()),
            Arc::new(rate.finish()),
            Arc::new(rejected.finish()),
            Arc::new(rejected_by.finish()),
            Arc::new(late.finish()),
            Arc::new(commits.finish()),
            Arc::new(commit_ms.finish()),
            Arc::new(last_commit.finish()),
            Arc::new(freshness.finish()),
            Arc::new(tail.finish()),
            Arc::new(error.finish()),
        ];
        Ok(RecordBatch::try_new(streams_schema(), columns)?)
    }
}

/// (name, type, help, label names) of every `contango_stream_*` family, in
/// the order [`StreamsCollector::collect`] fills them.
const FAMILIES: [(&str, MetricType, &str, &[&str]); 15] = [
    (
        "contango_stream_up",
        MetricType::GAUGE,
        "1 while the stream runs, 0 while it retries.",
        &["stream"],
    ),
    (
        "contango_stream_records_total",
        MetricType::COUNTER,
        "Messages received (accepted and rejected).",
        &["stream"],
    ),
    (
        "contango_stream_accepted_total",
        MetricType::COUNTER,
        "Messages accepted into the table.",
        &["stream"],
    ),
    (
        "contango_stream_late_records_total",
        MetricType::COUNTER,
        "Records later than the allowed lateness (kept in the late table, not in bars).",
        &["stream"],
    ),
    (
        "contango_stream_records_per_second",
        MetricType::GAUGE,
        "Messages received per second (last second).",
        &["stream"],
    ),
    (
        "contango_stream_commits_total",
        MetricType::COUNTER,
        "Iceberg commits.",
        &["stream"],
    ),
    (
        "contango_stream_last_commit_seconds",
        MetricType::GAUGE,
        "Latency of the last commit.",
        &["stream"],
    ),
    (
        "contango_stream_commit_age_seconds",
        MetricType::GAUGE,
        "Seconds since the last commit.",
        &["stream"],
    ),
    (
        "contango_stream_event_lag_seconds",
        MetricType::GAUGE,
        "Now minus the newest committed event time.",
        &["stream"],
    ),
    (
        "contango_stream_tail_rows",
        MetricType::GAUGE,
        "Rows received, queryable, not yet committed.",
        &["stream"],
    ),
    (
        "contango_stream_restarts_total",
        MetricType::COUNTER,
        "Times the stream restarted after an error.",
        &["stream"],
    ),
    (
        "contango_stream_rejected_total",
        MetricType::COUNTER,
        "Messages sent to the dead-letter table, by reason.",
        &["stream", "reason"],
    ),
    (
        "contango_stream_consumer_lag",
        MetricType::GAUGE,
        "Broker high watermark minus the committed offset, per partition.",
        &["stream", "topic", "partition"],
    ),
    (
        "contango_stream_committed_offset",
        MetricType::GAUGE,
        "Next offset committed to Iceberg, per partition.",
        &["stream", "topic", "partition"],
    ),
    (
        "contango_stream_commit_seconds",
        MetricType::HISTOGRAM,
        "Iceberg commit latency.",
        &["stream"],
    ),
];

/// The per-stream scalar families at the start of [`FAMILIES`].
const PER_STREAM: usize = 11;
const REJECTED: usize = 11;
const CONSUMER_LAG: usize = 12;
const COMMITTED_OFFSET: usize = 13;
const COMMIT_SECONDS: usize = 14;

/// The one collector of every live stream's metrics, registered once in
/// the process-wide registry (servers started in one process share it).
static STREAMS_COLLECTOR: LazyLock<StreamsCollector> =
    LazyLock::new(|| contango_common::metrics::register(StreamsCollector::new()));

/// Builds the `contango_stream_*` families from the streams' live state at
/// scrape time (rates, ages and lags are computed then), with the labels in
/// the order they have always had (`stream` first).
#[derive(Clone)]
struct StreamsCollector {
    descs: Arc<Vec<Desc>>,
    streams: Arc<Mutex<Vec<Weak<StreamMetrics>>>>,
}

impl StreamsCollector {
    fn new() -> Self {
        let descs = FAMILIES
            .iter()
            .map(|(name, _, help, labels)| desc(name, help, labels))
            .collect();
        Self {
            descs: Arc::new(descs),
            streams: Arc::default(),
        }
    }

    fn add(&self, m: &Arc<StreamMetrics>) {
        let mut streams = self.streams.lock();
        streams.retain(|s| s.strong_count() > 0);
        if !streams.iter().any(|s| s.as_ptr() == Arc::as_ptr(m)) {
            streams.push(Arc::downgrade(m));
        }
    }

    fn live(&self) -> Vec<Arc<StreamMetrics>> {
        let mut streams = self.streams.lock();
        streams.retain(|s| s.strong_count() > 0);
        streams.iter().filter_map(Weak::upgrade).collect()
    }
}

impl Collector for StreamsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut metrics: Vec<Vec<proto::Metric>> = vec![Vec::new(); FAMILIES.len()];
        let now = now_ms();
        for s in self.live() {
            let stream = s.name.as_str();
            let i = s.inner.lock();
            let values: [f64; PER_STREAM] = [
                f64::from(u8::from(i.state == "running")),
                i.records as f64,
                i.accepted as f64,
                i.late as f64,
                i.current_rate(),
                i.commits as f64,
                i.last_commit_seconds,
                i.last_commit_ms
                    .map_or(f64::NAN, |t| (now - t) as f64 / 1000.0),
                i.newest_event_us
                    .map_or(f64::NAN, |t| (now * 1000 - t) as f64 / 1e6),
                i.tail_rows as f64,
                i.restarts as f64,
            ];
            for (k, v) in values.into_iter().enumerate() {
                metrics[k].push(sample(FAMILIES[k].1, &[("stream", stream)], v));
            }
            for reason in crate::record::REASONS {
                let n = i.rejected.get(*reason).copied().unwrap_or(0);
                metrics[REJECTED].push(sample(
                    MetricType::COUNTER,
                    &[("stream", stream), ("reason", reason)],
                    n as f64,
                ));
            }
            for ((topic, p), part) in &i.partitions {
                let p = p.to_string();
                let labels = [
                    ("stream", stream),
                    ("topic", topic.as_str()),
                    ("partition", p.as_str()),
                ];
                if let (Some(h), Some(c)) = (part.high_watermark, part.committed) {
                    metrics[CONSUMER_LAG].push(sample(
                        MetricType::GAUGE,
                        &labels,
                        (h - c).max(0) as f64,
                    ));
                }
                if let Some(c) = part.committed {
                    metrics[COMMITTED_OFFSET].push(sample(MetricType::GAUGE, &labels, c as f64));
                }
            }
            metrics[COMMIT_SECONDS].push(s.commit_seconds.metric());
        }
        FAMILIES
            .iter()
            .zip(metrics)
            .map(|((name, kind, help, _), metrics)| family(name, help, *kind, metrics))
            .collect()
    }
}

fn streams_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("stream", DataType::Utf8, false),
        f("table_name", DataType::Utf8, false),
        f("state", DataType::Utf8, false),
        f("topic", DataType::Utf8, true),
        f("partition", DataType::Int32, true),
        f("committed_offset", DataType::Int64, true),
        f("high_watermark", DataType::Int64, true),
        f("lag", DataType::Int64, true),
        f("partition_records", DataType::Int64, false),
        f("records", DataType::Int64, false),
        f("records_per_second", DataType::Float64, false),
        f("rejected", DataType::Int64, false),
        f("rejected_by_reason", DataType::Utf8, false),
        f("late", DataType::Int64, false),
        f("commits", DataType::Int64, false),
        f("last_commit_ms", DataType::Float64, false),
        f(
            "last_commit",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        f("commit_age_seconds", DataType::Float64, true),
        f("tail_rows", DataType::Int64, false),
        f("last_error", DataType::Utf8, true),
    ]))
}

#[derive(Debug)]
struct StreamsTable {
    registry: Arc<StreamRegistry>,
}

#[async_trait]
impl TableProvider for StreamsTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        streams_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let table = MemTable::try_new(streams_schema(), vec![vec![self.registry.batch()?]])?;
        table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's families in the registry keep their names, types and
    /// labels (in their order); commit latency is a histogram.
    #[test]
    fn stream_metrics_are_rendered_by_the_registry() {
        let registry = StreamRegistry::default();
        let m = Arc::new(StreamMetrics::new("unit\"s", "iceberg.live.t"));
        registry.add(m.clone());
        registry.add(m.clone());
        m.set_state("running", None);
        let tp: TopicPartition = ("prices".into(), 0);
        m.committed(&BTreeMap::from([(tp.clone(), 40)]), 0.25, 2, i64::MIN);
        m.committed(&BTreeMap::from([(tp.clone(), 45)]), 7.0, 0, i64::MIN);
        m.high_watermark(&tp, 50);
        m.tail_rows(9);
        let text = contango_common::metrics::render();
        for (name, kind, _, _) in FAMILIES {
            let kind = format!("{kind:?}").to_lowercase();
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} in\n{text}"
            );
        }
        let s = r#"stream="unit\"s""#;
        let lines = [
            format!("contango_stream_up{{{s}}} 1"),
            format!("contango_stream_records_total{{{s}}} 0"),
            format!("contango_stream_late_records_total{{{s}}} 2"),
            format!("contango_stream_commits_total{{{s}}} 2"),
            format!("contango_stream_last_commit_seconds{{{s}}} 7"),
            format!("contango_stream_event_lag_seconds{{{s}}} NaN"),
            format!("contango_stream_tail_rows{{{s}}} 9"),
            format!("contango_stream_restarts_total{{{s}}} 0"),
            format!("contango_stream_rejected_total{{{s},reason=\"malformed_json\"}} 0"),
            format!("contango_stream_consumer_lag{{{s},topic=\"prices\",partition=\"0\"}} 5"),
            format!("contango_stream_committed_offset{{{s},topic=\"prices\",partition=\"0\"}} 45"),
            format!("contango_stream_commit_seconds_bucket{{{s},le=\"0.1\"}} 0"),
            format!("contango_stream_commit_seconds_bucket{{{s},le=\"0.25\"}} 1"),
            format!("contango_stream_commit_seconds_bucket{{{s},le=\"10\"}} 2"),
            format!("contango_stream_commit_seconds_bucket{{{s},le=\"+Inf\"}} 2"),
            format!("contango_stream_commit_seconds_sum{{{s}}} 7.25"),
            format!("contango_stream_commit_seconds_count{{{s}}} 2"),
        ];
        for line in lines {
            let n = text.lines().filter(|l| *l == line).count();
            assert_eq!(n, 1, "{line} in\n{text}");
        }
        assert!(text.contains(&format!("contango_stream_commit_age_seconds{{{s}}} ")));
        assert!(text.contains(&format!("contango_stream_records_per_second{{{s}}} ")));
        assert!(
            !text.contains("contango_stream_commit_seconds_sum "),
            "no unlabelled sum"
        );

        // A dropped stream leaves `/metrics`.
        drop(registry);
        drop(m);
        let text = contango_common::metrics::render();
        assert!(!text.contains(s), "{text}");
    }
}
