//! Trino's JSON functions on JSON text (varchar): `json_extract_scalar(json,
//! path)` (the scalar at a JSONPath — `$.a.b`, `$["a"]`, `$.a[0]` — as
//! varchar; NULL when absent, not a scalar, or the JSON is invalid; an
//! invalid path fails), `json_array_length` (NULL when not an array) and
//! `json_array_contains` (numbers compared as numbers, strings as strings).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::ScalarUDF;

use super::{Scalar, any, invalid_argument, text_columns};

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![json_extract_scalar(), json_array(), json_array_contains()]
}

/// One step of a JSONPath: a member or an index.
enum Step {
    Key(String),
    Index(usize),
}

fn json_path(path: &str) -> DFResult<Vec<Step>> {
    let bad = || invalid_argument(format!("Invalid JSON path: '{path}'"));
    let rest = path.trim().strip_prefix('$').ok_or_else(bad)?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                if i == start {
                    return Err(bad());
                }
                steps.push(Step::Key(chars[start..i].iter().collect()));
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']').ok_or_else(bad)? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_string()));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
                {
                    steps.push(Step::Key(q.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
                }
                i = end + 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok(steps)
}

/// `json_extract_scalar(json, path)`: the scalar at `path` as varchar, NULL
/// when absent, not a scalar, or the JSON is invalid.
fn json_extract_scalar() -> ScalarUDF {
    Scalar::eval(
        "json_extract_scalar",
        any(2),
        |_, _| Ok(DataType::Utf8),
        |args, _| {
            let json = cast(&args[0], &DataType::Utf8)?;
            let paths = cast(&args[1], &DataType::Utf8)?;
            let (json, paths) = (json.as_string::<i32>(), paths.as_string::<i32>());
            let mut cached: Option<(String, Vec<Step>)> = None;
            let mut out = Vec::with_capacity(json.len());
            for i in 0..json.len() {
                if json.is_null(i) || paths.is_null(i) {
                    out.push(None);
                    continue;
                }
                let p = paths.value(i);
                if cached.as_ref().is_none_or(|(raw, _)| raw != p) {
                    cached = Some((p.to_string(), json_path(p)?));
                }
                let steps = &cached.as_ref().expect("set above").1;
                let Ok(mut v) = serde_json::from_str::<serde_json::Value>(json.value(i)) else {
                    out.push(None);
                    continue;
                };
                for s in steps {
                    v = match (s, v) {
                        (Step::Key(k), serde_json::Value::Object(mut m)) => {
                            m.remove(k).unwrap_or(serde_json::Value::Null)
                        }
                        (Step::Index(n), serde_json::Value::Array(mut a)) if *n < a.len() => {
                            a.swap_remove(*n)
                        }
                        _ => serde_json::Value::Null,
                    };
                }
                out.push(match v {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                });
            }
            Ok(Arc::new(StringArray::from(out)))
        },
    )
}

/// `json_array_length(json)`: elements of a JSON array, NULL otherwise.
fn json_array() -> ScalarUDF {
    Scalar::eval(
        "json_array_length",
        any(1),
        |_, _| Ok(DataType::Int64),
        |args, _| {
            let t = text_columns(args)?;
            let j = t[0].as_string::<i32>();
            let out: Int64Array = j
                .iter()
                .map(|v| {
                    v.and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
                        .and_then(|v| v.as_array().map(|a| a.len() as i64))
                })
                .collect();
            Ok(Arc::new(out))
        },
    )
}

/// `json_array_contains(json, value)`: whether the array holds the value.
fn json_array_contains() -> ScalarUDF {
    Scalar::eval(
        "json_array_contains",
        any(2),
        |_, _| Ok(DataType::Boolean),
        |args, _| {
            let t = text_columns(args)?;
            let (j, v) = (t[0].as_string::<i32>(), t[1].as_string::<i32>());
            let numeric = args[1].data_type().is_numeric();
            let mut out = Vec::with_capacity(j.len());
            for i in 0..j.len() {
                if j.is_null(i) || v.is_null(i) {
                    out.push(None);
                    continue;
                }
                let Ok(serde_json::Value::Array(items)) = serde_json::from_str(j.value(i)) else {
                    out.push(None);
                    continue;
                };
                let needle = v.value(i);
                out.push(Some(items.iter().any(|x| {
                    match x {
                        serde_json::Value::Number(n) if numeric => n
                            .as_f64()
                            .zip(needle.parse::<f64>().ok())
                            .is_some_and(|(a, b)| a == b),
                        serde_json::Value::String(s) if !numeric => s == needle,
                        serde_json::Value::Bool(b) => b.to_string() == needle,
                        _ => false,
                    }
                })));
            }
            Ok(Arc::new(BooleanArray::from(out)))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::value;

    #[tokio::test]
    async fn extract_scalar() {
        assert_eq!(
            value(r#"SELECT json_extract_scalar('{"a": {"b": [10, "x"]}}', '$.a.b[1]')"#).await,
            "x"
        );
        assert_eq!(
            value(r#"SELECT json_extract_scalar('{"a": 1.5}', '$["a"]')"#).await,
            "1.5"
        );
        assert_eq!(
            value(r#"SELECT json_extract_scalar('{"a": {"b": 1}}', '$.a')"#).await,
            "NULL"
        );
        assert_eq!(
            value("SELECT json_extract_scalar('not json', '$.a')").await,
            "NULL"
        );
    }
}
