//! Trino's regular-expression functions (Java-like patterns, run by the
//! `regex` crate): `regexp_extract(s, p [, group])` (the first match or its
//! group, NULL when none), `regexp_extract_all`, `regexp_replace(s, p [, r])`
//! (every match replaced, `$1` group references; DataFusion's replaces only
//! the first without the `g` flag), `regexp_split` and `regexp_position`
//! (1-based character position, -1 when there is no match).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result as DFResult;
use datafusion::functions::expr_fn as f;
use datafusion::functions_nested::expr_fn as nested;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, ScalarUDF, lit};

use super::{Scalar, any, cast_to, invalid_argument, text_columns, variadic_any};

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        regexp_extract(),
        regexp_replace(),
        regexp_extract_all(),
        regexp_split(),
        regexp_position(),
    ]
}

/// `regexp_extract(s, p [, group])`: the first match (or its group), NULL when none.
fn regexp_extract() -> ScalarUDF {
    Scalar::rewrite(
        "regexp_extract",
        variadic_any(),
        |types, _| match types.len() {
            2 | 3 => Ok(DataType::Utf8),
            n => Err(invalid_argument(format!(
                "regexp_extract takes 2 or 3 arguments, got {n}"
            ))),
        },
        |mut args, _| {
            let group = if args.len() == 3 { args.pop() } else { None };
            let pattern = args.pop().expect("pattern");
            let s = args.pop().expect("string");
            // The whole match becomes group 1; Trino's group g becomes g + 1.
            let wrapped = f::concat(vec![lit("("), pattern, lit(")")]);
            let index = match group {
                Some(g) => Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(cast_to(g, DataType::Int64)),
                    Operator::Plus,
                    Box::new(lit(1i64)),
                )),
                None => lit(1i64),
            };
            Ok(cast_to(
                nested::array_element(
                    crate::limits::checked_regexp_match()
                        .call(vec![cast_to(s, DataType::Utf8), wrapped]),
                    index,
                ),
                DataType::Utf8,
            ))
        },
    )
}

/// `regexp_replace(s, p [, r])`: every match replaced (`$1` group references).
fn regexp_replace() -> ScalarUDF {
    Scalar::rewrite(
        "regexp_replace",
        variadic_any(),
        |types, _| match types.len() {
            2 | 3 => Ok(DataType::Utf8),
            n => Err(invalid_argument(format!(
                "regexp_replace takes 2 or 3 arguments, got {n}"
            ))),
        },
        |mut args, _| {
            let replacement = if args.len() == 3 {
                args.pop().expect("3")
            } else {
                lit("")
            };
            let pattern = args.pop().expect("pattern");
            let s = args.pop().expect("string");
            Ok(cast_to(
                crate::limits::checked_regexp_replace().call(vec![
                    cast_to(s, DataType::Utf8),
                    pattern,
                    replacement,
                    lit("g"),
                ]),
                DataType::Utf8,
            ))
        },
    )
}

/// A compiled pattern, cached while it stays the same across rows.
struct Patterns(Option<(String, regex::Regex)>);

impl Patterns {
    fn get(&mut self, p: &str) -> DFResult<&regex::Regex> {
        if self.0.as_ref().is_none_or(|(raw, _)| raw != p) {
            crate::pattern_cost::check("regular expression", p)?;
            let re = regex::Regex::new(p)
                .map_err(|e| invalid_argument(format!("invalid regular expression '{p}': {e}")))?;
            self.0 = Some((p.to_string(), re));
        }
        Ok(&self.0.as_ref().expect("set above").1)
    }
}

fn string_list_type() -> DataType {
    DataType::List(Arc::new(
        datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
    ))
}

/// `regexp_extract_all(s, p [, group])`: every match (or its group).
fn regexp_extract_all() -> ScalarUDF {
    Scalar::eval(
        "regexp_extract_all",
        variadic_any(),
        |_, _| Ok(string_list_type()),
        |args, _| {
            let t = text_columns(&args[..2])?;
            let (s, p) = (t[0].as_string::<i32>(), t[1].as_string::<i32>());
            let group = match args.get(2) {
                Some(g) => Some(cast(g, &DataType::Int64)?),
                None => None,
            };
            let mut patterns = Patterns(None);
            let mut b = datafusion::arrow::array::ListBuilder::new(
                datafusion::arrow::array::StringBuilder::new(),
            );
            for i in 0..s.len() {
                if s.is_null(i) || p.is_null(i) {
                    b.append_null();
                    continue;
                }
                let g = group.as_ref().map_or(0, |a| {
                    a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(i)
                }) as usize;
                let re = patterns.get(p.value(i))?;
                if g > re.captures_len() - 1 {
                    return Err(invalid_argument(format!(
                        "Pattern has {} groups. Cannot access group {g}",
                        re.captures_len() - 1
                    )));
                }
                for c in re.captures_iter(s.value(i)) {
                    b.values().append_option(c.get(g).map(|m| m.as_str()));
                }
                b.append(true);
            }
            Ok(Arc::new(b.finish()))
        },
    )
}

/// `regexp_split(s, p)`: the pieces between matches.
fn regexp_split() -> ScalarUDF {
    Scalar::eval(
        "regexp_split",
        any(2),
        |_, _| Ok(string_list_type()),
        |args, _| {
            let t = text_columns(args)?;
            let (s, p) = (t[0].as_string::<i32>(), t[1].as_string::<i32>());
            let mut patterns = Patterns(None);
            let mut b = datafusion::arrow::array::ListBuilder::new(
                datafusion::arrow::array::StringBuilder::new(),
            );
            for i in 0..s.len() {
                if s.is_null(i) || p.is_null(i) {
                    b.append_null();
                    continue;
                }
                for piece in patterns.get(p.value(i))?.split(s.value(i)) {
                    b.values().append_value(piece);
                }
                b.append(true);
            }
            Ok(Arc::new(b.finish()))
        },
    )
}

/// `regexp_position(s, p [, start [, occurrence]])`: 1-based character
/// position of the match, −1 when there is none.
fn regexp_position() -> ScalarUDF {
    Scalar::eval(
        "regexp_position",
        variadic_any(),
        |_, _| Ok(DataType::Int32),
        |args, _| {
            let t = text_columns(&args[..2])?;
            let (s, p) = (t[0].as_string::<i32>(), t[1].as_string::<i32>());
            let number = |k: usize| -> DFResult<Option<ArrayRef>> {
                args.get(k)
                    .map(|a| Ok(cast(a, &DataType::Int64)?))
                    .transpose()
            };
            let (start, occurrence) = (number(2)?, number(3)?);
            let at = |a: &Option<ArrayRef>, i: usize, default: i64| {
                a.as_ref().map_or(default, |a| {
                    a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(i)
                })
            };
            let mut patterns = Patterns(None);
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                if s.is_null(i) || p.is_null(i) {
                    out.push(None);
                    continue;
                }
                let (from, nth) = (at(&start, i, 1), at(&occurrence, i, 1));
                if from < 1 || nth < 1 {
                    return Err(invalid_argument("start and occurrence must be positive"));
                }
                let text = s.value(i);
                let offset = text
                    .char_indices()
                    .nth(from as usize - 1)
                    .map_or(text.len(), |(b, _)| b);
                let hit = patterns
                    .get(p.value(i))?
                    .find_iter(&text[offset..])
                    .nth(nth as usize - 1);
                out.push(Some(hit.map_or(-1, |m| {
                    text[..offset + m.start()].chars().count() as i32 + 1
                })));
            }
            Ok(Arc::new(datafusion::arrow::array::Int32Array::from(out)))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::value;

    #[tokio::test]
    async fn extract_and_replace() {
        // Trino docs: regexp_extract, regexp_replace.
        assert_eq!(
            value("SELECT regexp_extract('1a 2b 14m', '\\d+')").await,
            "1"
        );
        assert_eq!(
            value("SELECT regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)").await,
            "a"
        );
        assert_eq!(value("SELECT regexp_extract('abc', '\\d')").await, "NULL");
        assert_eq!(
            value("SELECT regexp_replace('1a 2b 14m', '\\d+[ab] ')").await,
            "14m"
        );
        assert_eq!(
            value("SELECT regexp_replace('1a 2b 14m', '(\\d+)([ab]) ', '3c$2 ')").await,
            "3ca 3cb 14m"
        );
    }
}
