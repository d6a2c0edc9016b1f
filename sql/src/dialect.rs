//! Trino syntax DataFusion's parser reads differently, rewritten on tokens
//! before planning:
//!
//! - `TIMESTAMP '2020-01-01 00:00:00 UTC'` (a literal with a zone) becomes
//!   `with_timezone(TIMESTAMP '2020-01-01 00:00:00', 'UTC')`, a
//!   `timestamp with time zone` as in Trino (DataFusion drops the zone).
//! - `localtimestamp` without parentheses becomes `localtimestamp()`.
//! - `INTERVAL '1' SECOND * (expr)` (an interval times a number, as Superset's
//!   time grains write it) becomes `interval_times('1', 'SECOND', (expr))`;
//!   DataFusion cannot multiply an interval.
//!
//! Nothing inside string literals, quoted identifiers or comments changes.

use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::Result;
use crate::lexer::lex;

/// `sql` with the Trino forms rewritten, or `None` when nothing changes.
pub fn rewrite(sql: &str) -> Result<Option<String>> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("timestamp") && !lower.contains("interval") {
        return Ok(None);
    }
    let tokens = lex(sql)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Token::Word(w) = &t.token else { continue };
        if w.quote_style.is_some() {
            continue;
        }
        let next = tokens.get(i + 1).map(|n| &n.token);
        if w.value.eq_ignore_ascii_case("timestamp")
            && let Some(Token::SingleQuotedString(text)) = next
            && let Some((local, zone)) = split_zone(text)
        {
            let end = tokens[i + 1].end;
            edits.push((
                t.start,
                end,
                format!(
                    "with_timezone(TIMESTAMP '{}', '{}')",
                    local.replace('\'', "''"),
                    zone.replace('\'', "''")
                ),
            ));
        } else if w.value.eq_ignore_ascii_case("interval")
            && let Some(Token::SingleQuotedString(count)) = next
            && let Some(Token::Word(unit)) = tokens.get(i + 2).map(|t| &t.token)
            && INTERVAL_UNITS
                .iter()
                .any(|u| unit.value.eq_ignore_ascii_case(u))
            && tokens.get(i + 3).map(|t| &t.token) == Some(&Token::Mul)
            && let Some(end) = operand_end(&tokens, i + 4)
        {
            let factor = &sql[tokens[i + 4].start..tokens[end].end];
            edits.push((
                t.start,
                tokens[end].end,
                format!(
                    "interval_times('{}', '{}', {factor})",
                    count.replace('\'', "''"),
                    unit.value.to_ascii_uppercase()
                ),
            ));
        } else if w.value.eq_ignore_ascii_case("localtimestamp")
            && next != Some(&Token::LParen)
            && !matches!(
                tokens.get(i.wrapping_sub(1)).map(|p| &p.token),
                Some(Token::Period)
            )
        {
            edits.push((t.start, t.end, "localtimestamp()".into()));
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    // Nested matches (an interval product inside another) keep the outer one.
    edits.sort_by_key(|e| e.0);
    let mut kept: Vec<(usize, usize, String)> = Vec::new();
    for e in edits {
        if kept.last().is_none_or(|k| e.0 >= k.1) {
            kept.push(e);
        }
    }
    let edits = kept;
    let mut out = String::with_capacity(sql.len() + 32 * edits.len());
    let mut copied = 0;
    for (start, end, text) in edits {
        out.push_str(&sql[copied..start]);
        out.push_str(&text);
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Ok(Some(out))
}

const INTERVAL_UNITS: &[&str] = &["SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"];

/// Index of the last token of the multiplication operand starting at `i`: a
/// parenthesised group, or one number or name.
fn operand_end(tokens: &[crate::lexer::Tok], i: usize) -> Option<usize> {
    match &tokens.get(i)?.token {
        Token::LParen => {
            let mut depth = 0;
            for (k, t) in tokens.iter().enumerate().skip(i) {
                match t.token {
                    Token::LParen => depth += 1,
                    Token::RParen => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(k);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        Token::Number(_, _) | Token::Word(_) => Some(i),
        _ => None,
    }
}

/// `2020-01-01 00:00:00[.fff] ZONE` → (local part, zone); `None` without a zone.
fn split_zone(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let (local, zone) = text.rsplit_once(' ')?;
    // The local part must hold a time (a space between date and time).
    if !local.contains(':') || local.len() < 16 {
        return None;
    }
    let zone_ok = zone.contains('/')
        || zone.starts_with('+')
        || zone.starts_with('-')
        || zone.chars().all(|c| c.is_ascii_uppercase()) && zone.len() <= 5;
    zone_ok.then_some((local, zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoned_timestamp_literals_and_localtimestamp() {
        assert_eq!(
            rewrite("SELECT TIMESTAMP '2020-01-01 00:00:00 UTC' AS t")
                .unwrap()
                .unwrap(),
            "SELECT with_timezone(TIMESTAMP '2020-01-01 00:00:00', 'UTC') AS t"
        );
        assert_eq!(
            rewrite("select timestamp '2020-01-01 10:00:00.5 America/New_York', 'TIMESTAMP ''x 1:2 UTC'''")
                .unwrap()
                .unwrap(),
            "select with_timezone(TIMESTAMP '2020-01-01 10:00:00.5', 'America/New_York'), 'TIMESTAMP ''x 1:2 UTC'''"
        );
        assert_eq!(
            rewrite("SELECT TIMESTAMP '2020-01-01 00:00:00 +02:00'")
                .unwrap()
                .unwrap(),
            "SELECT with_timezone(TIMESTAMP '2020-01-01 00:00:00', '+02:00')"
        );
        assert_eq!(
            rewrite("SELECT TIMESTAMP '2020-01-01 00:00:00'").unwrap(),
            None
        );
        assert_eq!(rewrite("SELECT TIMESTAMP '2020-01-01'").unwrap(), None);
        assert_eq!(
            rewrite("SELECT t - interval '1' minute * (minute(t) % 5) FROM x")
                .unwrap()
                .unwrap(),
            "SELECT t - interval_times('1', 'MINUTE', (minute(t) % 5)) FROM x"
        );
        assert_eq!(rewrite("SELECT INTERVAL '1' DAY + x").unwrap(), None);
        assert_eq!(
            rewrite("SELECT localtimestamp, localtimestamp()")
                .unwrap()
                .unwrap(),
            "SELECT localtimestamp(), localtimestamp()"
        );
    }
}
