//! The hot tail of streamed tables: rows received but not yet committed.
//!
//! A stream pushes each parsed chunk into its table's [`LiveTail`] as soon as
//! it arrives (every ~100 ms) and drops chunks once a commit covers them. A
//! query on the table reads the committed snapshot UNION ALL the tail rows
//! whose `(topic, partition, offset)` lies at or beyond the snapshot's
//! committed positions ([`crate::stream_offsets`]), so each record is seen
//! exactly once whichever side of a commit the query lands on. The tail is
//! taken before the table metadata is loaded: a commit in between only moves
//! rows from the tail side to the snapshot side, and the offset filter removes
//! the tail copies.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Statistics;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use iceberg::TableIdent;

use contango_common::stream::Offsets;

use contango_common::stream::Lineage;

/// Live tails by table.
#[derive(Debug, Default)]
pub struct LiveTails(RwLock<HashMap<TableIdent, Arc<LiveTail>>>);

impl LiveTails {
    /// The tail of `ident`, created on first use. `topic` names the single
    /// topic of a stream whose rows carry no topic column.
    pub fn register(&self, ident: &TableIdent, topic: Option<String>) -> Arc<LiveTail> {
        let mut map = self.0.write().expect("live tails poisoned");
        map.entry(ident.clone())
            .or_insert_with(|| {
                Arc::new(LiveTail {
                    topic,
                    instance: NEXT_TAIL.fetch_add(1, Ordering::Relaxed),
                    chunks: RwLock::default(),
                })
            })
            .clone()
    }

    /// The tail of `ident`, if a stream writes it.
    pub fn get(&self, ident: &TableIdent) -> Option<Arc<LiveTail>> {
        self.0
            .read()
            .expect("live tails poisoned")
            .get(ident)
            .cloned()
    }
}

/// Numbers every tail of the process, so a tail's version names it alone.
static NEXT_TAIL: AtomicU64 = AtomicU64::new(0);

/// Uncommitted rows of one table.
#[derive(Debug)]
pub struct LiveTail {
    topic: Option<String>,
    /// This tail among the process's tails.
    instance: u64,
    chunks: RwLock<Chunks>,
}

/// The chunks of a tail and how often they changed.
#[derive(Debug, Default)]
struct Chunks {
    batches: Vec<RecordBatch>,
    /// Bumped by every push of rows, drop and clear: two reads with the
    /// same generation saw the same rows.
    generation: u64,
}

impl LiveTail {
    /// Makes `batch` visible to queries (empty batches are kept too, so
    /// [`drop_front`](Self::drop_front) counts chunks as the stream pushed them).
    pub fn push(&self, batch: RecordBatch) {
        let mut chunks = self.chunks.write().expect("tail poisoned");
        // An empty chunk adds no row: the tail's version stays.
        if batch.num_rows() > 0 {
            chunks.generation += 1;
        }
        chunks.batches.push(batch);
    }

    /// The chunks now held (cheap: batches share their buffers) and a
    /// version naming exactly them (the tail's instance and generation),
    /// read together.
    pub fn versioned_snapshot(&self) -> (Vec<RecordBatch>, String) {
        let chunks = self.chunks.read().expect("tail poisoned");
        (
            chunks.batches.clone(),
            format!("tail{}.{}", self.instance, chunks.generation),
        )
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        let chunks = self.chunks.read().expect("tail poisoned");
        chunks.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Drops the first `n` chunks (those a commit just covered).
    pub fn drop_front(&self, n: usize) {
        let mut chunks = self.chunks.write().expect("tail poisoned");
        let n = n.min(chunks.batches.len());
        chunks.batches.drain(..n);
        chunks.generation += 1;
    }

    /// Drops everything (the stream restarts from the committed positions).
    pub fn clear(&self) {
        let mut chunks = self.chunks.write().expect("tail poisoned");
        chunks.batches.clear();
        chunks.generation += 1;
    }

    /// The rows of `chunks` not yet covered by `committed`.
    pub fn uncommitted(
        &self,
        chunks: Vec<RecordBatch>,
        committed: &Offsets,
    ) -> DFResult<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(chunks.len());
        for batch in chunks.into_iter().filter(|b| b.num_rows() > 0) {
            let mask = self.mask(&batch, committed);
            match mask {
                None => out.push(batch),
                Some(mask) if mask.true_count() == batch.num_rows() => out.push(batch),
                Some(mask) if mask.true_count() == 0 => {}
                Some(mask) => out.push(filter_record_batch(&batch, &mask)?),
            }
        }
        Ok(out)
    }

    fn mask(&self, batch: &RecordBatch, committed: &Offsets) -> Option<BooleanArray> {
        Lineage::STREAM.not_covered(batch, committed, self.topic.as_deref().unwrap_or(""))
    }
}

/// A streamed table: the committed snapshot plus the uncommitted tail.
#[derive(Debug)]
pub struct LiveTable {
    /// The committed snapshot (from Iceberg, or its copy in memory).
    committed: Arc<dyn TableProvider>,
    tail: Vec<RecordBatch>,
    /// The snapshot's version and the tail's, when the snapshot has one.
    version: Option<String>,
}

impl LiveTable {
    /// Unions `committed` with `tail` (already filtered by [`LiveTail::uncommitted`]),
    /// whose batches are conformed to the table schema by column name.
    /// `version` names both: the committed side's version and what
    /// [`LiveTail::versioned_snapshot`] returned with the chunks.
    pub fn new(
        committed: Arc<dyn TableProvider>,
        tail: Vec<RecordBatch>,
        version: Option<String>,
    ) -> DFResult<Self> {
        let schema = committed.schema();
        let tail = tail
            .iter()
            .map(|b| crate::writer::conform_batch(&schema, b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            committed,
            tail,
            version,
        })
    }

    /// The committed snapshot's version plus the tail's: the tail's chunks
    /// and the snapshot's committed positions decide the rows exactly.
    pub fn read_version(&self) -> Option<String> {
        self.version.clone()
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.committed.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        None
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // The committed side prunes with exact filters; both sides are
        // re-filtered above the union (nothing here is `Exact`).
        Ok(self
            .committed
            .supports_filters_pushdown(filters)?
            .into_iter()
            .map(|p| match p {
                TableProviderFilterPushDown::Exact => TableProviderFilterPushDown::Inexact,
                other => other,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let committed = self
            .committed
            .scan(state, projection, filters, limit)
            .await?;
        if self.tail.is_empty() {
            return Ok(committed);
        }
        let tail = MemorySourceConfig::try_new_exec(
            std::slice::from_ref(&self.tail),
            self.committed.schema(),
            projection.cloned(),
        )?;
        UnionExec::try_new(vec![committed, tail])
    }
}
