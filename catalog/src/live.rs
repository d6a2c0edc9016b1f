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

use crate::table::IcebergTable;
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

/// Uncommitted rows of one table.
#[derive(Debug)]
pub struct LiveTail {
    topic: Option<String>,
    chunks: RwLock<Vec<RecordBatch>>,
}

impl LiveTail {
    /// Makes `batch` visible to queries (empty batches are kept too, so
    /// [`drop_front`](Self::drop_front) counts chunks as the stream pushed them).
    pub fn push(&self, batch: RecordBatch) {
        self.chunks.write().expect("tail poisoned").push(batch);
    }

    /// The chunks now held (cheap: batches share their buffers).
    pub fn snapshot(&self) -> Vec<RecordBatch> {
        self.chunks.read().expect("tail poisoned").clone()
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        let chunks = self.chunks.read().expect("tail poisoned");
        chunks.iter().map(|b| b.num_rows()).sum()
    }

    /// Drops the first `n` chunks (those a commit just covered).
    pub fn drop_front(&self, n: usize) {
        let mut chunks = self.chunks.write().expect("tail poisoned");
        let n = n.min(chunks.len());
        chunks.drain(..n);
    }

    /// Drops everything (the stream restarts from the committed positions).
    pub fn clear(&self) {
        self.chunks.write().expect("tail poisoned").clear();
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
    committed: IcebergTable,
    tail: Vec<RecordBatch>,
}

impl LiveTable {
    /// Unions `committed` with `tail` (already filtered by [`LiveTail::uncommitted`]),
    /// whose batches are conformed to the table schema by column name.
    pub fn new(committed: IcebergTable, tail: Vec<RecordBatch>) -> DFResult<Self> {
        let schema = committed.schema();
        let tail = tail
            .iter()
            .map(|b| crate::writer::conform_batch(&schema, b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { committed, tail })
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
