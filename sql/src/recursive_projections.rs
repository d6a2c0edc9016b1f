//! Projection pruning kept out of recursive CTEs.
//!
//! DataFusion 53's `optimize_projections` pushes the columns a query needs
//! into both terms of a recursive CTE separately, so
//! `WITH RECURSIVE fib(a, b) AS (SELECT 1, 1 UNION ALL SELECT b, a + b FROM
//! fib WHERE b < 100) SELECT max(a) FROM fib` prunes `b` from a term that
//! still reads it and fails ("project index 1 out of bounds"); only
//! `SELECT *` worked. Here the rule is kept as it is for every other plan and
//! left out for a plan that holds a recursive query (which then reads the
//! columns of its CTE in full: a recursive CTE is small next to a scan).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::optimizer::{ApplyOrder, Optimizer};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// DataFusion's optimizer rules, with `optimize_projections` skipping plans
/// that hold a recursive query.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| -> Arc<dyn OptimizerRule + Send + Sync> {
            if rule.name() == "optimize_projections" {
                Arc::new(OutsideRecursion(rule))
            } else {
                rule
            }
        })
        .collect()
}

/// A rule that leaves plans holding a recursive query alone.
#[derive(Debug)]
struct OutsideRecursion(Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for OutsideRecursion {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    #[allow(deprecated)]
    fn supports_rewrite(&self) -> bool {
        self.0.supports_rewrite()
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let recursive = plan.exists(|p| Ok(matches!(p, LogicalPlan::RecursiveQuery(_))))?;
        if recursive {
            return Ok(Transformed::no(plan));
        }
        self.0.rewrite(plan, config)
    }
}
