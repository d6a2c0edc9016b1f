//! Trino's lateral UNNEST, planned as DataFusion's select-list unnest.
//!
//! `FROM t CROSS JOIN UNNEST(t.a, t.b) [WITH ORDINALITY] AS u(x, y [, n])`
//! (or `FROM t, UNNEST(...) AS u(...)`) expands each row of `t` by its arrays,
//! which DataFusion's planner leaves as an outer reference it cannot execute.
//! It becomes `FROM (SELECT t.*, unnest(t.a) AS x, unnest(t.b) AS y FROM t) AS t`,
//! and `u.x` becomes `t.x`. Select-list unnests of one SELECT zip their arrays
//! and pad the shorter with NULLs, and a NULL or empty array gives no rows, as
//! Trino's UNNEST does; `WITH ORDINALITY` adds `unnest(generate_series(1, n))`
//! with `n` the longest array's length. One argument named by two columns
//! (`UNNEST(t.m) AS u(k, v)`) is a map: its keys and values. `t LEFT JOIN
//! UNNEST(...) AS u(...) ON true` keeps the rows whose arrays are all empty or
//! NULL, with NULLs. Other forms (several relations before the UNNEST, no
//! column names, arrays of rows) are left to DataFusion.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, Query, Select, SetExpr, TableFactor, TableWithJoins,
    VisitMut, VisitorMut,
};

use super::{parse_select, visit_query};

/// Rewrites the lateral UNNESTs of every SELECT in a query statement.
pub fn lateral_unnest(statement: &mut DFStatement) {
    visit_query(statement, &mut Rewriter);
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut()
            && let Some((unnest, table)) = rewrite(select)
        {
            // `u.x` → `t.x`, in the SELECT and in the query's ORDER BY.
            let mut renamer = Renamer {
                from: unnest,
                to: table,
                shadowed: vec![false],
            };
            let _ = select.visit(&mut renamer);
            if let Some(order_by) = query.order_by.as_mut() {
                let _ = order_by.visit(&mut renamer);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Renames the qualifier `from.` to `to.`, also in subqueries (correlated
/// references), except inside a subquery whose own FROM names `from` again.
struct Renamer {
    from: Ident,
    to: Ident,
    /// Per query level entered: whether `from` is shadowed there.
    shadowed: Vec<bool>,
}

impl VisitorMut for Renamer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let outer = *self.shadowed.last().unwrap_or(&false);
        let here = match query.body.as_ref() {
            SetExpr::Select(s) => s.from.iter().any(|f| {
                std::iter::once(&f.relation)
                    .chain(f.joins.iter().map(|j| &j.relation))
                    .any(|r| relation_name(r).is_some_and(|n| same_name(&n, &self.from)))
            }),
            _ => false,
        };
        self.shadowed.push(outer || here);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.shadowed.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if !self.shadowed.last().unwrap_or(&false)
            && let Expr::CompoundIdentifier(parts) = e
            && parts.len() == 2
            && same_name(&parts[0], &self.from)
        {
            parts[0] = self.to.clone();
        }
        ControlFlow::Continue(())
    }
}

/// The name a FROM relation is referred to by: its alias, or a table's last
/// name part.
fn relation_name(r: &TableFactor) -> Option<Ident> {
    match r {
        TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::UNNEST { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. } => Some(a.name.clone()),
        TableFactor::Table {
            name, alias: None, ..
        } => name.0.last()?.as_ident().cloned(),
        _ => None,
    }
}

fn same_name(a: &Ident, b: &Ident) -> bool {
    match (a.quote_style, b.quote_style) {
        (None, None) => a.value.eq_ignore_ascii_case(&b.value),
        _ => a.value == b.value,
    }
}

/// Replaces `t CROSS JOIN UNNEST(...) AS u(...)` (or `t LEFT JOIN UNNEST(...)
/// AS u(...) ON true`) in `select`'s FROM by the derived table; returns the
/// names of `u` and `t`.
fn rewrite(select: &mut Select) -> Option<(Ident, Ident)> {
    let (table, unnest, left) = match select.from.as_slice() {
        [one] if one.joins.len() == 1 => {
            let join = &one.joins[0];
            let left = match &join.join_operator {
                JoinOperator::CrossJoin(JoinConstraint::None) => false,
                JoinOperator::Left(JoinConstraint::On(on))
                | JoinOperator::LeftOuter(JoinConstraint::On(on))
                    if on.to_string().eq_ignore_ascii_case("true") =>
                {
                    true
                }
                _ => return None,
            };
            (&one.relation, &join.relation, left)
        }
        [a, b] if a.joins.is_empty() && b.joins.is_empty() => (&a.relation, &b.relation, false),
        _ => return None,
    };
    let TableFactor::UNNEST {
        alias: Some(alias),
        array_exprs,
        with_offset: false,
        with_ordinality,
        ..
    } = unnest
    else {
        return None;
    };
    let columns = &alias.columns;
    let ordinality = usize::from(*with_ordinality);
    // The arrays to unnest: one per argument, or a map's keys and values
    // (one argument named by two columns).
    let arrays: Vec<String> =
        if !array_exprs.is_empty() && columns.len() == array_exprs.len() + ordinality {
            array_exprs.iter().map(|e| e.to_string()).collect()
        } else if let [map] = array_exprs.as_slice()
            && columns.len() == 2 + ordinality
        {
            vec![format!("map_keys({map})"), format!("map_values({map})")]
        } else {
            return None;
        };
    let name = match table {
        TableFactor::Table { args: None, .. } | TableFactor::Derived { alias: Some(_), .. } => {
            relation_name(table)?
        }
        _ => return None,
    };
    // A LEFT JOIN keeps rows whose arrays are all empty or NULL, with NULLs:
    // such an array unnests as one NULL (zipping pads the others anyway).
    let array = |e: &String| {
        if left {
            format!("CASE WHEN cardinality({e}) > 0 THEN {e} ELSE [NULL] END")
        } else {
            e.clone()
        }
    };
    let mut items: Vec<String> = arrays
        .iter()
        .zip(columns)
        .map(|(e, c)| format!("unnest({}) AS {}", array(e), c.name))
        .collect();
    if *with_ordinality {
        let lengths: Vec<String> = arrays
            .iter()
            .map(|e| format!("CAST(cardinality({e}) AS BIGINT)"))
            .collect();
        let longest = if lengths.len() == 1 {
            lengths[0].clone()
        } else {
            format!("greatest({})", lengths.join(", "))
        };
        let ordinal = &columns[arrays.len()].name;
        // No rows from NULL arrays: an empty series (0), not a NULL one.
        items.push(format!(
            "unnest(generate_series(1, coalesce({longest}, 0))) AS {ordinal}"
        ));
    }
    let sql = format!(
        "SELECT * FROM (SELECT {name}.*, {} FROM {table}) AS {name}",
        items.join(", ")
    );
    let relation: TableWithJoins = parse_select(&sql)?.from.pop()?;
    let unnest_name = alias.name.clone();
    select.from = vec![relation];
    Some((unnest_name, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast_rewrites::reprinted;

    fn rewritten(sql: &str) -> String {
        super::super::rewritten_by(lateral_unnest, sql)
    }

    #[test]
    fn cross_joined_unnests_become_select_list_unnests() {
        assert_eq!(
            rewritten("SELECT t.k, u.x FROM t CROSS JOIN UNNEST(t.a) AS u(x) ORDER BY u.x"),
            "SELECT t.k, t.x FROM (SELECT t.*, unnest(t.a) AS x FROM t) AS t ORDER BY t.x"
        );
        assert_eq!(
            rewritten(
                "SELECT k, x, y, n FROM s.t AS r, UNNEST(a, b) WITH ORDINALITY AS u(x, y, n)"
            ),
            "SELECT k, x, y, n FROM (SELECT r.*, unnest(a) AS x, unnest(b) AS y, \
             unnest(generate_series(1, coalesce(greatest(CAST(cardinality(a) AS BIGINT), \
             CAST(cardinality(b) AS BIGINT)), 0))) AS n FROM s.t AS r) AS r"
        );
        assert_eq!(
            rewritten(
                "SELECT * FROM (SELECT 1 AS k, ARRAY[2] AS a) d CROSS JOIN UNNEST(d.a) WITH ORDINALITY u(x, i)"
            ),
            "SELECT * FROM (SELECT d.*, unnest(d.a) AS x, unnest(generate_series(1, \
             coalesce(CAST(cardinality(d.a) AS BIGINT), 0))) AS i FROM (SELECT 1 AS k, ARRAY[2] AS a) d) AS d"
        );
    }

    #[test]
    fn a_map_unnests_as_keys_and_values() {
        assert_eq!(
            rewritten("SELECT u.k, u.v FROM t CROSS JOIN UNNEST(t.m) AS u(k, v)"),
            "SELECT t.k, t.v FROM (SELECT t.*, unnest(map_keys(t.m)) AS k, \
             unnest(map_values(t.m)) AS v FROM t) AS t"
        );
    }

    #[test]
    fn references_to_the_unnest_follow_it_unless_shadowed() {
        assert_eq!(
            rewritten(
                "SELECT u.x FROM t CROSS JOIN UNNEST(t.a) AS u(x) \
                 WHERE EXISTS (SELECT 1 FROM o WHERE o.v = u.x) \
                 AND EXISTS (SELECT 1 FROM o AS u WHERE u.v = 1)"
            ),
            "SELECT t.x FROM (SELECT t.*, unnest(t.a) AS x FROM t) AS t \
             WHERE EXISTS (SELECT 1 FROM o WHERE o.v = t.x) \
             AND EXISTS (SELECT 1 FROM o AS u WHERE u.v = 1)"
        );
    }

    #[test]
    fn other_forms_are_left_alone() {
        for sql in [
            "SELECT * FROM UNNEST(ARRAY[1]) AS u(x)",
            "SELECT * FROM t CROSS JOIN UNNEST(t.a)",
            "SELECT * FROM t CROSS JOIN UNNEST(t.a) AS u(x, y, z)",
            "SELECT * FROM t LEFT JOIN UNNEST(t.a) AS u(x) ON t.k = u.x",
            "SELECT * FROM t JOIN s ON t.k = s.k CROSS JOIN UNNEST(t.a) AS u(x)",
        ] {
            assert_eq!(rewritten(sql), reprinted(sql));
        }
    }
}
