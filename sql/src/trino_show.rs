//! Trino's `SHOW CATALOGS`, `SHOW SCHEMAS` and `SHOW TABLES`, rewritten to
//! queries over `information_schema` with Trino's result shape (one column
//! named `Catalog`, `Schema` or `Table`, sorted). Both endpoints plan through
//! [`QueryEngine::plan`](crate::QueryEngine::plan), so both speak these forms.
//!
//! Forms: `SHOW CATALOGS [LIKE 'p']`, `SHOW SCHEMAS [FROM|IN catalog] [LIKE 'p']`,
//! `SHOW TABLES [FROM|IN [catalog.]schema] [LIKE 'p']`.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use contango_common::error::{ContangoError, ErrorKind, Result};
use contango_common::session::Session;

/// The rewritten SQL when `sql` is one of the Trino SHOW forms, else `None`.
pub fn rewrite(sql: &str, session: &Session) -> Result<Option<String>> {
    let trimmed = sql.trim_start();
    if !trimmed
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("show"))
    {
        return Ok(None);
    }
    let tokens: Vec<Token> = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| ContangoError::new(ErrorKind::Syntax, e.to_string()))?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .collect();
    let mut p = Parser { tokens, pos: 0 };
    p.keyword("SHOW");
    let what = if p.keyword("CATALOGS") {
        What::Catalogs
    } else if p.keyword("SCHEMAS") {
        What::Schemas
    } else if p.keyword("TABLES") {
        What::Tables
    } else {
        return Ok(None);
    };
    let mut scope: Vec<String> = Vec::new();
    if what != What::Catalogs && (p.keyword("FROM") || p.keyword("IN")) {
        scope = p.qualified_name()?;
    }
    let like = if p.keyword("LIKE") {
        Some(p.string()?)
    } else {
        None
    };
    if p.pos < p.tokens.len() {
        return Err(ContangoError::new(
            ErrorKind::Syntax,
            format!("unexpected {} in SHOW statement", p.tokens[p.pos]),
        ));
    }
    let like = |column: &str| {
        like.as_ref()
            .map(|l| format!(" AND {column} LIKE {}", literal(l)))
            .unwrap_or_default()
    };
    Ok(Some(match what {
        What::Catalogs => format!(
            "SELECT catalog_name AS \"Catalog\" FROM system.metadata.catalogs \
             WHERE true{} ORDER BY 1",
            like("catalog_name")
        ),
        What::Schemas => {
            let catalog = match scope.as_slice() {
                [] => session.catalog.clone(),
                [c] => c.clone(),
                _ => {
                    return Err(ContangoError::invalid(
                        "SHOW SCHEMAS FROM takes a catalog name",
                    ));
                }
            };
            // DataFusion's schemata omits information_schema; Trino lists it.
            format!(
                "SELECT \"Schema\" FROM (\
                 SELECT schema_name AS \"Schema\" FROM information_schema.schemata \
                 WHERE catalog_name = {c} \
                 UNION SELECT 'information_schema' FROM information_schema.schemata \
                 WHERE catalog_name = {c}) WHERE true{} ORDER BY 1",
                like("\"Schema\""),
                c = literal(&catalog),
            )
        }
        What::Tables => {
            let (catalog, schema) = match scope.as_slice() {
                [] => (session.catalog.clone(), session.schema.clone()),
                [s] => (session.catalog.clone(), s.clone()),
                [c, s] => (c.clone(), s.clone()),
                _ => {
                    return Err(ContangoError::invalid(
                        "SHOW TABLES FROM takes [catalog.]schema",
                    ));
                }
            };
            format!(
                "SELECT table_name AS \"Table\" FROM information_schema.tables \
                 WHERE table_catalog = {} AND table_schema = {}{} ORDER BY 1",
                literal(&catalog),
                literal(&schema),
                like("table_name")
            )
        }
    }))
}

#[derive(PartialEq)]
enum What {
    Catalogs,
    Schemas,
    Tables,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn keyword(&mut self, k: &str) -> bool {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// `a`, `a.b`: unquoted parts are lower-cased, quoted ones kept.
    fn qualified_name(&mut self) -> Result<Vec<String>> {
        let mut parts = Vec::new();
        loop {
            match self.tokens.get(self.pos) {
                Some(Token::Word(w)) => {
                    parts.push(if w.quote_style.is_some() {
                        w.value.clone()
                    } else {
                        w.value.to_lowercase()
                    });
                    self.pos += 1;
                }
                other => {
                    return Err(ContangoError::new(
                        ErrorKind::Syntax,
                        format!("expected a name, found {}", describe(other)),
                    ));
                }
            }
            if matches!(self.tokens.get(self.pos), Some(Token::Period)) {
                self.pos += 1;
            } else {
                return Ok(parts);
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.tokens.get(self.pos) {
            Some(Token::SingleQuotedString(s)) => {
                self.pos += 1;
                Ok(s.clone())
            }
            other => Err(ContangoError::new(
                ErrorKind::Syntax,
                format!(
                    "expected a string pattern after LIKE, found {}",
                    describe(other)
                ),
            )),
        }
    }
}

fn describe(t: Option<&Token>) -> String {
    match t {
        Some(Token::Whitespace(Whitespace::Newline)) | None => "end of input".into(),
        Some(t) => t.to_string(),
    }
}

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("u", "iceberg", "market")
    }

    fn r(sql: &str) -> Option<String> {
        rewrite(sql, &session()).unwrap()
    }

    #[test]
    fn forms() {
        assert!(r("SHOW CATALOGS").unwrap().contains("AS \"Catalog\""));
        let s = r("show schemas from ICEBERG like 'mar%'").unwrap();
        assert!(
            s.contains("catalog_name = 'iceberg'") && s.contains("LIKE 'mar%'"),
            "{s}"
        );
        let t = r("SHOW TABLES").unwrap();
        assert!(
            t.contains("table_schema = 'market'") && t.contains("table_catalog = 'iceberg'"),
            "{t}"
        );
        let t = r("SHOW TABLES IN lake.\"Raw Data\" LIKE 'o''x%';").unwrap();
        assert!(
            t.contains("table_catalog = 'lake'") && t.contains("table_schema = 'Raw Data'"),
            "{t}"
        );
        assert!(t.contains("LIKE 'o''x%'"), "{t}");
    }

    #[test]
    fn other_statements_pass_through() {
        assert_eq!(r("SELECT 1"), None);
        assert_eq!(r("SHOW COLUMNS FROM ticks"), None);
        assert_eq!(r("  "), None);
    }

    #[test]
    fn malformed_forms_are_syntax_errors() {
        for sql in ["SHOW TABLES FROM", "SHOW SCHEMAS LIKE 1", "SHOW CATALOGS x"] {
            let e = rewrite(sql, &session()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Syntax, "{sql}");
        }
    }
}
