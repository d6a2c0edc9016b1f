//! Trino's row-value IN subquery, planned as a correlated EXISTS.
//!
//! `WHERE (commodity, ts) IN (SELECT commodity, max(ts) FROM ticks GROUP BY 1)`
//! (the latest row per key) is valid Trino; DataFusion's planner takes one
//! column per IN subquery. A conjunct of a WHERE or HAVING of that form becomes
//! `EXISTS (SELECT 1 FROM (subquery) AS __in(__in_0, ...) WHERE __in.__in_0 =
//! commodity AND ...)`, which DataFusion turns into a semi join. There the two
//! agree: a row is kept exactly when some subquery row equals it on every
//! column (where IN would be NULL, EXISTS is false, and both drop the row).
//! Elsewhere (under NOT, OR, or in a select list) NULL and false differ, so
//! those are left to DataFusion.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Query, VisitorMut};

use super::{each_select, parse_select, visit_query};

/// Rewrites the row-value IN subqueries of every WHERE and HAVING.
pub fn row_in_subqueries(statement: &mut DFStatement) {
    visit_query(statement, &mut Rewriter);
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        each_select(&mut query.body, &mut |select| {
            for e in [&mut select.selection, &mut select.having]
                .into_iter()
                .flatten()
            {
                conjuncts(e);
            }
        });
        ControlFlow::Continue(())
    }
}

/// Rewrites `e` where it is a conjunct of the condition (through ANDs and
/// parentheses).
fn conjuncts(e: &mut Expr) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left);
            conjuncts(right);
        }
        Expr::Nested(inner) => conjuncts(inner),
        Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        } => {
            let Expr::Tuple(items) = expr.as_ref() else {
                return;
            };
            if items.len() < 2 {
                return;
            }
            let columns: Vec<String> = (0..items.len()).map(|i| format!("__in_{i}")).collect();
            let equal: Vec<String> = items
                .iter()
                .zip(&columns)
                .map(|(item, c)| format!("__in.{c} = ({item})"))
                .collect();
            let sql = format!(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM ({subquery}) AS __in({}) WHERE {})",
                columns.join(", "),
                equal.join(" AND ")
            );
            if let Some(exists) = parse_select(&sql).and_then(|s| s.selection) {
                *e = exists;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast_rewrites::reprinted;

    fn rewritten(sql: &str) -> String {
        super::super::rewritten_by(row_in_subqueries, sql)
    }

    #[test]
    fn row_values_in_subqueries_become_exists() {
        assert_eq!(
            rewritten(
                "SELECT * FROM t WHERE x > 0 AND ((k, ts) IN (SELECT k, max(ts) FROM t GROUP BY k))"
            ),
            "SELECT * FROM t WHERE x > 0 AND (EXISTS (SELECT 1 FROM (SELECT k, max(ts) FROM t \
             GROUP BY k) AS __in (__in_0, __in_1) WHERE __in.__in_0 = (k) AND __in.__in_1 = (ts)))"
        );
    }

    #[test]
    fn other_in_forms_are_left_alone() {
        for sql in [
            "SELECT * FROM t WHERE k IN (SELECT k FROM u)",
            "SELECT * FROM t WHERE (k, ts) NOT IN (SELECT k, ts FROM u)",
            "SELECT * FROM t WHERE x > 0 OR (k, ts) IN (SELECT k, ts FROM u)",
            "SELECT (k, ts) IN (SELECT k, ts FROM u) FROM t",
        ] {
            assert_eq!(rewritten(sql), reprinted(sql));
        }
    }
}
