//! Trino forms rewritten on the parsed statement, before DataFusion plans it
//! (token-level rewrites are in [`crate::dialect`]).
//!
//! - [`unnest`]: lateral `t CROSS JOIN UNNEST(t.a) AS u(x)` → select-list unnest;
//! - [`row_in`]: `(a, b) IN (subquery)` conjuncts → correlated `EXISTS`;
//! - [`recursive_cte`]: a recursive CTE's column list names its static term;
//! - [`column_names`]: unnamed select items → `_col<position>`, and DISTINCT
//!   ORDER BY keys → positions;
//!
//! and one check: [`typed_literals`] refuses `DATE 1`-style literals whose
//! value is not a string (DataFusion's planner panics on them).

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Select, SetExpr, Statement, VisitMut, VisitorMut};

pub mod column_names;
pub mod recursive_cte;
pub mod row_in;
pub mod typed_literals;
pub mod unnest;

/// Applies every rewrite to a query statement (others are left alone).
pub fn apply(statement: &mut DFStatement) {
    unnest::lateral_unnest(statement);
    row_in::row_in_subqueries(statement);
    recursive_cte::name_static_terms(statement);
    column_names::name_unnamed_items(statement);
}

/// Runs `visitor` over `statement` when it is a query.
fn visit_query(statement: &mut DFStatement, visitor: &mut impl VisitorMut<Break = ()>) {
    if let DFStatement::Statement(s) = statement
        && let Statement::Query(_) = s.as_ref()
    {
        let _ = s.visit(visitor);
    }
}

/// The SELECTs of a query body (both sides of set operations; nested
/// queries are visited on their own).
fn each_select(body: &mut SetExpr, f: &mut impl FnMut(&mut Select)) {
    match body {
        SetExpr::Select(s) => f(s),
        SetExpr::SetOperation { left, right, .. } => {
            each_select(left, f);
            each_select(right, f);
        }
        _ => {}
    }
}

/// `sql` parsed, rewritten by `rewrite` and printed (for the tests).
#[cfg(test)]
fn rewritten_by(rewrite: fn(&mut DFStatement), sql: &str) -> String {
    let mut s = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
    rewrite(&mut s);
    s.to_string()
}

/// `sql` parsed and printed unchanged (for the tests).
#[cfg(test)]
fn reprinted(sql: &str) -> String {
    DFParser::parse_sql(sql)
        .unwrap()
        .pop_front()
        .unwrap()
        .to_string()
}

/// The SELECT of `sql`, a query made by a rewrite.
fn parse_select(sql: &str) -> Option<Box<Select>> {
    let DFStatement::Statement(s) = DFParser::parse_sql(sql).ok()?.pop_front()? else {
        return None;
    };
    let Statement::Query(q) = *s else { return None };
    match *q.body {
        SetExpr::Select(select) => Some(select),
        _ => None,
    }
}
