//! Statement policy: what SQL from clients may do.
//!
//! Clients read; they never touch server files and never write through the SQL
//! endpoints. Statements are checked on the parsed AST before planning, and the
//! planner's own [`SQLOptions`] repeat the check as a second line of defence.

use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as Ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use contango_common::error::{ContangoError, ErrorKind, Result};

/// Planner options matching the policy (no DDL, no DML, no `SET`).
pub fn client_sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Parses `sql` and refuses anything but one read-only statement.
pub fn check_statement(sql: &str) -> Result<()> {
    let mut statements =
        DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).map_err(|e| {
            ContangoError::new(ErrorKind::Syntax, with_location(e.strip_backtrace(), sql))
        })?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => s,
        (None, _) => return Err(ContangoError::new(ErrorKind::Syntax, "empty statement")),
        (Some(_), false) => {
            return Err(ContangoError::invalid(
                "only one statement per request is supported",
            ));
        }
    };
    check(&statement)
}

/// Errors at the end of input carry no position: point at the end, as Trino does.
fn with_location(message: String, sql: &str) -> String {
    if message.contains("Line: ") {
        return message;
    }
    let line = sql.lines().count().max(1);
    let column = sql.lines().last().map_or(0, |l| l.chars().count()) + 1;
    format!("{message} at Line: {line}, Column: {column}")
}

fn check(statement: &Statement) -> Result<()> {
    match statement {
        Statement::CreateExternalTable(t) => Err(ContangoError::permission_denied(format!(
            "CREATE EXTERNAL TABLE is not allowed: SQL from clients cannot read server files (location '{}')",
            t.location
        ))),
        Statement::CopyTo(_) => Err(ContangoError::permission_denied(
            "COPY ... TO is not allowed: SQL from clients cannot write server files",
        )),
        Statement::Explain(e) => check(&e.statement),
        Statement::Reset(_) => Err(ContangoError::permission_denied(
            "RESET of engine variables is not allowed",
        )),
        Statement::Statement(ast) => check_ast(ast),
    }
}

fn check_ast(ast: &Ast) -> Result<()> {
    match ast {
        Ast::Query(_)
        | Ast::ShowTables { .. }
        | Ast::ShowColumns { .. }
        | Ast::ShowFunctions { .. }
        | Ast::ExplainTable { .. } => Ok(()),
        Ast::Explain { statement, .. } => check_ast(statement),
        Ast::Copy { .. } | Ast::CopyIntoSnowflake { .. } | Ast::Unload { .. } => {
            Err(ContangoError::permission_denied(
                "COPY is not allowed: SQL from clients cannot read or write server files",
            ))
        }
        Ast::Set(_) | Ast::ShowVariable { .. } => Err(ContangoError::permission_denied(
            "engine variables cannot be read or changed from SQL",
        )),
        other => Err(ContangoError::permission_denied(format!(
            "statement not allowed on this read-only endpoint: {}",
            first_words(&other.to_string())
        ))),
    }
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> Option<ErrorKind> {
        check_statement(sql).err().map(|e| e.kind())
    }

    #[test]
    fn queries_pass() {
        assert_eq!(kind("SELECT 1"), None);
        assert_eq!(kind("EXPLAIN SELECT * FROM t WHERE x > 1"), None);
        assert_eq!(kind("SHOW TABLES"), None);
    }

    #[test]
    fn server_files_are_refused() {
        let e = check_statement("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.message().contains("/etc/passwd"), "{}", e.message());
        assert_eq!(
            kind("COPY (SELECT 1) TO '/tmp/out.csv' STORED AS CSV"),
            Some(ErrorKind::PermissionDenied)
        );
        assert_eq!(
            kind("EXPLAIN COPY (SELECT 1) TO '/tmp/out.csv'"),
            Some(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn writes_and_settings_are_refused() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "DROP TABLE t",
            "CREATE TABLE t AS SELECT 1",
            "SET datafusion.execution.batch_size = 1",
            "DELETE FROM t",
        ] {
            assert_eq!(kind(sql), Some(ErrorKind::PermissionDenied), "{sql}");
        }
    }

    #[test]
    fn syntax_and_multi_statement() {
        assert_eq!(kind("SELEC 1"), Some(ErrorKind::Syntax));
        let e = check_statement("SELECT 1\nFROM t WHERE").unwrap_err();
        assert!(
            e.message().ends_with("at Line: 2, Column: 13"),
            "{}",
            e.message()
        );
        assert_eq!(kind(""), Some(ErrorKind::Syntax));
        assert_eq!(kind("SELECT 1; SELECT 2"), Some(ErrorKind::Invalid));
    }
}
