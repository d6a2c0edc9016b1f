//! Trino's string functions where DataFusion lacks them or differs:
//! `strpos(s, sub [, instance])` (bigint, character positions, a negative
//! instance counting from the end, 0 when absent), `split(s, d [, limit])`
//! and `split_part(s, d, index)` (1-based, NULL past the last field),
//! `replace(s, search [, with])` (removal by default), `length` (bigint;
//! bytes of a varbinary), `codepoint`, `levenshtein_distance` (bigint) and
//! `to_utf8`. Bad arguments (an empty delimiter, a zero instance) fail as in
//! Trino.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn as f;
use datafusion::logical_expr::{ScalarUDF, lit};

use super::{Scalar, any, cast_to, invalid_argument, text_columns, variadic_any};

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        split(),
        strpos(),
        split_part(),
        to_utf8(),
        replace(),
        length(),
        codepoint(),
        levenshtein_distance(),
    ]
}

/// `split(s, delimiter [, limit])` → array(varchar).
fn split() -> ScalarUDF {
    let list = DataType::List(Arc::new(
        datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
    ));
    let ret = list.clone();
    Scalar::eval(
        "split",
        variadic_any(),
        move |types, _| match types.len() {
            2 | 3 => Ok(ret.clone()),
            n => Err(invalid_argument(format!(
                "split takes 2 or 3 arguments, got {n}"
            ))),
        },
        |args, rows| {
            let s = cast(&args[0], &DataType::Utf8)?;
            let d = cast(&args[1], &DataType::Utf8)?;
            let limit = match args.get(2) {
                Some(l) => Some(cast(l, &DataType::Int64)?),
                None => None,
            };
            let (s, d) = (s.as_string::<i32>(), d.as_string::<i32>());
            let mut builder = datafusion::arrow::array::ListBuilder::new(
                datafusion::arrow::array::StringBuilder::new(),
            );
            for i in 0..rows.max(s.len()) {
                if s.is_null(i) || d.is_null(i) {
                    builder.append_null();
                    continue;
                }
                let (text, delimiter) = (s.value(i), d.value(i));
                if delimiter.is_empty() {
                    return Err(invalid_argument(
                        "The delimiter may not be the empty string",
                    ));
                }
                let parts: Vec<&str> = match limit.as_ref().map(|l| {
                    l.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(i)
                }) {
                    Some(n) if n <= 0 => return Err(invalid_argument("Limit must be positive")),
                    Some(n) => text.splitn(n as usize, delimiter).collect(),
                    None => text.split(delimiter).collect(),
                };
                for p in parts {
                    builder.values().append_value(p);
                }
                builder.append(true);
            }
            Ok(Arc::new(builder.finish()))
        },
    )
}

/// `strpos(s, sub [, instance])` as bigint; a negative instance counts from the end.
fn strpos() -> ScalarUDF {
    Scalar::eval(
        "strpos",
        variadic_any(),
        |types, _| match types.len() {
            2 | 3 => Ok(DataType::Int64),
            n => Err(invalid_argument(format!(
                "strpos takes 2 or 3 arguments, got {n}"
            ))),
        },
        |args, _| {
            let s = cast(&args[0], &DataType::Utf8)?;
            let sub = cast(&args[1], &DataType::Utf8)?;
            let instance = match args.get(2) {
                Some(n) => Some(cast(n, &DataType::Int64)?),
                None => None,
            };
            let (s, sub) = (s.as_string::<i32>(), sub.as_string::<i32>());
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                if s.is_null(i) || sub.is_null(i) {
                    out.push(None);
                    continue;
                }
                let n = instance.as_ref().map_or(1, |a| {
                    a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(i)
                });
                if n == 0 {
                    return Err(invalid_argument(
                        "'instance' must be a positive or negative number",
                    ));
                }
                let (text, needle) = (s.value(i), sub.value(i));
                let positions: Vec<usize> = text.match_indices(needle).map(|(b, _)| b).collect();
                let hit = if n > 0 {
                    positions.get(n as usize - 1)
                } else {
                    positions
                        .len()
                        .checked_sub((-n) as usize)
                        .and_then(|k| positions.get(k))
                };
                // Character (not byte) position, 1-based; 0 when not found.
                out.push(Some(
                    hit.map_or(0, |b| text[..*b].chars().count() as i64 + 1),
                ));
            }
            Ok(Arc::new(Int64Array::from(out)))
        },
    )
}

/// `split_part(s, delimiter, index)`: the field, NULL past the last one.
fn split_part() -> ScalarUDF {
    Scalar::eval(
        "split_part",
        any(3),
        |_, _| Ok(DataType::Utf8),
        |args, _| {
            let t = text_columns(&args[..2])?;
            let (s, d) = (t[0].as_string::<i32>(), t[1].as_string::<i32>());
            let n = cast(&args[2], &DataType::Int64)?;
            let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                if s.is_null(i) || d.is_null(i) || n.is_null(i) {
                    out.push(None);
                    continue;
                }
                if n.value(i) < 1 {
                    return Err(invalid_argument("Index must be greater than zero"));
                }
                let field = if d.value(i).is_empty() {
                    (n.value(i) == 1).then(|| s.value(i))
                } else {
                    s.value(i).split(d.value(i)).nth(n.value(i) as usize - 1)
                };
                out.push(field.map(str::to_string));
            }
            Ok(Arc::new(StringArray::from(out)))
        },
    )
}

/// `to_utf8(s)`: the UTF-8 bytes of `s` (varbinary).
fn to_utf8() -> ScalarUDF {
    Scalar::rewrite(
        "to_utf8",
        any(1),
        |_, _| Ok(DataType::Binary),
        |mut args, _| {
            Ok(cast_to(
                cast_to(args.remove(0), DataType::Utf8),
                DataType::Binary,
            ))
        },
    )
}

/// `replace(s, search [, with])`: every occurrence replaced (removed by default).
fn replace() -> ScalarUDF {
    Scalar::rewrite(
        "replace",
        variadic_any(),
        |types, _| match types.len() {
            2 | 3 => Ok(DataType::Utf8),
            n => Err(invalid_argument(format!(
                "replace takes 2 or 3 arguments, got {n}"
            ))),
        },
        |mut args, _| {
            let with = if args.len() == 3 {
                args.pop().expect("3")
            } else {
                lit("")
            };
            let search = args.pop().expect("search");
            let s = args.pop().expect("string");
            Ok(cast_to(
                f::replace(cast_to(s, DataType::Utf8), search, with),
                DataType::Utf8,
            ))
        },
    )
}

/// `length(x)` as bigint: characters of a string, bytes of a varbinary.
fn length() -> ScalarUDF {
    Scalar::rewrite(
        "length",
        any(1),
        |_, _| Ok(DataType::Int64),
        |mut args, info| {
            let x = args.remove(0);
            // varbinary: bytes (hex digits / 2); DataFusion's length panics on binary.
            if matches!(
                info.get_data_type(&x)?,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            ) {
                let hex = f::encode(x, datafusion::prelude::lit("hex"));
                return Ok(
                    cast_to(f::octet_length(hex), DataType::Int64) / datafusion::prelude::lit(2i64)
                );
            }
            Ok(cast_to(f::character_length(x), DataType::Int64))
        },
    )
}

/// `codepoint(c)`: the Unicode code point of a one-character string.
fn codepoint() -> ScalarUDF {
    Scalar::rewrite(
        "codepoint",
        any(1),
        |_, _| Ok(DataType::Int32),
        |mut args, _| Ok(f::ascii(args.remove(0))),
    )
}

/// `levenshtein_distance(a, b)` as bigint.
fn levenshtein_distance() -> ScalarUDF {
    Scalar::rewrite(
        "levenshtein_distance",
        any(2),
        |_, _| Ok(DataType::Int64),
        |mut args, _| {
            let b = args.pop().expect("two arguments");
            let a = args.pop().expect("two arguments");
            Ok(cast_to(f::levenshtein(a, b), DataType::Int64))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn split_and_strpos() {
        // Trino docs: split, strpos.
        assert_eq!(value("SELECT split('a.b.c', '.')").await, "[a, b, c]");
        assert_eq!(value("SELECT split('a.b.c', '.', 2)").await, "[a, b.c]");
        let (v, t) = one_row("SELECT strpos('high', 'ig'), strpos('hahaha', 'ha', 2), strpos('hahaha', 'ha', -1), strpos('x', 'y')", "UTC").await;
        assert_eq!(v, ["2", "3", "5", "0"]);
        assert_eq!(t[0], "bigint");
    }
}
