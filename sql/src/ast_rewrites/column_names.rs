//! Trino's names for unnamed output columns, given before planning.
//!
//! Trino names a select item that is neither a column reference nor aliased
//! `_col<position>`; DataFusion names it after its expression text, and that
//! text drops casts, so `SELECT price, CAST(price AS DOUBLE)` named both
//! columns `ticks.price` and failed to plan. (Aggregates are named before
//! this alias applies: `sum(price), sum(CAST(price AS DOUBLE))` still clash,
//! a corpus `known_gap`.) Every SELECT of the
//! statement (subqueries, CTEs and each side of a set operation included)
//! gets its unnamed expressions aliased `_col<position>` here. Items after a
//! `*` are left alone (their position depends on the expansion); the engine
//! names those after planning.
//!
//! A `SELECT DISTINCT` ordered by an expression of its select list
//! (`SELECT DISTINCT price * 2 ... ORDER BY price * 2`, valid in Trino) is
//! ordered by that item's position instead: DataFusion matches ORDER BY with
//! a DISTINCT select list only by column, alias or position.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, OrderByExpr, OrderByKind, Query, Select, SelectItem, SetExpr, Value, VisitorMut,
};

use super::{each_select, visit_query};

/// Aliases the unnamed expressions of every SELECT in a query statement.
pub fn name_unnamed_items(statement: &mut DFStatement) {
    visit_query(statement, &mut Namer);
}

struct Namer;

impl VisitorMut for Namer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let (SetExpr::Select(select), Some(order_by)) =
            (query.body.as_ref(), &mut query.order_by)
            && select.distinct.is_some()
            && let OrderByKind::Expressions(keys) = &mut order_by.kind
        {
            order_by_positions(select, keys);
        }
        each_select(&mut query.body, &mut name_select);
        ControlFlow::Continue(())
    }
}

/// ORDER BY keys that repeat an expression of the select list (before any
/// `*`) become that item's position.
fn order_by_positions(select: &Select, keys: &mut [OrderByExpr]) {
    for key in keys {
        if column_name(&key.expr).is_some() || matches!(key.expr, Expr::Value(_)) {
            continue;
        }
        for (position, item) in select.projection.iter().enumerate() {
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => break,
            };
            if *expr == key.expr {
                key.expr = Expr::value(Value::Number((position + 1).to_string(), false));
                break;
            }
        }
    }
}

fn name_select(select: &mut Select) {
    // Names the user gave or that columns carry: a generated name that
    // clashes with one is not given.
    let taken: HashSet<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
            SelectItem::UnnamedExpr(e) => column_name(e).map(|n| n.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    for (position, item) in select.projection.iter_mut().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => return,
            SelectItem::UnnamedExpr(e) if column_name(e).is_none() => {
                let name = format!("_col{position}");
                if taken.contains(&name) {
                    continue;
                }
                let expr = std::mem::replace(e, Expr::value(Value::Null));
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::new(name),
                };
            }
            _ => {}
        }
    }
}

/// The name an unaliased item already has in Trino: a column reference's
/// (possibly qualified, possibly in parentheses) last part.
fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Identifier(i) => Some(&i.value),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.as_str()),
        Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sql: &str) -> String {
        super::super::rewritten_by(name_unnamed_items, sql)
    }

    #[test]
    fn unnamed_expressions_get_their_position() {
        assert_eq!(
            named("SELECT a, t.b, (c), sum(x), CAST(x AS DOUBLE) y, 1 + 1 FROM t"),
            "SELECT a, t.b, (c), sum(x) AS _col3, CAST(x AS DOUBLE) AS y, 1 + 1 AS _col5 FROM t"
        );
    }

    #[test]
    fn every_select_is_named_and_stars_stop_the_count() {
        assert_eq!(
            named(
                "WITH w AS (SELECT max(x) FROM t) \
                 SELECT count(*) FROM (SELECT min(x) FROM t) UNION ALL SELECT 2 FROM w"
            ),
            "WITH w AS (SELECT max(x) AS _col0 FROM t) \
             SELECT count(*) AS _col0 FROM (SELECT min(x) AS _col0 FROM t) \
             UNION ALL SELECT 2 AS _col0 FROM w"
        );
        assert_eq!(
            named("SELECT 1, *, 2 FROM t WHERE x IN (SELECT x + 1 FROM u)"),
            "SELECT 1 AS _col0, *, 2 FROM t WHERE x IN (SELECT x + 1 AS _col0 FROM u)"
        );
    }

    #[test]
    fn names_in_use_are_not_given_again() {
        assert_eq!(
            named("SELECT 1, 2 AS _col1, 3, _col3 FROM t"),
            "SELECT 1 AS _col0, 2 AS _col1, 3 AS _col2, _col3 FROM t"
        );
        assert_eq!(
            named("SELECT 1, 2 AS _COL1, 3"),
            "SELECT 1 AS _col0, 2 AS _COL1, 3 AS _col2"
        );
        // Not queries: left alone.
        assert_eq!(named("SET x = 1"), "SET x = 1");
    }

    #[test]
    fn distinct_selects_are_ordered_by_the_position_of_a_repeated_expression() {
        assert_eq!(
            named("SELECT DISTINCT x, round(x, 0) FROM t ORDER BY round(x, 0) DESC, x, 1, x + 1"),
            "SELECT DISTINCT x, round(x, 0) AS _col1 FROM t ORDER BY 2 DESC, x, 1, x + 1"
        );
        // Without DISTINCT, or with the item after a star: unchanged.
        assert_eq!(
            named("SELECT round(x, 0) FROM t ORDER BY round(x, 0)"),
            "SELECT round(x, 0) AS _col0 FROM t ORDER BY round(x, 0)"
        );
        assert_eq!(
            named("SELECT DISTINCT *, round(x, 0) FROM t ORDER BY round(x, 0)"),
            "SELECT DISTINCT *, round(x, 0) FROM t ORDER BY round(x, 0)"
        );
    }
}
