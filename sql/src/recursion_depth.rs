//! Trino's `max_recursion_depth` for recursive CTEs.
//!
//! Trino unrolls a recursive query at most `max_recursion_depth` times
//! (default 10) and fails it when one more step would still produce rows:
//! "Recursion depth limit exceeded (10). Use 'max_recursion_depth' session
//! property to modify the limit." DataFusion iterates until the recursive
//! term produces nothing, so a recursion that never ends ran until a time
//! or memory limit stopped it. Here a physical optimizer rule wraps each
//! recursive term in [`DepthCheckExec`], which counts the term's executions
//! (one per iteration) and fails the first one past the limit that yields a
//! row.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

use contango_common::error::ContangoError;

/// Trino's default `max_recursion_depth`.
pub const DEFAULT_MAX_RECURSION_DEPTH: usize = 10;

/// Wraps the recursive term of every recursive query with the depth check.
#[derive(Debug)]
pub struct RecursionDepth {
    /// Iterations a recursive query may take.
    pub limit: usize,
}

impl PhysicalOptimizerRule for RecursionDepth {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(recursive) = node.as_any().downcast_ref::<RecursiveQueryExec>() else {
                return Ok(Transformed::no(node));
            };
            let children: Vec<Arc<dyn ExecutionPlan>> =
                recursive.children().into_iter().cloned().collect();
            let [static_term, recursive_term] = children.as_slice() else {
                return Ok(Transformed::no(node));
            };
            if recursive_term.as_any().is::<DepthCheckExec>() {
                return Ok(Transformed::no(node));
            }
            let checked: Arc<dyn ExecutionPlan> = Arc::new(DepthCheckExec {
                input: recursive_term.clone(),
                limit: self.limit,
                executions: Arc::default(),
            });
            Ok(Transformed::yes(
                node.clone()
                    .with_new_children(vec![static_term.clone(), checked])?,
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "max_recursion_depth"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A recursive term that counts its executions and fails the first one
/// past `limit` that still produces a row.
#[derive(Debug)]
pub struct DepthCheckExec {
    input: Arc<dyn ExecutionPlan>,
    limit: usize,
    /// Shared by the copies DataFusion makes between iterations.
    executions: Arc<AtomicUsize>,
}

impl DisplayAs for DepthCheckExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DepthCheckExec: max_recursion_depth={}", self.limit)
    }
}

impl ExecutionPlan for DepthCheckExec {
    fn name(&self) -> &str {
        "DepthCheckExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            input: children[0].clone(),
            limit: self.limit,
            executions: self.executions.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let iteration = self.executions.fetch_add(1, Ordering::SeqCst) + 1;
        let stream = self.input.execute(partition, context)?;
        if iteration <= self.limit {
            return Ok(stream);
        }
        let limit = self.limit;
        let schema = stream.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| {
                let batch = batch?;
                if batch.num_rows() > 0 {
                    return Err(DataFusionError::External(Box::new(
                        ContangoError::not_supported(format!(
                            "Recursion depth limit exceeded ({limit}). Use 'max_recursion_depth' \
                             session property to modify the limit."
                        )),
                    )));
                }
                Ok(batch)
            }),
        )))
    }
}
