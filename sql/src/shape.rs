//! The statement size guard: before anything walks a statement recursively
//! (the parser's tree, Contango's rewrites, DataFusion's planner and
//! optimizer, even dropping the tree), the token stream is checked for the
//! constructs that build deep trees: chains of binary operators
//! (`1+1+...`, `a AND b AND ...`), chains of set operations (`UNION ALL`
//! branches) and chains of common table expressions. Each is bounded by
//! [`MAX_CHAIN`]; beyond it the statement is refused as Trino refuses a
//! statement too large to analyse, instead of overflowing a stack (which
//! aborts the process). Parenthesised nesting is bounded by the parser
//! itself (its recursion limit). Long flat lists (`IN (...)`, `VALUES`,
//! `CASE` branches, select lists) are not chains and are not limited here.
//!
//! Linear in the statement length.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use contango_common::error::{ContangoError, ErrorKind, Result};

/// Longest chain of operators, set operations or CTEs in one statement.
pub const MAX_CHAIN: usize = 1000;

/// Refuses statements whose trees would nest deeper than [`MAX_CHAIN`].
pub fn check(sql: &str) -> Result<()> {
    let tokens = crate::lexer::lex(sql)?;
    // Per parenthesis level: operators of each precedence class since the
    // last separator (a left-deep chain is one class repeated), and set
    // operations in the level.
    let mut operators: Vec<[usize; CLASSES]> = vec![[0; CLASSES]];
    let mut set_operations: Vec<usize> = vec![0];
    let mut ctes = 0usize;
    let mut previous: Option<&Token> = None;
    let too_large = |what: &str, n: usize| {
        Err(ContangoError::new(
            ErrorKind::Syntax,
            format!(
                "Statement is too large: a chain of {n} {what} nests deeper than the {MAX_CHAIN} allowed \
                 (split it, or use an IN list or a table)"
            ),
        ))
    };
    for t in &tokens {
        let level = operators.len() - 1;
        let mut class = None;
        match &t.token {
            Token::LParen => {
                if matches!(previous, Some(Token::Word(w)) if w.keyword == Keyword::AS) {
                    ctes += 1;
                    if ctes > MAX_CHAIN {
                        return too_large("common table expressions", ctes);
                    }
                }
                operators.push([0; CLASSES]);
                set_operations.push(0);
            }
            Token::RParen if operators.len() > 1 => {
                operators.pop();
                set_operations.pop();
            }
            Token::Comma => operators[level] = [0; CLASSES],
            // A sign is not a binary operator.
            Token::Plus | Token::Minus if !after_operand(previous) => {}
            Token::Plus | Token::Minus => class = Some(0),
            Token::Mul | Token::Div | Token::Mod | Token::DuckIntDiv => class = Some(1),
            Token::StringConcat => class = Some(2),
            Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq => class = Some(3),
            Token::Ampersand | Token::Pipe | Token::Caret => class = Some(4),
            Token::Word(w) => match w.keyword {
                Keyword::AND => class = Some(5),
                Keyword::OR => class = Some(6),
                Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT => {
                    set_operations[level] += 1;
                    operators[level] = [0; CLASSES];
                    if set_operations[level] > MAX_CHAIN {
                        return too_large("set operations", set_operations[level]);
                    }
                }
                Keyword::SELECT
                | Keyword::FROM
                | Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::ON
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
                | Keyword::END => operators[level] = [0; CLASSES],
                _ => {}
            },
            _ => {}
        }
        if let Some(c) = class {
            // A looser operator ends the chains of tighter ones below it.
            for (other, count) in operators[level].iter_mut().enumerate() {
                if PRECEDENCE[other] > PRECEDENCE[c] {
                    *count = 0;
                }
            }
            operators[level][c] += 1;
            if operators[level][c] > MAX_CHAIN {
                return too_large("operators", operators[level][c]);
            }
        }
        previous = Some(&t.token);
    }
    Ok(())
}

/// Precedence classes of binary operators: additive, multiplicative,
/// concatenation, comparison, bitwise, AND, OR.
const CLASSES: usize = 7;
/// Binding strength of each class (higher binds tighter).
const PRECEDENCE: [u8; CLASSES] = [6, 7, 5, 3, 4, 2, 1];

/// Whether the token before a `+`/`-` ends an operand (then it is binary).
fn after_operand(previous: Option<&Token>) -> bool {
    match previous {
        Some(Token::Number(..))
        | Some(Token::SingleQuotedString(_))
        | Some(Token::RParen)
        | Some(Token::RBracket)
        | Some(Token::Placeholder(_)) => true,
        Some(Token::Word(w)) => w.keyword == Keyword::NoKeyword || w.quote_style.is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        let e = check(sql).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        e.message().to_string()
    }

    #[test]
    fn chains_are_bounded_and_lists_are_not() {
        let n = MAX_CHAIN;
        check(&format!("SELECT {}", vec!["1"; n + 1].join("+"))).unwrap();
        let m = refused(&format!("SELECT {}", vec!["1"; n + 2].join("+")));
        assert!(m.contains("chain of 1001 operators"), "{m}");
        let ands = vec!["p > 0"; n + 2].join(" AND ");
        // Signs and comparisons inside the terms are not part of the chain.
        check(&format!(
            "SELECT 1 FROM t WHERE {}",
            vec!["p > -1000"; n + 1].join(" AND ")
        ))
        .unwrap();
        assert!(refused(&format!("SELECT 1 FROM t WHERE {ands}")).contains("operators"));
        let union = vec!["SELECT 1"; n + 2].join(" UNION ALL ");
        assert!(refused(&union).contains("set operations"));
        check(&vec!["SELECT 1"; n + 1].join(" UNION ALL ")).unwrap();
        let ctes: Vec<String> = (0..=n).map(|i| format!("c{i} AS (SELECT 1)")).collect();
        let m = refused(&format!("WITH {} SELECT 1", ctes.join(", ")));
        assert!(m.contains("common table expressions"), "{m}");
        // Flat lists: an IN list, CASE branches and select items of any length.
        let list: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        check(&format!("SELECT 1 FROM t WHERE x IN ({})", list.join(", "))).unwrap();
        let whens: Vec<String> = (0..5000)
            .map(|i| format!("WHEN x = {i} THEN {i}"))
            .collect();
        check(&format!("SELECT CASE {} END", whens.join(" "))).unwrap();
        let items: Vec<String> = (0..5000).map(|i| format!("a + {i}")).collect();
        check(&format!("SELECT {}", items.join(", "))).unwrap();
        // Chains in separate parentheses or clauses count separately.
        let half = vec!["1"; 800].join("+");
        check(&format!("SELECT ({half}) + ({half}) WHERE {half} > 0")).unwrap();
    }
}
