//! Trino statements that are not queries DataFusion can plan: session control
//! (`USE`, `SET/RESET SESSION`, transactions), prepared statements (`PREPARE`,
//! `EXECUTE [IMMEDIATE] ... USING`, `DEALLOCATE PREPARE`, `DESCRIBE INPUT/OUTPUT`),
//! `SHOW SESSION`, `SHOW FUNCTIONS`, Trino's `EXPLAIN` options and
//! `CALL system.runtime.kill_query`. Recognised here on tokens; carried out by
//! the engine so that both endpoints speak them.

pub mod explain;
pub mod listing;

use datafusion::sql::sqlparser::tokenizer::Token;

use crate::lexer::Cursor;
use contango_common::error::{ContangoError, Result};

pub use explain::{ExplainFormat, ExplainType};

/// A recognised Trino statement.
#[derive(Debug, Clone, PartialEq)]
pub enum TrinoStatement {
    /// `USE [catalog.]schema`.
    Use {
        /// Catalog, when given.
        catalog: Option<String>,
        /// Schema.
        schema: String,
    },
    /// `SET SESSION name = value`.
    SetSession {
        /// Property name.
        name: String,
        /// Value as text (string literal content, number or boolean).
        value: String,
    },
    /// `RESET SESSION name`.
    ResetSession {
        /// Property name.
        name: String,
    },
    /// `PREPARE name FROM statement`.
    Prepare {
        /// Statement name.
        name: String,
        /// Its SQL.
        sql: String,
    },
    /// `EXECUTE name [USING ...]`.
    Execute {
        /// Statement name.
        name: String,
        /// Parameter expressions as SQL text.
        args: Vec<String>,
    },
    /// `EXECUTE IMMEDIATE 'sql' [USING ...]`.
    ExecuteImmediate {
        /// The statement.
        sql: String,
        /// Parameter expressions as SQL text.
        args: Vec<String>,
    },
    /// `DEALLOCATE PREPARE name`.
    Deallocate {
        /// Statement name.
        name: String,
    },
    /// `DESCRIBE INPUT name`.
    DescribeInput {
        /// Statement name.
        name: String,
    },
    /// `DESCRIBE OUTPUT name`.
    DescribeOutput {
        /// Statement name.
        name: String,
    },
    /// `SHOW COLUMNS FROM t [LIKE 'p']`, `DESCRIBE t`.
    ShowColumns {
        /// `[catalog.][schema.]table`.
        table: Vec<String>,
        /// Filter on the column name.
        like: Option<String>,
    },
    /// `SHOW CREATE TABLE t`.
    ShowCreateTable {
        /// `[catalog.][schema.]table`.
        table: Vec<String>,
    },
    /// `SHOW CREATE SCHEMA s`.
    ShowCreateSchema {
        /// `[catalog.]schema`.
        schema: Vec<String>,
    },
    /// `SHOW SESSION [LIKE 'p']`.
    ShowSession {
        /// Filter pattern.
        like: Option<String>,
    },
    /// `SHOW FUNCTIONS [LIKE 'p']`.
    ShowFunctions {
        /// Filter pattern.
        like: Option<String>,
    },
    /// `EXPLAIN [ANALYZE [VERBOSE]] [(TYPE t, FORMAT f)] statement`.
    Explain {
        /// EXPLAIN ANALYZE: run it and report what happened.
        analyze: bool,
        /// Which plan.
        kind: ExplainType,
        /// Rendering.
        format: ExplainFormat,
        /// The explained statement.
        sql: String,
    },
    /// `START TRANSACTION [modes]`.
    StartTransaction,
    /// `COMMIT [WORK]`.
    Commit,
    /// `ROLLBACK [WORK]`.
    Rollback,
    /// `CALL system.runtime.kill_query(query_id => '...', message => '...')`.
    KillQuery {
        /// Query to kill.
        query_id: String,
        /// Reason given to its client.
        message: Option<String>,
    },
    /// `CALL system.runtime.accelerate(table => '...', sort => ..., ...)`,
    /// or `drop_acceleration(table => '...')` (`options` is `None`).
    Accelerate {
        /// `[catalog.][schema.]table`.
        table: String,
        /// How to hold it; `None` drops the acceleration.
        options: Option<AccelerateOptions>,
    },
}

/// The arguments of `system.runtime.accelerate`, as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccelerateOptions {
    /// Sort (cluster) key.
    pub sort: Vec<String>,
    /// Columns to hold (empty: all).
    pub columns: Vec<String>,
    /// A Trino duration (`90d`).
    pub window: Option<String>,
    /// The window's timestamp column (default `ts`).
    pub window_column: Option<String>,
    /// A Trino data size (`4GB`).
    pub host_memory: Option<String>,
}

impl AccelerateOptions {
    /// The request these options make, with the window and the budget
    /// parsed (a bad duration or size is an error naming it). Both ways of
    /// accelerating a table, `CALL` and `[[accelerate]]`, go through here.
    pub fn request(self) -> Result<contango_common::AccelerationRequest> {
        let window = self
            .window
            .map(|w| {
                crate::session_properties::parse_duration(&w)
                    .filter(|d| !d.is_zero())
                    .map(|d| (self.window_column.unwrap_or_else(|| "ts".into()), d))
                    .ok_or_else(|| {
                        ContangoError::invalid(format!(
                            "window must be a duration such as 90d or 12h, got '{w}'"
                        ))
                    })
            })
            .transpose()?;
        let host_memory = self
            .host_memory
            .map(|m| {
                crate::limits::parse_data_size(&m)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ContangoError::invalid(format!(
                            "host_memory must be a data size such as 4GB, got '{m}'"
                        ))
                    })
            })
            .transpose()?;
        Ok(contango_common::AccelerationRequest {
            columns: self.columns,
            sort: self.sort,
            window,
            host_memory,
        })
    }
}

impl TrinoStatement {
    /// Trino's `updateType` for statements that change state instead of
    /// returning rows.
    pub fn update_type(&self) -> Option<&'static str> {
        Some(match self {
            TrinoStatement::Use { .. } => "USE",
            TrinoStatement::SetSession { .. } => "SET SESSION",
            TrinoStatement::ResetSession { .. } => "RESET SESSION",
            TrinoStatement::Prepare { .. } => "PREPARE",
            TrinoStatement::Deallocate { .. } => "DEALLOCATE",
            TrinoStatement::StartTransaction => "START TRANSACTION",
            TrinoStatement::Commit => "COMMIT",
            TrinoStatement::Rollback => "ROLLBACK",
            TrinoStatement::KillQuery { .. } | TrinoStatement::Accelerate { .. } => "CALL",
            _ => return None,
        })
    }
}

/// The Trino statement `sql` is, or `None` for anything else (queries and the
/// forms DataFusion plans itself).
pub fn parse(sql: &str) -> Result<Option<TrinoStatement>> {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next();
    let first = first.unwrap_or_default().to_ascii_uppercase();
    if !matches!(
        first.as_str(),
        "USE"
            | "SET"
            | "RESET"
            | "PREPARE"
            | "EXECUTE"
            | "DEALLOCATE"
            | "DESCRIBE"
            | "DESC"
            | "SHOW"
            | "EXPLAIN"
            | "START"
            | "COMMIT"
            | "ROLLBACK"
            | "CALL"
    ) {
        return Ok(None);
    }
    let mut c = Cursor::new(sql)?;
    let statement = if c.keyword("USE") {
        let mut name = c.qualified_name()?;
        let schema = name.pop().expect("qualified_name returns a part");
        if name.len() > 1 {
            return Err(c.unexpected("USE catalog.schema"));
        }
        TrinoStatement::Use {
            catalog: name.pop(),
            schema,
        }
    } else if c.keywords(&["SET", "SESSION"]) {
        if c.is_keyword_at(0, "AUTHORIZATION") {
            return Err(ContangoError::not_supported(
                "SET SESSION AUTHORIZATION is not supported",
            ));
        }
        let name = c.qualified_name()?.join(".");
        if !c.token(&Token::Eq) {
            return Err(c.unexpected("'='"));
        }
        let value = property_value(&mut c)?;
        TrinoStatement::SetSession { name, value }
    } else if c.keywords(&["RESET", "SESSION"]) {
        TrinoStatement::ResetSession {
            name: c.qualified_name()?.join("."),
        }
    } else if c.keyword("PREPARE") {
        let name = c.identifier()?;
        if !c.keyword("FROM") {
            return Err(c.unexpected("FROM"));
        }
        let sql = c.rest().to_string();
        if sql.is_empty() {
            return Err(c.unexpected("a statement"));
        }
        c.pos = c.tokens.len();
        TrinoStatement::Prepare { name, sql }
    } else if c.keywords(&["EXECUTE", "IMMEDIATE"]) {
        let sql = c.string()?;
        TrinoStatement::ExecuteImmediate {
            sql,
            args: using(&mut c)?,
        }
    } else if c.keyword("EXECUTE") {
        let name = c.identifier()?;
        TrinoStatement::Execute {
            name,
            args: using(&mut c)?,
        }
    } else if c.keywords(&["DEALLOCATE", "PREPARE"]) {
        TrinoStatement::Deallocate {
            name: c.identifier()?,
        }
    } else if (c.is_keyword_at(0, "DESCRIBE") || c.is_keyword_at(0, "DESC"))
        && (c.is_keyword_at(1, "INPUT") || c.is_keyword_at(1, "OUTPUT"))
        && c.tokens.len() == 3
    {
        c.pos += 1;
        let input = c.keyword("INPUT");
        c.pos += usize::from(!input);
        let name = c.identifier()?;
        if input {
            TrinoStatement::DescribeInput { name }
        } else {
            TrinoStatement::DescribeOutput { name }
        }
    } else if c.is_keyword_at(0, "DESCRIBE") || c.is_keyword_at(0, "DESC") {
        c.pos += 1;
        TrinoStatement::ShowColumns {
            table: c.qualified_name()?,
            like: None,
        }
    } else if c.keywords(&["SHOW", "COLUMNS"]) {
        if !(c.keyword("FROM") || c.keyword("IN")) {
            return Err(c.unexpected("FROM"));
        }
        let table = c.qualified_name()?;
        TrinoStatement::ShowColumns {
            table,
            like: like(&mut c)?,
        }
    } else if c.keywords(&["SHOW", "CREATE", "TABLE"]) {
        TrinoStatement::ShowCreateTable {
            table: c.qualified_name()?,
        }
    } else if c.keywords(&["SHOW", "CREATE", "SCHEMA"]) {
        TrinoStatement::ShowCreateSchema {
            schema: c.qualified_name()?,
        }
    } else if c.keywords(&["SHOW", "SESSION"]) {
        TrinoStatement::ShowSession {
            like: like(&mut c)?,
        }
    } else if c.keywords(&["SHOW", "FUNCTIONS"]) {
        TrinoStatement::ShowFunctions {
            like: like(&mut c)?,
        }
    } else if c.keyword("EXPLAIN") {
        let (analyze, kind, format) = explain::options(&mut c)?;
        let sql = c.rest().to_string();
        if sql.is_empty() {
            return Err(c.unexpected("a statement to explain"));
        }
        c.pos = c.tokens.len();
        TrinoStatement::Explain {
            analyze,
            kind,
            format,
            sql,
        }
    } else if c.keywords(&["START", "TRANSACTION"]) {
        transaction_modes(&mut c)?;
        TrinoStatement::StartTransaction
    } else if c.keyword("COMMIT") {
        c.keyword("WORK");
        TrinoStatement::Commit
    } else if c.keyword("ROLLBACK") {
        c.keyword("WORK");
        TrinoStatement::Rollback
    } else if c.keyword("CALL") {
        call(&mut c)?
    } else {
        return Ok(None);
    };
    c.expect_end()?;
    Ok(Some(statement))
}

/// `USING a, b` (or nothing).
fn using(c: &mut Cursor<'_>) -> Result<Vec<String>> {
    if c.at_end() {
        return Ok(Vec::new());
    }
    if !c.keyword("USING") {
        return Err(c.unexpected("USING"));
    }
    Ok(c.expression_list()?
        .into_iter()
        .map(|e| format!("({e})"))
        .collect())
}

fn like(c: &mut Cursor<'_>) -> Result<Option<String>> {
    if !c.keyword("LIKE") {
        return Ok(None);
    }
    let pattern = c.string()?;
    if c.keyword("ESCAPE") {
        c.string()?;
    }
    Ok(Some(pattern))
}

/// The value of `SET SESSION x = value`: a literal, as text.
fn property_value(c: &mut Cursor<'_>) -> Result<String> {
    let negative = c.token(&Token::Minus);
    let value = match c.peek() {
        Some(Token::SingleQuotedString(s)) => s.clone(),
        Some(Token::Number(n, _)) => n.clone(),
        Some(Token::Word(w)) if w.quote_style.is_none() => w.value.to_lowercase(),
        _ => return Err(c.unexpected("a literal value")),
    };
    c.pos += 1;
    Ok(if negative { format!("-{value}") } else { value })
}

/// `READ ONLY | READ WRITE | ISOLATION LEVEL ...`, comma-separated.
fn transaction_modes(c: &mut Cursor<'_>) -> Result<()> {
    while !c.at_end() {
        if c.keywords(&["READ", "ONLY"])
            || c.keywords(&["READ", "WRITE"])
            || c.keywords(&["ISOLATION", "LEVEL", "SERIALIZABLE"])
            || c.keywords(&["ISOLATION", "LEVEL", "REPEATABLE", "READ"])
            || c.keywords(&["ISOLATION", "LEVEL", "READ", "COMMITTED"])
            || c.keywords(&["ISOLATION", "LEVEL", "READ", "UNCOMMITTED"])
        {
            if !c.token(&Token::Comma) {
                break;
            }
        } else {
            return Err(c.unexpected("a transaction mode"));
        }
    }
    Ok(())
}

/// The procedures of `system.runtime` and their parameters, in order.
const PROCEDURES: &[(&str, &[&str])] = &[
    ("kill_query", &["query_id", "message"]),
    (
        "accelerate",
        &[
            "table",
            "sort",
            "columns",
            "window",
            "window_column",
            "host_memory",
        ],
    ),
    ("drop_acceleration", &["table"]),
];

/// `CALL system.runtime.<procedure>(...)`, named or positional arguments:
/// string literals, `NULL`, or (for lists) `ARRAY['a', 'b']`.
fn call(c: &mut Cursor<'_>) -> Result<TrinoStatement> {
    let name = c.qualified_name()?;
    let procedure = name.join(".");
    let parts: Vec<&str> = name.iter().map(String::as_str).collect();
    let short = match parts.as_slice() {
        ["system", "runtime", p] | ["runtime", p] | [p] => *p,
        _ => "",
    };
    let Some((short, parameters)) = PROCEDURES.iter().find(|(p, _)| *p == short) else {
        return Err(ContangoError::new(
            contango_common::error::ErrorKind::NotFound,
            format!("Procedure not registered: {procedure}"),
        ));
    };
    if !c.token(&Token::LParen) {
        return Err(c.unexpected("'('"));
    }
    let mut args: std::collections::HashMap<&str, String> = Default::default();
    let mut position = 0;
    while !c.token(&Token::RParen) {
        if position > 0 && !c.token(&Token::Comma) {
            return Err(c.unexpected("',' or ')'"));
        }
        let named = matches!(
            c.tokens.get(c.pos + 1).map(|t| &t.token),
            Some(Token::RArrow)
        );
        let slot = if named {
            let n = c.identifier()?;
            c.pos += 1;
            parameters.iter().find(|p| **p == n).ok_or_else(|| {
                ContangoError::invalid(format!(
                    "Unknown argument name '{n}' of procedure {procedure}"
                ))
            })?
        } else {
            parameters
                .get(position)
                .ok_or_else(|| c.unexpected("')'"))?
        };
        if c.keyword("NULL") {
        } else if c.keyword("ARRAY") {
            if !c.token(&Token::LBracket) {
                return Err(c.unexpected("'['"));
            }
            let mut items = Vec::new();
            while !c.token(&Token::RBracket) {
                if !items.is_empty() && !c.token(&Token::Comma) {
                    return Err(c.unexpected("',' or ']'"));
                }
                items.push(c.string()?);
            }
            args.insert(slot, items.join(","));
        } else {
            args.insert(slot, c.string()?);
        }
        position += 1;
    }
    let mut required = |name: &str| {
        args.remove(name).ok_or_else(|| {
            ContangoError::invalid(format!("Required procedure argument '{name}' is missing"))
        })
    };
    Ok(match *short {
        "kill_query" => TrinoStatement::KillQuery {
            query_id: required("query_id")?,
            message: args.remove("message"),
        },
        "drop_acceleration" => TrinoStatement::Accelerate {
            table: required("table")?,
            options: None,
        },
        _ => {
            let table = required("table")?;
            let list = |v: Option<String>| -> Vec<String> {
                v.map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
            };
            TrinoStatement::Accelerate {
                table,
                options: Some(AccelerateOptions {
                    sort: list(args.remove("sort")),
                    columns: list(args.remove("columns")),
                    window: args.remove("window"),
                    window_column: args.remove("window_column"),
                    host_memory: args.remove("host_memory"),
                }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contango_common::error::ErrorKind;

    fn p(sql: &str) -> TrinoStatement {
        parse(sql)
            .unwrap()
            .unwrap_or_else(|| panic!("not recognised: {sql}"))
    }

    #[test]
    fn session_statements() {
        assert_eq!(
            p("use Iceberg.\"Market\";"),
            TrinoStatement::Use {
                catalog: Some("iceberg".into()),
                schema: "Market".into()
            }
        );
        assert_eq!(
            p("SET SESSION batch_size = 100"),
            TrinoStatement::SetSession {
                name: "batch_size".into(),
                value: "100".into()
            }
        );
        assert_eq!(
            p("set session iceberg.x = 'it''s'"),
            TrinoStatement::SetSession {
                name: "iceberg.x".into(),
                value: "it's".into()
            }
        );
        assert_eq!(
            p("RESET SESSION prefer_hash_join"),
            TrinoStatement::ResetSession {
                name: "prefer_hash_join".into()
            }
        );
        assert_eq!(
            p("START TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE"),
            TrinoStatement::StartTransaction
        );
        assert_eq!(p("commit work"), TrinoStatement::Commit);
        assert_eq!(p("ROLLBACK"), TrinoStatement::Rollback);
    }

    #[test]
    fn prepared_statements() {
        assert_eq!(
            p("PREPARE st_1 FROM SELECT * FROM t WHERE a = ? AND b = 'x;y'"),
            TrinoStatement::Prepare {
                name: "st_1".into(),
                sql: "SELECT * FROM t WHERE a = ? AND b = 'x;y'".into()
            }
        );
        assert_eq!(
            p("EXECUTE st_1 USING 1, 'a', DATE '2020-01-01', ARRAY[1,2]"),
            TrinoStatement::Execute {
                name: "st_1".into(),
                args: vec![
                    "(1)".into(),
                    "('a')".into(),
                    "(DATE '2020-01-01')".into(),
                    "(ARRAY[1,2])".into()
                ]
            }
        );
        assert_eq!(
            p("EXECUTE IMMEDIATE 'SELECT ''a'', ?' USING -1.5"),
            TrinoStatement::ExecuteImmediate {
                sql: "SELECT 'a', ?".into(),
                args: vec!["(-1.5)".into()]
            }
        );
        assert_eq!(
            p("DEALLOCATE PREPARE st_1"),
            TrinoStatement::Deallocate {
                name: "st_1".into()
            }
        );
        assert_eq!(
            p("DESCRIBE OUTPUT st_1"),
            TrinoStatement::DescribeOutput {
                name: "st_1".into()
            }
        );
        assert_eq!(
            p("describe input st_1"),
            TrinoStatement::DescribeInput {
                name: "st_1".into()
            }
        );
    }

    #[test]
    fn other_statements_pass_through() {
        for sql in [
            "SELECT 1",
            "SHOW TABLES",
            "WITH x AS (SELECT 1) SELECT * FROM x",
        ] {
            assert_eq!(parse(sql).unwrap(), None, "{sql}");
        }
    }

    #[test]
    fn kill_query_arguments() {
        assert_eq!(
            p("CALL system.runtime.kill_query(query_id => '20260101_x', message => 'too slow')"),
            TrinoStatement::KillQuery {
                query_id: "20260101_x".into(),
                message: Some("too slow".into())
            }
        );
        assert_eq!(
            p("call system.runtime.kill_query('q1')"),
            TrinoStatement::KillQuery {
                query_id: "q1".into(),
                message: None
            }
        );
        assert_eq!(
            parse("CALL system.runtime.nope()").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn acceleration_procedures() {
        assert_eq!(
            p(
                "CALL system.runtime.accelerate(table => 'iceberg.market.ticks', \
               sort => ARRAY['commodity', 'ts'], window => '90d', host_memory => '4GB')"
            ),
            TrinoStatement::Accelerate {
                table: "iceberg.market.ticks".into(),
                options: Some(AccelerateOptions {
                    sort: vec!["commodity".into(), "ts".into()],
                    window: Some("90d".into()),
                    host_memory: Some("4GB".into()),
                    ..Default::default()
                })
            }
        );
        // Positional, lists as text, NULL for a default.
        assert_eq!(
            p("call runtime.accelerate('eia.wti', 'Date', 'Date, Price', NULL)"),
            TrinoStatement::Accelerate {
                table: "eia.wti".into(),
                options: Some(AccelerateOptions {
                    sort: vec!["Date".into()],
                    columns: vec!["Date".into(), "Price".into()],
                    ..Default::default()
                })
            }
        );
        assert_eq!(
            p("CALL system.runtime.drop_acceleration('eia.wti')"),
            TrinoStatement::Accelerate {
                table: "eia.wti".into(),
                options: None
            }
        );
        for (sql, says) in [
            (
                "CALL system.runtime.accelerate(sort => 'x')",
                "argument 'table' is missing",
            ),
            (
                "CALL system.runtime.accelerate(table => 't', speed => 'max')",
                "Unknown argument name 'speed'",
            ),
        ] {
            let e = parse(sql).unwrap_err();
            assert!(e.message().contains(says), "{sql}: {}", e.message());
        }
    }

    #[test]
    fn malformed_forms_are_syntax_errors() {
        for sql in [
            "SET SESSION x",
            "PREPARE x FROM",
            "EXECUTE x USING",
            "EXECUTE x 1",
            "USE",
            "USE a.b.c",
            "COMMIT now",
            "EXPLAIN",
        ] {
            let e = parse(sql).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Syntax, "{sql}: {}", e.message());
        }
    }
}
