//! A running stream: supervisor, committer and the exactly-once protocol.
//!
//! Per micro-batch (`batch_rows` messages or `batch_interval_ms`, whichever
//! comes first) the committer:
//!
//! 1. appends rejected messages to the dead-letter table and late ticks to the
//!    late table, each skipping rows at offsets that table already covers
//!    (its own offsets map), so a replay after a crash writes them once;
//! 2. reloads the stream table and checks that its committed offsets are
//!    still exactly the ones this writer last saw — if another writer (a
//!    second replica, a zombie) moved them, the stream restarts from the
//!    table instead of committing;
//! 3. appends the ticks in ONE snapshot whose summary holds the new offsets,
//!    through a guarded commit that fails if the table moved after step 2;
//! 4. drops the covered chunks from the hot tail, publishes the offsets to the
//!    consumer group (monitoring only) and emits closed rollup bars.
//!
//! A crash between any two steps leaves the table at its last snapshot; on
//! restart the consumer seeks to the offsets in that snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use contango_catalog::compact::{CompactionPolicy, compact};
use contango_catalog::guarded_commit::{CommitError, append_on};
use contango_catalog::live::{LiveTail, LiveTails};
use contango_catalog::stream_offsets;
use contango_catalog::table::IcebergTable;
use contango_catalog::writer::{TableAppender, ensure_table, parse_table_name};
use contango_common::error::{ContangoError, Result};
use contango_common::stream::{
    self as offsets, Lineage, OFFSETS_PROP, Offsets, RANGE_PROP, STREAM_PROP, TopicPartition,
};
use datafusion::prelude::SessionContext;
use iceberg::spec::Transform;
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::chunk::{Chunk, late_schema, rejected_schema, ticks_schema};
use crate::config::StreamConfig;
use crate::consumer::{self, ConsumerHandle};
use crate::metrics::{StreamMetrics, StreamRegistry};
use crate::rollup::Rollups;

/// Attempts at a commit whose table keeps moving under it.
const COMMIT_ATTEMPTS: usize = 8;

/// What every stream of a server shares.
#[derive(Debug, Clone)]
pub struct StreamEnv {
    /// The Iceberg catalog.
    pub catalog: Arc<dyn Catalog>,
    /// Its name (`iceberg`).
    pub catalog_name: String,
    /// How it was opened (compaction swaps table pointers in SQL catalogs).
    pub catalog_settings: Arc<contango_catalog::CatalogSettings>,
    /// Hot tails, read by queries.
    pub live: Arc<LiveTails>,
    /// Metrics of every stream.
    pub registry: Arc<StreamRegistry>,
    /// Where each commit of a ticks table is announced (data quality).
    pub commits: Option<contango_common::stream::CommitSink>,
}

/// The running streams of a server.
pub struct Streams {
    running: Vec<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl Streams {
    /// Validates every config and starts one supervised task per stream.
    pub fn start(configs: &[StreamConfig], env: &StreamEnv) -> Result<Self> {
        let mut names = std::collections::HashSet::new();
        for c in configs {
            c.validate()?;
            parse_table_name(&c.table, &env.catalog_name)?;
            if !names.insert(c.name.clone()) {
                return Err(ContangoError::invalid(format!(
                    "two streams are named '{}'",
                    c.name
                )));
            }
        }
        let mut running = Vec::new();
        for c in configs {
            let metrics = Arc::new(StreamMetrics::new(&c.name, &c.table));
            env.registry.add(metrics.clone());
            let (tx, rx) = watch::channel(false);
            let task = tokio::spawn(supervise(c.clone(), env.clone(), metrics, rx));
            running.push((tx, task));
        }
        Ok(Self { running })
    }

    /// Stops every stream, committing what each has received.
    pub async fn stop(self) {
        for (tx, _) in &self.running {
            let _ = tx.send(true);
        }
        for (_, task) in self.running {
            let _ = task.await;
        }
    }
}

async fn supervise(
    config: StreamConfig,
    env: StreamEnv,
    metrics: Arc<StreamMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = Instant::now();
        match run(&config, &env, &metrics, &mut stop).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(stream = %config.name, error = %e.message(), "stream stopped; restarting from the table's offsets");
                metrics.set_state("retrying", Some(e.message().to_string()));
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(500);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
    metrics.set_state("stopped", None);
}

/// Committer state of one run of a stream.
struct Committer<'a> {
    config: &'a StreamConfig,
    env: &'a StreamEnv,
    metrics: &'a StreamMetrics,
    ident: TableIdent,
    rejected: TableIdent,
    late: Option<TableIdent>,
    rollups: Option<Rollups>,
    default_topic: String,
    multi_topic: bool,
    /// The stream table's offsets as this writer last committed or read them.
    base: Offsets,
    /// Ticks before this instant (µs) are late (finest bar already emitted).
    late_before: Option<i64>,
    newest_event: i64,
    tail: Arc<LiveTail>,
    last_expiry: std::time::Instant,
    last_compaction: std::time::Instant,
}

async fn run(
    config: &StreamConfig,
    env: &StreamEnv,
    metrics: &Arc<StreamMetrics>,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let mut c = Committer::open(config, env, metrics).await?;
    let (tx, mut rx) = mpsc::channel::<Chunk>(64);
    let consumer = {
        let (cfg, base, m) = (config.clone(), c.base.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || consumer::start(&cfg, &base, tx, m))
            .await
            .map_err(|e| ContangoError::internal(e.to_string()))??
    };
    metrics.set_state("running", None);
    let interval = Duration::from_millis(config.batch_interval_ms);
    let mut pending: Vec<Chunk> = Vec::new();
    let mut pending_messages = 0usize;
    let mut oldest: Option<Instant> = None;
    let result = loop {
        let deadline = oldest.map(|t| t + interval);
        let flush = tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(chunk) => {
                    metrics.received(&chunk);
                    c.tail.push(chunk.ticks.clone());
                    metrics.tail_rows(c.tail.rows());
                    pending_messages += chunk.messages();
                    oldest.get_or_insert_with(Instant::now);
                    pending.push(chunk);
                    pending_messages >= config.batch_rows
                }
                None => break Err(ContangoError::unavailable("the consumer thread stopped")),
            },
            _ = sleep_until(deadline) => true,
            _ = stop.changed() => {
                let r = if pending.is_empty() { Ok(()) } else { c.commit(std::mem::take(&mut pending), &consumer).await };
                break r;
            }
        };
        if flush && !pending.is_empty() {
            if let Err(e) = c.commit(std::mem::take(&mut pending), &consumer).await {
                break Err(e);
            }
            pending_messages = 0;
            oldest = None;
        }
    };
    // Close the channel first: a consumer blocked on a full channel then wakes up and stops.
    drop(rx);
    tokio::task::spawn_blocking(move || consumer.stop())
        .await
        .ok();
    c.tail.clear();
    metrics.tail_rows(0);
    result
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl<'a> Committer<'a> {
    async fn open(
        config: &'a StreamConfig,
        env: &'a StreamEnv,
        metrics: &'a StreamMetrics,
    ) -> Result<Self> {
        let catalog = env.catalog.as_ref();
        let topics = config.all_topics();
        let multi_topic = topics.len() > 1;
        let ident = parse_table_name(&config.table, &env.catalog_name)?;
        let rejected = parse_table_name(&config.rejected_table(), &env.catalog_name)?;
        let table = ensure_table(
            catalog,
            &ident,
            &ticks_schema(multi_topic),
            &[("ts", Transform::Day), ("commodity", Transform::Identity)],
        )
        .await?;
        ensure_table(
            catalog,
            &rejected,
            &rejected_schema(),
            &[("received_at", Transform::Day)],
        )
        .await?;
        let rollups = Rollups::open(
            catalog,
            &ident,
            &config.rollup_intervals()?,
            config.lateness_secs,
            multi_topic,
        )
        .await?;
        let late = match &rollups {
            Some(_) => {
                let late =
                    TableIdent::new(ident.namespace().clone(), format!("{}_late", ident.name()));
                ensure_table(
                    catalog,
                    &late,
                    &late_schema(multi_topic),
                    &[("ts", Transform::Day)],
                )
                .await?;
                Some(late)
            }
            None => None,
        };
        let base = stream_offsets::committed(&table);
        let (late_before, newest_event) = match &rollups {
            Some(r) => (r.late_before(catalog).await?, newest_event(&table).await?),
            None => (None, i64::MIN),
        };
        metrics.positions(&base);
        let tail = env
            .live
            .register(&ident, (!multi_topic).then(|| topics[0].clone()));
        tail.clear();
        tracing::info!(stream = %config.name, table = %ident, positions = ?base, "stream starting");
        Ok(Self {
            config,
            env,
            metrics,
            ident,
            rejected,
            late,
            rollups,
            default_topic: topics[0].clone(),
            multi_topic,
            base,
            late_before,
            newest_event,
            tail,
            last_expiry: std::time::Instant::now(),
            last_compaction: std::time::Instant::now(),
        })
    }

    async fn commit(&mut self, pending: Vec<Chunk>, consumer: &ConsumerHandle) -> Result<()> {
        let started = std::time::Instant::now();
        let chunks = pending.len();
        let mut ranges: BTreeMap<TopicPartition, (i64, i64)> = BTreeMap::new();
        let mut max_ts = i64::MIN;
        for c in &pending {
            max_ts = max_ts.max(c.max_ts);
            for (tp, (a, b)) in &c.ranges {
                let e = ranges.entry(tp.clone()).or_insert((*a, *b));
                e.0 = e.0.min(*a);
                e.1 = e.1.max(*b);
            }
        }
        // The chunks' batches are written as they are (no copy into one batch).
        let ticks: Vec<RecordBatch> = pending.iter().map(|c| c.ticks.clone()).collect();
        let tick_rows: usize = ticks.iter().map(|b| b.num_rows()).sum();
        let rejected = concat_batches(&rejected_schema(), pending.iter().map(|c| &c.rejected))?;
        drop(pending);

        // 1. dead letters and late ticks, each deduplicated by its own offsets.
        if rejected.num_rows() > 0 {
            let cols = Lineage {
                topic: "topic",
                partition: "partition",
                offset: "offset",
            };
            self.append_once(&self.rejected, rejected, &cols, &ranges)
                .await?;
        }
        let mut late_rows = 0;
        if let (Some(late), Some(w)) = (&self.late, self.late_before) {
            let late_batches = ticks
                .iter()
                .map(|b| late_ticks(b, w, self.multi_topic))
                .collect::<Result<Vec<_>>>()?;
            let late_batch = concat_batches(&late_schema(self.multi_topic), &late_batches)?;
            if late_batch.num_rows() > 0 {
                late_rows = late_batch.num_rows() as u64;
                self.append_once(late, late_batch, &Lineage::STREAM, &ranges)
                    .await?;
            }
        }

        // 2-3. the ticks, only on top of the offsets this writer last saw.
        let next = advance(&self.base, &ranges);
        let props = std::collections::HashMap::from([
            (OFFSETS_PROP.to_string(), offsets::encode(&next)),
            (RANGE_PROP.to_string(), offsets::encode_ranges(&ranges)),
            (STREAM_PROP.to_string(), self.config.name.clone()),
        ]);
        let mut files = None;
        let mut committed = None;
        for _ in 0..COMMIT_ATTEMPTS {
            let table = self.env.catalog.load_table(&self.ident).await?;
            let current = stream_offsets::committed(&table);
            if current != self.base {
                return Err(ContangoError::unavailable(format!(
                    "another writer committed to {} (offsets {} instead of {}); resuming from the table",
                    self.ident,
                    offsets::encode(&current),
                    offsets::encode(&self.base)
                )));
            }
            let data = match files.take() {
                Some(f) => f,
                None => {
                    let mut out = TableAppender::new(table.clone())?;
                    for batch in &ticks {
                        out.write(batch).await?;
                    }
                    out.finish().await?
                }
            };
            match append_on(
                self.env.catalog.clone(),
                &table,
                data.clone(),
                props.clone(),
            )
            .await
            {
                Ok(t) => {
                    committed = Some(t);
                    break;
                }
                Err(CommitError::Moved(_)) => files = Some(data),
                Err(CommitError::Iceberg(e)) => return Err(e.into()),
            }
        }
        let Some(table) = committed else {
            return Err(ContangoError::unavailable(format!(
                "{} kept moving during {COMMIT_ATTEMPTS} commit attempts",
                self.ident
            )));
        };

        // 4. bookkeeping, then rollups.
        if let (Some(sink), Some(snapshot)) =
            (&self.env.commits, table.metadata().current_snapshot())
        {
            // A closed receiver only means nobody watches any more.
            let _ = sink.send(contango_common::stream::Committed {
                table: self.ident.clone(),
                snapshot_id: snapshot.snapshot_id(),
                before: self.base.clone(),
                ranges: ranges.clone(),
            });
        }
        self.base = next.clone();
        self.tail.drop_front(chunks);
        self.metrics.tail_rows(self.tail.rows());
        self.metrics
            .committed(&next, started.elapsed().as_secs_f64(), late_rows, max_ts);
        consumer.publish_offsets(next);
        self.newest_event = self.newest_event.max(max_ts);
        if let Some(r) = &self.rollups {
            self.late_before = r.emit(&self.env.catalog, &table, self.newest_event).await?;
        }
        let retention = self.config.snapshot_retention_secs;
        if retention > 0 && self.last_expiry.elapsed().as_secs() >= retention.min(60) {
            self.last_expiry = std::time::Instant::now();
            let mut tables = vec![self.ident.clone(), self.rejected.clone()];
            tables.extend(self.late.clone());
            if let Some(r) = &self.rollups {
                tables.extend(r.tables().iter().map(|t| t.ident.clone()));
            }
            for ident in tables {
                if let Err(e) = expire(self.env.catalog.as_ref(), &ident, retention).await {
                    tracing::warn!(table = %ident, error = %e.message(), "snapshot expiry failed; will retry");
                }
            }
        }
        self.compact_if_due().await;
        tracing::debug!(stream = %self.config.name, rows = tick_rows, seconds = started.elapsed().as_secs_f64(), "committed");
        Ok(())
    }

    /// Rewrites the small files of closed day partitions (days before the day
    /// of `newest event − lateness`) every `compaction_interval_secs`.
    async fn compact_if_due(&mut self) {
        let every = self.config.compaction_interval_secs;
        if every == 0
            || self.newest_event == i64::MIN
            || self.last_compaction.elapsed().as_secs() < every
        {
            return;
        }
        self.last_compaction = std::time::Instant::now();
        let watermark = self
            .newest_event
            .saturating_sub((self.config.lateness_secs as i64).saturating_mul(1_000_000));
        let policy = CompactionPolicy {
            small_file_bytes: self.config.compaction_small_file_mb.saturating_mul(1 << 20),
            min_files: self.config.compaction_min_files.max(2),
            closed_before_day: watermark.div_euclid(86_400_000_000) as i32,
        };
        match compact(
            &self.env.catalog,
            &self.env.catalog_settings,
            &self.ident,
            policy,
        )
        .await
        {
            Ok(Some(r)) => tracing::info!(
                table = %self.ident,
                partitions = r.partitions,
                files_removed = r.files_removed,
                files_added = r.files_added,
                rows = r.rows,
                "compacted"
            ),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(table = %self.ident, error = %e.message(), "compaction failed; will retry")
            }
        }
    }

    /// Appends the rows of `batch` not yet covered by `ident`'s own offsets,
    /// and advances those offsets past `ranges`.
    async fn append_once(
        &self,
        ident: &TableIdent,
        batch: RecordBatch,
        cols: &Lineage,
        ranges: &BTreeMap<TopicPartition, (i64, i64)>,
    ) -> Result<()> {
        for _ in 0..COMMIT_ATTEMPTS {
            let table = self.env.catalog.load_table(ident).await?;
            let done = stream_offsets::committed(&table);
            let mask = cols
                .not_covered(&batch, &done, &self.default_topic)
                .ok_or_else(|| {
                    ContangoError::internal(format!("{ident}: lineage columns missing"))
                })?;
            let rows = filter_record_batch(&batch, &mask)?;
            if rows.num_rows() == 0 {
                return Ok(());
            }
            let next = advance(&done, ranges);
            let mut out = TableAppender::new(table.clone())?;
            out.write(&rows).await?;
            let files = out.finish().await?;
            let props = std::collections::HashMap::from([
                (OFFSETS_PROP.to_string(), offsets::encode(&next)),
                (STREAM_PROP.to_string(), self.config.name.clone()),
            ]);
            match append_on(self.env.catalog.clone(), &table, files, props).await {
                Ok(_) => return Ok(()),
                Err(CommitError::Moved(_)) => continue,
                Err(CommitError::Iceberg(e)) => return Err(e.into()),
            }
        }
        Err(ContangoError::unavailable(format!(
            "{ident} kept moving during {COMMIT_ATTEMPTS} commit attempts"
        )))
    }
}

/// Expires snapshots of `ident` older than `retention_secs` (the current one
/// is always kept, and with it the offsets the stream resumes from).
async fn expire(catalog: &dyn Catalog, ident: &TableIdent, retention_secs: u64) -> Result<()> {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    let table = catalog.load_table(ident).await?;
    let cutoff = chrono::Utc::now().timestamp_millis() - (retention_secs as i64) * 1000;
    let old = table
        .metadata()
        .snapshots()
        .filter(|s| s.timestamp_ms() < cutoff)
        .count();
    if old == 0 || table.metadata().snapshots().count() <= 1 {
        return Ok(());
    }
    let tx = Transaction::new(&table);
    let tx = tx
        .expire_snapshots()
        .expire_older_than_ms(cutoff)
        .retain_last(1)
        .apply(tx)?;
    tx.commit(catalog).await?;
    Ok(())
}

/// `base` advanced past every `[first, last]` range.
fn advance(base: &Offsets, ranges: &BTreeMap<TopicPartition, (i64, i64)>) -> Offsets {
    let mut next = base.clone();
    for (tp, (_, last)) in ranges {
        let e = next.entry(tp.clone()).or_insert(last + 1);
        *e = (*e).max(last + 1);
    }
    next
}

/// Ticks with `ts < watermark`, with the watermark appended.
fn late_ticks(ticks: &RecordBatch, watermark: i64, multi_topic: bool) -> Result<RecordBatch> {
    let ts = ticks
        .column_by_name("ts")
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        })
        .ok_or_else(|| ContangoError::internal("ts column missing"))?;
    let mask: BooleanArray = ts
        .iter()
        .map(|t| Some(t.is_some_and(|t| t < watermark)))
        .collect();
    let late = filter_record_batch(ticks, &mask)?;
    let mut columns = late.columns().to_vec();
    columns.push(std::sync::Arc::new(
        arrow::array::TimestampMicrosecondArray::from(vec![watermark; late.num_rows()])
            .with_timezone("UTC"),
    ) as Arc<dyn Array>);
    Ok(RecordBatch::try_new(late_schema(multi_topic), columns)?)
}

/// The newest event time in `table` (µs), `i64::MIN` when empty.
async fn newest_event(table: &Table) -> Result<i64> {
    if table.metadata().current_snapshot().is_none() {
        return Ok(i64::MIN);
    }
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(IcebergTable::try_new(table.clone()).await?))?;
    let batches = ctx
        .sql("SELECT CAST(max(ts) AS BIGINT) FROM t")
        .await?
        .collect()
        .await?;
    let v = batches
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>().cloned())
        .and_then(|a| a.is_valid(0).then(|| a.value(0)));
    Ok(v.unwrap_or(i64::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_past_ranges() {
        let mut base = Offsets::new();
        base.insert(("t".into(), 0), 10);
        let mut ranges = BTreeMap::new();
        ranges.insert(("t".to_string(), 0), (10, 19));
        ranges.insert(("t".to_string(), 1), (0, 4));
        let next = advance(&base, &ranges);
        assert_eq!(next[&("t".to_string(), 0)], 20);
        assert_eq!(next[&("t".to_string(), 1)], 5);
    }

    #[test]
    fn lineage_mask_skips_covered_rows() {
        let schema = ticks_schema(false);
        let mut b = crate::chunk::ChunkBuilder::new(
            crate::record::Validator::new(&StreamConfig::default()),
            false,
        );
        let ok = br#"{"commodity":"WTI","price":1,"timestamp":1}"#;
        for o in 0..5 {
            b.add("t", 0, o, None, Some(ok), None, 10_000_000_000);
        }
        let c = b.finish();
        assert_eq!(c.ticks.schema(), schema);
        let mut done = Offsets::new();
        done.insert(("t".into(), 0), 3);
        let m = Lineage::STREAM.not_covered(&c.ticks, &done, "t").unwrap();
        assert_eq!(m.true_count(), 2);
        let late = late_ticks(&c.ticks, 1_000_001, false).unwrap();
        assert_eq!(late.num_rows(), 5);
        assert_eq!(late_ticks(&c.ticks, 0, false).unwrap().num_rows(), 0);
    }
}
