//! Typed literals must be strings: `DATE '2020-04-20'`, `TIMESTAMP '...'`.
//!
//! The parser also accepts `DATE 1`, `TIMESTAMP NULL` or `DECIMAL 1.5` (a
//! typed literal whose value is a number or a keyword), and DataFusion's
//! planner then unwraps the value as a string and panics. Trino rejects them
//! as a syntax error; so does this check, on the parsed statement, before the
//! planner sees it.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Expr, TypedString, Visit, Visitor};

use contango_common::error::{ContangoError, ErrorKind, Result};

/// Refuses a typed literal whose value is not a quoted string.
pub fn check(statement: &DFStatement) -> Result<()> {
    let DFStatement::Statement(s) = statement else {
        return Ok(());
    };
    let mut finder = NotAString(None);
    let _ = s.visit(&mut finder);
    match finder.0 {
        Some(literal) => Err(ContangoError::new(
            ErrorKind::Syntax,
            format!("mismatched input in {literal}: a typed literal takes a quoted string"),
        )),
        None => Ok(()),
    }
}

/// Finds the first typed literal with a value that is not a string.
struct NotAString(Option<String>);

impl Visitor for NotAString {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::TypedString(TypedString {
            data_type, value, ..
        }) = expr
            && value.clone().into_string().is_none()
        {
            self.0 = Some(format!("{data_type} {value}"));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;

    fn checked(sql: &str) -> Result<(), String> {
        let statement = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
        super::check(&statement).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_pass_and_other_values_are_refused() {
        checked("SELECT DATE '2020-04-20', TIMESTAMP '2020-04-20 00:00:00'").unwrap();
        for sql in [
            "SELECT DATE 1",
            "SELECT TIMESTAMP NULL",
            "SELECT 1 FROM t WHERE d > DATE 18446744073709551616",
        ] {
            let e = checked(sql).unwrap_err();
            assert!(e.contains("takes a quoted string"), "{sql}: {e}");
        }
    }
}
