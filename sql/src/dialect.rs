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
//! - Time travel: `t FOR VERSION AS OF 123` becomes the table name `"t@v123"`
//!   and `t FOR TIMESTAMP AS OF TIMESTAMP '...'` becomes `"t@t<epoch ms>"`
//!   (zone from the literal, else the session's); the Iceberg catalog
//!   resolves those names to the snapshot.
//!
//! - `anomalies(table => 't', method => 'zscore', ...)`: named arguments become
//!   positional (DataFusion's table functions take positional arguments only).
//!
//! - Trino's array type `ARRAY(T)` (in casts: `CAST(x AS ARRAY(DOUBLE))`)
//!   becomes `ARRAY<T>`, which DataFusion's parser reads (`ARRAY[...]`, the
//!   constructor, is unchanged).
//!
//! Nothing inside string literals, quoted identifiers or comments changes.

use datafusion::sql::sqlparser::tokenizer::Token;

use crate::lexer::{Tok, lex};
use contango_common::error::{ContangoError, ErrorKind, Result};

/// `sql` with the Trino forms rewritten, or `None` when nothing changes;
/// `time_zone` is the session's (for zone-less time-travel timestamps).
pub fn rewrite(sql: &str, time_zone: &str) -> Result<Option<String>> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("timestamp")
        && !lower.contains("interval")
        && !lower.contains(" of ")
        && !lower.contains("varbinary")
        && !lower.contains("fetch")
        && !lower.contains("=>")
        && !lower.contains("array")
    {
        return Ok(None);
    }
    let tokens = lex(sql)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    time_travel(&tokens, time_zone, &mut edits)?;
    named_table_arguments(sql, &tokens, &mut edits)?;
    array_types(&tokens, &mut edits);
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
                    "with_timezone(CAST('{}' AS TIMESTAMP({})), '{}')",
                    local.replace('\'', "''"),
                    literal_precision(local),
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
        } else if w.value.eq_ignore_ascii_case("fetch")
            && let (
                Some(Token::Word(first)),
                Some(Token::Number(n, _)),
                Some(Token::Word(rows)),
                Some(Token::Word(only)),
            ) = (
                next,
                tokens.get(i + 2).map(|t| &t.token),
                tokens.get(i + 3).map(|t| &t.token),
                tokens.get(i + 4).map(|t| &t.token),
            )
            && (first.value.eq_ignore_ascii_case("first")
                || first.value.eq_ignore_ascii_case("next"))
            && (rows.value.eq_ignore_ascii_case("rows") || rows.value.eq_ignore_ascii_case("row"))
            && only.value.eq_ignore_ascii_case("only")
        {
            // `FETCH FIRST n ROWS ONLY` is `LIMIT n`.
            edits.push((t.start, tokens[i + 4].end, format!("LIMIT {n}")));
        } else if w.value.eq_ignore_ascii_case("timestamp")
            && (matches!(tokens.get(i.wrapping_sub(1)).map(|p| &p.token), Some(Token::Word(a)) if a.quote_style.is_none() && a.value.eq_ignore_ascii_case("AS"))
                || (tokens.get(i.wrapping_sub(1)).map(|p| &p.token) == Some(&Token::LParen)
                    && matches!(tokens.get(i.wrapping_sub(2)).map(|p| &p.token), Some(Token::Word(a)) if a.quote_style.is_none() && a.value.eq_ignore_ascii_case("ARRAY"))))
            && (next == Some(&Token::RParen)
                || matches!(next, Some(Token::Word(n)) if n.value.eq_ignore_ascii_case("WITH")))
        {
            // Trino's plain TIMESTAMP is timestamp(3).
            edits.push((t.start, t.end, "TIMESTAMP(3)".into()));
        } else if w.value.eq_ignore_ascii_case("varbinary") {
            edits.push((t.start, t.end, "BYTEA".into()));
        } else if w.value.eq_ignore_ascii_case("timestamp")
            && let Some(Token::SingleQuotedString(text)) = next
            && text.trim().len() >= 19
            && !matches!(tokens.get(i.wrapping_sub(1)).map(|p| &p.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("OF"))
        {
            let p = literal_precision(text);
            edits.push((
                t.start,
                tokens[i + 1].end,
                format!("CAST('{}' AS TIMESTAMP({p}))", text.replace('\'', "''")),
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

/// `ARRAY(T)` → `ARRAY<T >` (the space keeps nested closers apart: `>>` is
/// a shift). Trino has no `array(...)` function, so a parenthesis after an
/// unquoted `ARRAY` is always the type.
fn array_types(tokens: &[Tok], edits: &mut Vec<(usize, usize, String)>) {
    for (i, t) in tokens.iter().enumerate() {
        let Token::Word(w) = &t.token else { continue };
        if w.quote_style.is_some()
            || !w.value.eq_ignore_ascii_case("array")
            || tokens.get(i + 1).map(|n| &n.token) != Some(&Token::LParen)
            || matches!(
                tokens.get(i.wrapping_sub(1)).map(|p| &p.token),
                Some(Token::Period)
            )
        {
            continue;
        }
        let mut depth = 0usize;
        for close in &tokens[i + 1..] {
            match close.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        let open = &tokens[i + 1];
                        edits.push((open.start, open.end, "<".into()));
                        edits.push((close.start, close.end, " >".into()));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Table functions with named arguments: name, argument order, defaults.
type NamedArguments = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const TABLE_FUNCTIONS: &[NamedArguments] = &[
    (
        "anomalies",
        contango_timeseries::anomalies::ARGUMENTS,
        &["NULL", "'zscore'", "20", "4"],
    ),
    (
        "asof_join",
        contango_timeseries::asof::ARGUMENTS,
        &["NULL", "NULL", "NULL", "'ts'", "'inner'"],
    ),
];

/// `anomalies(name => value, ...)`, `asof_join(...)` → positional arguments
/// in the declared order.
fn named_table_arguments(
    sql: &str,
    tokens: &[Tok],
    edits: &mut Vec<(usize, usize, String)>,
) -> Result<()> {
    for i in 0..tokens.len() {
        let function = match &tokens[i].token {
            Token::Word(w) if w.quote_style.is_none() => TABLE_FUNCTIONS
                .iter()
                .find(|(name, _, _)| w.value.eq_ignore_ascii_case(name)),
            _ => None,
        };
        let Some((function, arguments, defaults)) = function else {
            continue;
        };
        let (function, names, defaults) = (*function, *arguments, *defaults);
        if tokens.get(i + 1).map(|t| &t.token) != Some(&Token::LParen) {
            continue;
        }
        // Split the arguments at depth 1.
        let mut depth = 0;
        let mut args: Vec<(usize, usize)> = Vec::new();
        let mut start = i + 2;
        let mut close = None;
        for (k, t) in tokens.iter().enumerate().skip(i + 1) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        if k > start {
                            args.push((start, k - 1));
                        }
                        close = Some(k);
                        break;
                    }
                }
                Token::Comma if depth == 1 => {
                    args.push((start, k - 1));
                    start = k + 1;
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        let named: Vec<Option<String>> = args
            .iter()
            .map(
                |(a, _)| match (&tokens[*a].token, tokens.get(a + 1).map(|t| &t.token)) {
                    (Token::Word(w), Some(Token::RArrow)) => Some(w.value.to_ascii_lowercase()),
                    _ => None,
                },
            )
            .collect();
        if named.iter().all(Option::is_none) {
            continue;
        }
        let mut slots: Vec<Option<String>> = vec![None; names.len()];
        for ((a, b), name) in args.iter().zip(&named) {
            let (first, position) = match name {
                Some(n) => (
                    a + 2,
                    names.iter().position(|x| x == n).ok_or_else(|| {
                        ContangoError::invalid(format!("{function} has no argument named '{n}'"))
                    })?,
                ),
                None => (
                    *a,
                    slots
                        .iter()
                        .position(Option::is_none)
                        .unwrap_or(names.len()),
                ),
            };
            if position >= names.len() || first > *b {
                return Err(ContangoError::invalid(format!(
                    "{function}: too many or empty arguments"
                )));
            }
            slots[position] = Some(sql[tokens[first].start..tokens[*b].end].to_string());
        }
        let last = slots.iter().rposition(Option::is_some).unwrap_or(0);
        let list: Vec<String> = (0..=last)
            .map(|k| slots[k].clone().unwrap_or_else(|| defaults[k].to_string()))
            .collect();
        edits.push((
            tokens[i + 1].start,
            tokens[close].end,
            format!("({})", list.join(", ")),
        ));
    }
    Ok(())
}

/// `name FOR VERSION|TIMESTAMP AS OF value` edits.
fn time_travel(
    tokens: &[Tok],
    time_zone: &str,
    edits: &mut Vec<(usize, usize, String)>,
) -> Result<()> {
    let word = |i: usize, k: &str| {
        matches!(tokens.get(i).map(|t| &t.token),
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(k))
    };
    for i in 1..tokens.len() {
        if !(word(i, "FOR")
            && (word(i + 1, "VERSION") || word(i + 1, "TIMESTAMP"))
            && word(i + 2, "AS")
            && word(i + 3, "OF"))
        {
            continue;
        }
        let Some(Token::Word(table)) = tokens.get(i - 1).map(|t| &t.token) else {
            continue;
        };
        let bad = |what: &str| {
            ContangoError::new(
                ErrorKind::Syntax,
                format!(
                    "FOR {what} AS OF expects {}",
                    if what == "VERSION" {
                        "a snapshot id"
                    } else {
                        "a TIMESTAMP literal"
                    }
                ),
            )
        };
        let (suffix, end) = if word(i + 1, "VERSION") {
            match tokens.get(i + 4).map(|t| &t.token) {
                Some(Token::Number(n, _)) => (format!("v{n}"), tokens[i + 4].end),
                _ => return Err(bad("VERSION")),
            }
        } else {
            let (text, end) = match (
                tokens.get(i + 4).map(|t| &t.token),
                tokens.get(i + 5).map(|t| &t.token),
            ) {
                (Some(Token::Word(w)), Some(Token::SingleQuotedString(s)))
                    if w.value.eq_ignore_ascii_case("TIMESTAMP") =>
                {
                    (s.clone(), tokens[i + 5].end)
                }
                (Some(Token::SingleQuotedString(s)), _) => (s.clone(), tokens[i + 4].end),
                _ => return Err(bad("TIMESTAMP")),
            };
            (format!("t{}", epoch_millis(&text, time_zone)?), end)
        };
        let name = format!("{}@{suffix}", table.value);
        edits.push((
            tokens[i - 1].start,
            end,
            format!("\"{}\"", name.replace('"', "\"\"")),
        ));
    }
    Ok(())
}

/// Epoch milliseconds of a timestamp literal (`... ZONE` or in `time_zone`).
fn epoch_millis(text: &str, time_zone: &str) -> Result<i64> {
    use chrono::TimeZone;
    let (local, zone) = split_zone(text).unwrap_or((text.trim(), time_zone));
    let invalid = || ContangoError::invalid(format!("Invalid TIMESTAMP literal '{text}'"));
    let t = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(local, f).ok())
    .or_else(|| {
        chrono::NaiveDate::parse_from_str(local, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(invalid)?;
    let tz: datafusion::arrow::array::timezone::Tz = zone
        .parse()
        .map_err(|_| ContangoError::invalid(format!("Time zone not supported: {zone}")))?;
    tz.from_local_datetime(&t)
        .earliest()
        .map(|d| d.timestamp_millis())
        .ok_or_else(invalid)
}

/// Trino types a timestamp literal by its fraction digits: timestamp(p)
/// (here rounded up to the nearest precision Arrow has: 0, 3, 6, 9).
fn literal_precision(text: &str) -> u8 {
    match text.trim().split_once('.').map_or(0, |(_, f)| f.len()) {
        0 => 0,
        1..=3 => 3,
        4..=6 => 6,
        _ => 9,
    }
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

    fn rewrite_utc(sql: &str) -> Result<Option<String>> {
        rewrite(sql, "UTC")
    }

    #[test]
    fn array_types_become_angle_brackets() {
        let r = |sql: &str| rewrite_utc(sql).unwrap();
        assert_eq!(
            r("SELECT CAST(x AS ARRAY(DOUBLE)), try_cast(y AS array (array(varchar(3))))")
                .as_deref(),
            Some("SELECT CAST(x AS ARRAY<DOUBLE >), try_cast(y AS array <array<varchar(3) > >)")
        );
        assert_eq!(
            r("SELECT CAST(x AS ARRAY(TIMESTAMP))").as_deref(),
            Some("SELECT CAST(x AS ARRAY<TIMESTAMP(3) >)")
        );
        // The constructor, a quoted name, a field and a string stay.
        assert_eq!(
            r("SELECT ARRAY[1], \"array\"(1), t.array, 'array(x)'"),
            None
        );
    }

    #[test]
    fn named_anomalies_arguments() {
        assert_eq!(
            rewrite_utc("SELECT * FROM anomalies(method => 'jump', table => 'iceberg.market.ticks', threshold => 5)")
                .unwrap()
                .unwrap(),
            "SELECT * FROM anomalies('iceberg.market.ticks', 'jump', 20, 5)"
        );
        assert_eq!(
            rewrite_utc("SELECT * FROM anomalies('t', 'stale')").unwrap(),
            None
        );
        assert!(rewrite_utc("SELECT * FROM anomalies(tabel => 't')").is_err());
    }

    #[test]
    fn time_travel_names() {
        assert_eq!(
            rewrite_utc("SELECT * FROM iceberg.market.ticks FOR VERSION AS OF 42 t WHERE x = 1")
                .unwrap()
                .unwrap(),
            "SELECT * FROM iceberg.market.\"ticks@v42\" t WHERE x = 1"
        );
        assert_eq!(
            rewrite_utc(
                "SELECT * FROM ticks FOR TIMESTAMP AS OF TIMESTAMP '2020-01-01 00:00:01 UTC'"
            )
            .unwrap()
            .unwrap(),
            "SELECT * FROM \"ticks@t1577836801000\""
        );
        assert_eq!(
            rewrite(
                "SELECT * FROM ticks FOR TIMESTAMP AS OF TIMESTAMP '2020-01-01 01:00:00'",
                "Europe/Paris"
            )
            .unwrap()
            .unwrap(),
            "SELECT * FROM \"ticks@t1577836800000\""
        );
        assert!(rewrite_utc("SELECT * FROM t FOR VERSION AS OF 'x'").is_err());
    }

    #[test]
    fn zoned_timestamp_literals_and_localtimestamp() {
        assert_eq!(
            rewrite_utc("SELECT TIMESTAMP '2020-01-01 00:00:00 UTC' AS t")
                .unwrap()
                .unwrap(),
            "SELECT with_timezone(CAST('2020-01-01 00:00:00' AS TIMESTAMP(0)), 'UTC') AS t"
        );
        assert_eq!(
            rewrite_utc("select timestamp '2020-01-01 10:00:00.5 America/New_York', 'TIMESTAMP ''x 1:2 UTC'''")
                .unwrap()
                .unwrap(),
            "select with_timezone(CAST('2020-01-01 10:00:00.5' AS TIMESTAMP(3)), 'America/New_York'), 'TIMESTAMP ''x 1:2 UTC'''"
        );
        assert_eq!(
            rewrite_utc("SELECT TIMESTAMP '2020-01-01 00:00:00 +02:00'")
                .unwrap()
                .unwrap(),
            "SELECT with_timezone(CAST('2020-01-01 00:00:00' AS TIMESTAMP(0)), '+02:00')"
        );
        assert_eq!(
            rewrite_utc(
                "SELECT TIMESTAMP '2020-01-01 00:00:00', TIMESTAMP '2020-01-01 00:00:00.5'"
            )
            .unwrap()
            .unwrap(),
            "SELECT CAST('2020-01-01 00:00:00' AS TIMESTAMP(0)), CAST('2020-01-01 00:00:00.5' AS TIMESTAMP(3))"
        );
        assert_eq!(rewrite_utc("SELECT TIMESTAMP '2020-01-01'").unwrap(), None);
        assert_eq!(
            rewrite_utc("SELECT t - interval '1' minute * (minute(t) % 5) FROM x")
                .unwrap()
                .unwrap(),
            "SELECT t - interval_times('1', 'MINUTE', (minute(t) % 5)) FROM x"
        );
        assert_eq!(rewrite_utc("SELECT INTERVAL '1' DAY + x").unwrap(), None);
        assert_eq!(
            rewrite_utc("SELECT CAST(ts AS TIMESTAMP), CAST(x AS timestamp with time zone), ts AS timestamp FROM t")
                .unwrap()
                .unwrap(),
            "SELECT CAST(ts AS TIMESTAMP(3)), CAST(x AS TIMESTAMP(3) with time zone), ts AS timestamp FROM t"
        );
        assert_eq!(
            rewrite_utc("SELECT localtimestamp, localtimestamp()")
                .unwrap()
                .unwrap(),
            "SELECT localtimestamp(), localtimestamp()"
        );
    }
}
