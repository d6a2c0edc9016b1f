//! `WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t ...)`:
//! Trino names the CTE's columns from its column list before the recursive
//! term is analysed; DataFusion plans the recursive term against the static
//! term's own names (`_col0`), so `n` was unknown ("No field named n"). The
//! column list is copied onto the static term's select items as aliases.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Query, SelectItem, SetExpr, VisitorMut};

use super::visit_query;

/// Names the static terms of recursive CTEs after their column lists.
pub fn name_static_terms(statement: &mut DFStatement) {
    visit_query(statement, &mut Namer);
}

struct Namer;

impl VisitorMut for Namer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let Some(with) = query.with.as_mut().filter(|w| w.recursive) else {
            return ControlFlow::Continue(());
        };
        for cte in &mut with.cte_tables {
            if cte.alias.columns.is_empty() {
                continue;
            }
            // The static term: the leftmost SELECT of the body.
            let mut body = cte.query.body.as_mut();
            while let SetExpr::SetOperation { left, .. } = body {
                body = left.as_mut();
            }
            let SetExpr::Select(select) = body else {
                continue;
            };
            if select.projection.len() != cte.alias.columns.len() {
                continue; // Planning reports the mismatch.
            }
            for (item, column) in select.projection.iter_mut().zip(&cte.alias.columns) {
                let expr = match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                    other => {
                        *item = other;
                        continue;
                    }
                };
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: column.name.clone(),
                };
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::rewritten_by;
    use super::*;

    #[test]
    fn static_terms_take_the_column_list() {
        assert_eq!(
            rewritten_by(
                name_static_terms,
                "WITH RECURSIVE t(n, m) AS (SELECT 1, 'a' UNION ALL SELECT n + 1, m FROM t WHERE n < 5) SELECT * FROM t"
            ),
            "WITH RECURSIVE t (n, m) AS (SELECT 1 AS n, 'a' AS m UNION ALL SELECT n + 1, m FROM t WHERE n < 5) SELECT * FROM t"
        );
        // Not recursive, no column list, or a count mismatch: unchanged.
        for sql in [
            "WITH t (n) AS (SELECT 1) SELECT * FROM t",
            "WITH RECURSIVE t AS (SELECT 1 AS n) SELECT * FROM t",
            "WITH RECURSIVE t (n, m) AS (SELECT 1) SELECT * FROM t",
        ] {
            assert_eq!(
                rewritten_by(name_static_terms, sql),
                super::super::reprinted(sql)
            );
        }
    }
}
