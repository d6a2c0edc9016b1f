//! Per-stream and per-partition metrics: served as `system.runtime.streams`
//! (one row per stream and topic-partition) and as Prometheus text.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use contango_common::stream::TopicPartition;
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::{Mutex, RwLock};

/// Live counters of one stream.
#[derive(Debug)]
pub struct StreamMetrics {
    /// Stream name.
    pub name: String,
    /// Target table.
    pub table: String,
    inner: Mutex<Inner>,
}

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
    commit_seconds_sum: f64,
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
                commit_seconds_sum: 0.0,
                last_commit_seconds: 0.0,
                last_commit_ms: None,
                newest_event_us: None,
                rate: 0.0,
                rate_mark: (Instant::now(), 0),
                tail_rows: 0,
                restarts: 0,
                partitions: BTreeMap::new(),
            }),
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
        i.commit_seconds_sum += seconds;
        i.last_commit_seconds = seconds;
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
    /// Adds a stream's metrics.
    pub fn add(&self, m: Arc<StreamMetrics>) {
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

    /// Prometheus text exposition of every stream metric.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let streams = self.streams();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        };
        let per = |f: &dyn Fn(&Inner) -> f64| -> Vec<(String, f64)> {
            streams
                .iter()
                .map(|s| (format!("stream=\"{}\"", esc(&s.name)), f(&s.inner.lock())))
                .collect()
        };
        let now = now_ms();
        family(
            "contango_stream_up",
            "gauge",
            "1 while the stream runs, 0 while it retries.",
            per(&|i| f64::from(u8::from(i.state == "running"))),
        );
        family(
            "contango_stream_records_total",
            "counter",
            "Messages received (accepted and rejected).",
            per(&|i| i.records as f64),
        );
        family(
            "contango_stream_accepted_total",
            "counter",
            "Messages accepted into the table.",
            per(&|i| i.accepted as f64),
        );
        family(
            "contango_stream_late_records_total",
            "counter",
            "Records later than the allowed lateness (kept in the late table, not in bars).",
            per(&|i| i.late as f64),
        );
        family(
            "contango_stream_records_per_second",
            "gauge",
            "Messages received per second (last second).",
            per(&|i| i.current_rate()),
        );
        family(
            "contango_stream_commits_total",
            "counter",
            "Iceberg commits.",
            per(&|i| i.commits as f64),
        );
        family(
            "contango_stream_commit_seconds_sum",
            "counter",
            "Total commit latency.",
            per(&|i| i.commit_seconds_sum),
        );
        family(
            "contango_stream_last_commit_seconds",
            "gauge",
            "Latency of the last commit.",
            per(&|i| i.last_commit_seconds),
        );
        family(
            "contango_stream_commit_age_seconds",
            "gauge",
            "Seconds since the last commit.",
            per(&|i| {
                i.last_commit_ms
                    .map_or(f64::NAN, |t| (now - t) as f64 / 1000.0)
            }),
        );
        family(
            "contango_stream_event_lag_seconds",
            "gauge",
            "Now minus the newest committed event time.",
            per(&|i| {
                i.newest_event_us
                    .map_or(f64::NAN, |t| (now * 1000 - t) as f64 / 1e6)
            }),
        );
        family(
            "contango_stream_tail_rows",
            "gauge",
            "Rows received, queryable, not yet committed.",
            per(&|i| i.tail_rows as f64),
        );
        family(
            "contango_stream_restarts_total",
            "counter",
            "Times the stream restarted after an error.",
            per(&|i| i.restarts as f64),
        );
        let mut rejected = Vec::new();
        let mut lag = Vec::new();
        let mut committed = Vec::new();
        for s in &streams {
            let i = s.inner.lock();
            for reason in crate::record::REASONS {
                let n = i.rejected.get(*reason).copied().unwrap_or(0);
                rejected.push((
                    format!("stream=\"{}\",reason=\"{reason}\"", esc(&s.name)),
                    n as f64,
                ));
            }
            for ((t, p), part) in &i.partitions {
                let labels = format!(
                    "stream=\"{}\",topic=\"{}\",partition=\"{p}\"",
                    esc(&s.name),
                    esc(t)
                );
                if let (Some(h), Some(c)) = (part.high_watermark, part.committed) {
                    lag.push((labels.clone(), (h - c).max(0) as f64));
                }
                if let Some(c) = part.committed {
                    committed.push((labels, c as f64));
                }
            }
        }
        family(
            "contango_stream_rejected_total",
            "counter",
            "Messages sent to the dead-letter table, by reason.",
            rejected,
        );
        family(
            "contango_stream_consumer_lag",
            "gauge",
            "Broker high watermark minus the committed offset, per partition.",
            lag,
        );
        family(
            "contango_stream_committed_offset",
            "gauge",
            "Next offset committed to Iceberg, per partition.",
            committed,
        );
        out
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

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
