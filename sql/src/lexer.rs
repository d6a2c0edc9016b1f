//! Tokens of a statement with their byte ranges, and a cursor over them, for
//! the statement forms Contango recognises before DataFusion's parser (Trino
//! statements, placeholders). Whitespace and comments are dropped; string
//! literals stay single tokens, so nothing inside them is ever rewritten.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use contango_common::error::{ContangoError, ErrorKind, Result};

/// A token and where it is in the source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    /// The token.
    pub token: Token,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// Turns the tokenizer's (line, column) positions (1-based, columns in
/// characters) into byte offsets. Positions arrive in order, so it walks
/// forward from the last one: linear in the text, however long its lines.
struct Locator<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
    /// The last position found: line, column and byte offset.
    last: (u64, u64, usize),
}

impl<'a> Locator<'a> {
    fn new(sql: &'a str) -> Self {
        Self {
            sql,
            line_starts: std::iter::once(0)
                .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            last: (1, 1, 0),
        }
    }

    fn offset(&mut self, line: u64, column: u64) -> usize {
        if line == 0 || column == 0 {
            return self.sql.len();
        }
        let (from_column, from) = if line == self.last.0 && column >= self.last.1 {
            (self.last.1, self.last.2)
        } else {
            let index = (line as usize - 1).min(self.line_starts.len() - 1);
            (1, self.line_starts[index])
        };
        let at = self.sql[from..]
            .char_indices()
            .nth((column - from_column) as usize)
            .map_or(self.sql.len(), |(i, _)| from + i);
        self.last = (line, column, at);
        at
    }
}

/// Tokenises `sql` (GenericDialect), keeping byte ranges, without whitespace,
/// comments and trailing semicolons.
pub fn lex(sql: &str) -> Result<Vec<Tok>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| ContangoError::new(ErrorKind::Syntax, e.to_string()))?;
    let mut locate = Locator::new(sql);
    let mut out: Vec<Tok> = tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|t| Tok {
            start: locate.offset(t.span.start.line, t.span.start.column),
            end: locate.offset(t.span.end.line, t.span.end.column),
            token: t.token,
        })
        .collect();
    while matches!(
        out.last(),
        Some(Tok {
            token: Token::SemiColon,
            ..
        })
    ) {
        out.pop();
    }
    Ok(out)
}

/// A cursor over lexed tokens.
pub struct Cursor<'a> {
    /// The source text.
    pub sql: &'a str,
    /// Its tokens.
    pub tokens: Vec<Tok>,
    /// Index of the next token.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `sql`.
    pub fn new(sql: &'a str) -> Result<Self> {
        Ok(Self {
            sql,
            tokens: lex(sql)?,
            pos: 0,
        })
    }

    /// The next token, if any.
    pub fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.token)
    }

    /// Whether token `pos + ahead` is the unquoted keyword `k`.
    pub fn is_keyword_at(&self, ahead: usize, k: &str) -> bool {
        matches!(self.tokens.get(self.pos + ahead).map(|t| &t.token),
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k))
    }

    /// Consumes the unquoted keyword `k` if it is next.
    pub fn keyword(&mut self, k: &str) -> bool {
        let hit = self.is_keyword_at(0, k);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Consumes the keywords `ks` if they are all next, in order.
    pub fn keywords(&mut self, ks: &[&str]) -> bool {
        let hit = ks.iter().enumerate().all(|(i, k)| self.is_keyword_at(i, k));
        if hit {
            self.pos += ks.len();
        }
        hit
    }

    /// Consumes `t` if it is next.
    pub fn token(&mut self, t: &Token) -> bool {
        let hit = self.peek() == Some(t);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Whether every token was consumed.
    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// A syntax error about the next token.
    pub fn unexpected(&self, expected: &str) -> ContangoError {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some(t) => t.to_string(),
        };
        ContangoError::new(
            ErrorKind::Syntax,
            format!("Expected {expected}, found: {found}{}", self.location()),
        )
    }

    /// ` at Line: L, Column: C` of the next token (or of the end of input).
    fn location(&self) -> String {
        let offset = self
            .tokens
            .get(self.pos)
            .map_or(self.sql.len(), |t| t.start);
        let before = &self.sql[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" at Line: {line}, Column: {column}")
    }

    /// Fails unless every token was consumed.
    pub fn expect_end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.unexpected("end of statement"))
        }
    }

    /// An identifier: unquoted ones lower-cased (Trino folds them), quoted kept.
    pub fn identifier(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let name = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                self.pos += 1;
                Ok(name)
            }
            _ => Err(self.unexpected("an identifier")),
        }
    }

    /// `a`, `a.b`, `a.b.c`.
    pub fn qualified_name(&mut self) -> Result<Vec<String>> {
        let mut parts = vec![self.identifier()?];
        while self.token(&Token::Period) {
            parts.push(self.identifier()?);
        }
        Ok(parts)
    }

    /// A single-quoted string literal.
    pub fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("a string literal")),
        }
    }

    /// The source text from the next token to the end.
    pub fn rest(&self) -> &'a str {
        match self.tokens.get(self.pos) {
            Some(t) => {
                let end = self.tokens.last().map_or(self.sql.len(), |t| t.end);
                &self.sql[t.start..end]
            }
            None => "",
        }
    }

    /// Comma-separated expressions up to the end, as source text slices
    /// (commas inside parentheses, brackets and literals do not split).
    pub fn expression_list(&mut self) -> Result<Vec<&'a str>> {
        let mut items = Vec::new();
        let mut depth = 0i32;
        let mut start: Option<usize> = None;
        let mut end = 0;
        while let Some(t) = self.tokens.get(self.pos) {
            match t.token {
                Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
                Token::RParen | Token::RBracket | Token::RBrace => depth -= 1,
                Token::Comma if depth == 0 => {
                    let s = start
                        .take()
                        .ok_or_else(|| self.unexpected("an expression"))?;
                    items.push(&self.sql[s..end]);
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            start.get_or_insert(t.start);
            end = t.end;
            self.pos += 1;
        }
        match start {
            Some(s) => items.push(&self.sql[s..end]),
            None => return Err(self.unexpected("an expression")),
        }
        Ok(items)
    }
}

/// Byte ranges of the `?` placeholders in `sql`, in order.
pub fn question_marks(sql: &str) -> Result<Vec<(usize, usize)>> {
    if !sql.contains('?') {
        return Ok(Vec::new());
    }
    Ok(lex(sql)?
        .into_iter()
        .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
        .map(|t| (t.start, t.end))
        .collect())
}

/// `sql` with each `?` replaced by the next of `values` (verbatim).
pub fn replace_question_marks(sql: &str, values: &[String]) -> Result<String> {
    let marks = question_marks(sql)?;
    if marks.len() != values.len() {
        return Err(ContangoError::bad_parameters(format!(
            "Incorrect number of parameters: expected {} but found {}",
            marks.len(),
            values.len()
        )));
    }
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    let mut copied = 0;
    for ((start, end), value) in marks.into_iter().zip(values) {
        out.push_str(&sql[copied..start]);
        out.push_str(value);
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_survive_multibyte_text_and_lines() {
        let sql = "SELECT 'é?'\n,  ? -- x?\n, \"ü\" FROM t WHERE a = ?;";
        let marks = question_marks(sql).unwrap();
        assert_eq!(marks.len(), 2);
        for (s, e) in &marks {
            assert_eq!(&sql[*s..*e], "?");
        }
        let out = replace_question_marks(sql, &["(1)".into(), "('a')".into()]).unwrap();
        assert_eq!(
            out,
            "SELECT 'é?'\n,  (1) -- x?\n, \"ü\" FROM t WHERE a = ('a');"
        );
        assert_eq!(
            replace_question_marks(sql, &[]).unwrap_err().kind(),
            ErrorKind::BadParameters
        );
    }

    #[test]
    fn byte_ranges_on_one_long_line_and_after_it() {
        // Tokens found by walking forward along one long line, then on the
        // next lines (positions restart at a line's start).
        let mut sql = String::from("SELECT ");
        for i in 0..20_000 {
            sql.push_str(&format!("'é{i}', "));
        }
        sql.push_str("1\nFROM\n  t");
        let toks = lex(&sql).unwrap();
        assert_eq!(toks.len(), 1 + 2 * 20_000 + 1 + 2);
        for (i, t) in toks.iter().skip(1).step_by(2).take(20_000).enumerate() {
            assert_eq!(&sql[t.start..t.end], format!("'é{i}'"));
        }
        let last = &toks[toks.len() - 1];
        assert_eq!(&sql[last.start..last.end], "t");
        let from = &toks[toks.len() - 2];
        assert_eq!(&sql[from.start..from.end], "FROM");
    }

    #[test]
    fn cursor_reads_names_lists_and_rest() {
        let sql = "EXECUTE st USING 1, 'a,b', ARRAY[1, 2], f(x, y)";
        let mut c = Cursor::new(sql).unwrap();
        assert!(c.keyword("execute"));
        assert_eq!(c.identifier().unwrap(), "st");
        assert!(c.keyword("USING"));
        assert_eq!(
            c.expression_list().unwrap(),
            vec!["1", "'a,b'", "ARRAY[1, 2]", "f(x, y)"]
        );
        let mut c = Cursor::new("PREPARE q FROM\n  SELECT ? ;").unwrap();
        assert!(c.keywords(&["PREPARE"]));
        c.identifier().unwrap();
        assert!(c.keyword("FROM"));
        assert_eq!(c.rest(), "SELECT ?");
        let mut c = Cursor::new("USE \"My Cat\".Sch").unwrap();
        c.keyword("use");
        assert_eq!(c.qualified_name().unwrap(), vec!["My Cat", "sch"]);
        let e = Cursor::new("SET SESSION").unwrap().unexpected("x");
        assert!(
            e.message().ends_with("at Line: 1, Column: 1"),
            "{}",
            e.message()
        );
    }
}
