//! Where queries run: a Tokio runtime of their own, apart from the one that
//! serves the endpoints.
//!
//! DataFusion evaluates expressions and joins on the thread that polls the
//! result stream and spawns its partitions onto the current runtime. A
//! CPU-bound plan that seldom yields (a cross join feeding an aggregate, a
//! catastrophic regular expression) therefore held every worker of the
//! server's runtime: no request was answered, and the timers of
//! `query_max_run_time` and `kill_query` never fired. Here each query's
//! stream is driven on the execution runtime and its batches cross to the
//! caller through a bounded channel, so the endpoints, timers and kills keep
//! running; dropping the returned stream aborts the query's task.

use std::sync::{Arc, LazyLock};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::{SinkExt, StreamExt};

/// Stack of each execution worker (deep expression trees recurse).
const STACK_BYTES: usize = 64 << 20;

/// Batches buffered between the execution runtime and the caller.
const BUFFERED_BATCHES: usize = 2;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        // More workers than cores: a plan that does not yield holds one
        // worker per partition, and small queries still find a free one.
        .worker_threads((cores * 2).max(4))
        .thread_name("contango-exec")
        .thread_stack_size(STACK_BYTES)
        .enable_all()
        .build()
        .expect("the execution runtime starts")
});

/// Aborts the query's task when the caller drops its stream.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `frame` on the execution runtime; its batches, passed through
/// `conform`, arrive on the returned stream of `schema`. `produced` is
/// called once the query has computed its last batch (or failed), when
/// only the batches buffered for the caller remain.
pub(crate) fn run(
    frame: DataFrame,
    schema: SchemaRef,
    conform: impl Fn(
        datafusion::arrow::record_batch::RecordBatch,
    ) -> datafusion::error::Result<datafusion::arrow::record_batch::RecordBatch>
    + Send
    + 'static,
    produced: impl FnOnce() + Send + 'static,
) -> SendableRecordBatchStream {
    let (mut tx, rx) = futures::channel::mpsc::channel(BUFFERED_BATCHES);
    let target = schema.clone();
    let task = RUNTIME.spawn(async move {
        let mut stream = match frame.execute_stream().await {
            Ok(stream) => stream,
            Err(e) => {
                produced();
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        // Decided once per query, not per batch.
        let same = stream.schema() == target;
        while let Some(batch) = stream.next().await {
            let failed = batch.is_err();
            let batch = if same {
                batch
            } else {
                batch.and_then(&conform)
            };
            if failed {
                produced();
                let _ = tx.send(batch.map(Some)).await;
                return;
            }
            if tx.send(batch.map(Some)).await.is_err() {
                return;
            }
        }
        drop(stream);
        produced();
        // The end, said explicitly: a channel that closes without it means
        // the task died (a panic), never a complete result.
        let _ = tx.send(Ok(None)).await;
    });
    let state = (rx, AbortOnDrop(task), false);
    let batches = futures::stream::unfold(state, |(mut rx, guard, done)| async move {
        if done {
            return None;
        }
        match rx.next().await {
            Some(Ok(Some(batch))) => Some((Ok(batch), (rx, guard, false))),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some((Err(e), (rx, guard, true))),
            None => Some((
                Err(DataFusionError::Execution(
                    "query execution stopped unexpectedly (an internal error)".into(),
                )),
                (rx, guard, true),
            )),
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// Makes joins yield: every join's output passes through DataFusion's
/// [`CooperativeExec`], which spends Tokio's cooperative budget per batch.
/// A join that emits batch after batch from memory (a cross join feeding an
/// aggregate) otherwise never returns to the scheduler, so neither an abort
/// (the client went away, `kill_query`, `query_max_run_time`) nor anything
/// else queued on that worker could run until the whole query was done.
#[derive(Debug, Default)]
pub struct YieldAfterJoins;

impl PhysicalOptimizerRule for YieldAfterJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.name().contains("Join") {
                Ok(Transformed::yes(
                    Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "yield_after_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
