//! Trino's array, map, string, regexp, JSON, math and conditional functions
//! where DataFusion lacks them or differs: `element_at`, `cardinality`
//! (bigint), `regexp_extract`, `regexp_replace` (all matches), `split`,
//! `strpos` (bigint), `json_extract_scalar`, `typeof`, `try`, `if`, `nan()`,
//! `infinity()`, `is_nan`, `is_finite`, `is_infinite`, `width_bucket`,
//! `truncate`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::functions::expr_fn as f;
use datafusion::functions_nested::expr_fn as nested;
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, Operator, ScalarUDF, Signature, TryCast, TypeSignature, Volatility,
    case, lit,
};
use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use super::{Scalar, invalid_argument};
use contango_common::types::TrinoType;

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        element_at(),
        cardinality(),
        regexp_extract(),
        regexp_replace(),
        split(),
        strpos(),
        json_extract_scalar(),
        type_of(),
        try_(),
        if_(),
        constant("nan", f64::NAN),
        constant("infinity", f64::INFINITY),
        is_nan(),
        float_predicate("is_finite", f64::is_finite),
        float_predicate("is_infinite", f64::is_infinite),
        width_bucket(),
        truncate(),
        interval_times(),
        binary("mod", Operator::Modulo),
        binary("bitwise_and", Operator::BitwiseAnd),
        binary("bitwise_or", Operator::BitwiseOr),
        binary("bitwise_xor", Operator::BitwiseXor),
        constant("e", std::f64::consts::E),
        regexp_extract_all(),
        regexp_split(),
        regexp_position(),
        split_part(),
        json_array(),
        json_array_contains(),
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
        ),
        Scalar::rewrite(
            "date_part",
            any(2),
            |_, _| Ok(DataType::Int64),
            |args, _| {
                // Trino's EXTRACT is bigint; DataFusion's date_part is not.
                let inner = datafusion::functions::datetime::date_part();
                Ok(cast_to(
                    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                        inner, args,
                    )),
                    DataType::Int64,
                ))
            },
        ),
        Scalar::rewrite(
            "ceiling",
            any(1),
            |types, _| Ok(types[0].clone()),
            |mut args, _| Ok(f::ceil(args.remove(0))),
        ),
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
        ),
        Scalar::rewrite(
            "array_position",
            any(2),
            |_, _| Ok(DataType::Int64),
            |mut args, _| {
                let x = args.pop().expect("two arguments");
                let a = args.pop().expect("two arguments");
                // Trino: 0 when absent.
                Ok(f::coalesce(vec![
                    cast_to(nested::array_position(a, x, lit(1i64)), DataType::Int64),
                    lit(0i64),
                ]))
            },
        ),
        Scalar::rewrite(
            "contains",
            any(2),
            |_, _| Ok(DataType::Boolean),
            |mut args, info| {
                let x = args.pop().expect("two arguments");
                let container = args.pop().expect("two arguments");
                Ok(match info.get_data_type(&container)? {
                    DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
                        nested::array_has(container, x)
                    }
                    _ => f::contains(container, x),
                })
            },
        ),
        Scalar::rewrite(
            "sign",
            any(1),
            |types, _| {
                Ok(if types[0].is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                })
            },
            |mut args, info| {
                let x = args.remove(0);
                let integer = info.get_data_type(&x)?.is_integer();
                let s = f::signum(cast_to(x, DataType::Float64));
                Ok(if integer {
                    cast_to(s, DataType::Int64)
                } else {
                    s
                })
            },
        ),
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
                    return Ok(cast_to(f::octet_length(hex), DataType::Int64)
                        / datafusion::prelude::lit(2i64));
                }
                Ok(cast_to(f::character_length(x), DataType::Int64))
            },
        ),
        Scalar::rewrite(
            "codepoint",
            any(1),
            |_, _| Ok(DataType::Int32),
            |mut args, _| Ok(f::ascii(args.remove(0))),
        ),
        Scalar::rewrite(
            "levenshtein_distance",
            any(2),
            |_, _| Ok(DataType::Int64),
            |mut args, _| {
                let b = args.pop().expect("two arguments");
                let a = args.pop().expect("two arguments");
                Ok(cast_to(f::levenshtein(a, b), DataType::Int64))
            },
        ),
        Scalar::rewrite(
            "sequence",
            variadic_any(),
            |types, _| {
                let element = types.first().cloned().unwrap_or(DataType::Int64);
                let element = if matches!(element, DataType::Date32) {
                    DataType::Date32
                } else {
                    DataType::Int64
                };
                Ok(DataType::List(Arc::new(
                    datafusion::arrow::datatypes::Field::new_list_field(element, true),
                )))
            },
            |mut args, _| {
                let step = if args.len() == 3 {
                    args.pop().expect("3")
                } else {
                    lit(1i64)
                };
                let stop = args
                    .pop()
                    .ok_or_else(|| invalid_argument("sequence(start, stop [, step])"))?;
                let start = args
                    .pop()
                    .ok_or_else(|| invalid_argument("sequence(start, stop [, step])"))?;
                Ok(nested::gen_series(start, stop, step))
            },
        ),
        Scalar::rewrite(
            "version",
            Signature::nullary(Volatility::Immutable),
            |_, _| Ok(DataType::Utf8),
            |_, _| Ok(lit(concat!("contango-", env!("CARGO_PKG_VERSION")))),
        ),
    ]
}

fn any(n: usize) -> Signature {
    Signature::new(TypeSignature::Any(n), Volatility::Immutable)
}

fn variadic_any() -> Signature {
    Signature::new(TypeSignature::VariadicAny, Volatility::Immutable)
}

/// `element_at(array, i)`: 1-based, negative from the end, NULL out of range;
/// `element_at(map, key)`: the value or NULL.
fn element_at() -> ScalarUDF {
    Scalar::rewrite(
        "element_at",
        any(2),
        |types, _| match &types[0] {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                Ok(f.data_type().clone())
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => Err(invalid_argument(format!("unexpected map entries {other}"))),
            },
            other => Err(invalid_argument(format!(
                "element_at expects an array or a map, got {}",
                TrinoType::from_arrow(other).name()
            ))),
        },
        |mut args, info| {
            let key = args.pop().expect("two arguments");
            let container = args.pop().expect("two arguments");
            Ok(match info.get_data_type(&container)? {
                DataType::Map(_, _) => {
                    nested::array_element(nested::map_extract(container, key), lit(1i64))
                }
                _ => nested::array_element(container, key),
            })
        },
    )
}

fn cast_to(e: Expr, t: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), t))
}

/// `cardinality` as bigint (DataFusion's is unsigned).
fn cardinality() -> ScalarUDF {
    Scalar::rewrite(
        "cardinality",
        any(1),
        |_, _| Ok(DataType::Int64),
        |mut args, _| {
            Ok(cast_to(
                nested::cardinality(args.remove(0)),
                DataType::Int64,
            ))
        },
    )
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
                    f::regexp_match(cast_to(s, DataType::Utf8), wrapped, None),
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
                f::regexp_replace(
                    cast_to(s, DataType::Utf8),
                    pattern,
                    replacement,
                    Some(lit("g")),
                ),
                DataType::Utf8,
            ))
        },
    )
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

/// `typeof(x)`: the Trino type name, from the one type map.
fn type_of() -> ScalarUDF {
    Scalar::rewrite(
        "typeof",
        any(1),
        |_, _| Ok(DataType::Utf8),
        |args, info| {
            let t = info.get_data_type(&args[0])?;
            Ok(lit(TrinoType::from_arrow(&t).name()))
        },
    )
}

/// `try(x)`: typed here; rewritten by [`TryRewrite`] before the optimizer
/// (which would otherwise fold a failing constant first).
fn try_() -> ScalarUDF {
    Scalar::rewrite(
        "try",
        any(1),
        |types, _| Ok(types[0].clone()),
        |mut args, _| Ok(args.remove(0)),
    )
}

/// Rewrites `try(x)`: NULL instead of the errors Trino's TRY catches that can
/// arise here — casts (`CAST` becomes `TRY_CAST`) and division or modulo by
/// zero (the divisor becomes `NULLIF(divisor, 0)`). Other errors still fail.
#[derive(Debug)]
pub struct TryRewrite;

fn guard_try(e: Expr) -> DFResult<Expr> {
    Ok(e.transform_up(|e| {
        Ok(match e {
            Expr::Cast(Cast { expr, data_type }) => {
                Transformed::yes(Expr::TryCast(TryCast::new(expr, data_type)))
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(op, Operator::Divide | Operator::Modulo) =>
            {
                let zero = Expr::Literal(ScalarValue::Int64(Some(0)), None);
                let guarded = f::nullif(*right, zero);
                Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    left,
                    op,
                    Box::new(guarded),
                )))
            }
            other => Transformed::no(other),
        })
    })?
    .data)
}

/// Trino rounds a floating-point value cast to an integer type (half away
/// from zero); Arrow truncates. The cast gets an explicit `round`.
fn round_float_to_int(
    e: Expr,
    schema: &datafusion::common::DFSchema,
) -> DFResult<Transformed<Expr>> {
    let rounded = |expr: Box<Expr>, to: &DataType| -> DFResult<Option<Box<Expr>>> {
        if !to.is_integer() {
            return Ok(None);
        }
        let from = expr.get_type(schema)?;
        Ok(from.is_floating().then(|| Box::new(f::round(vec![*expr]))))
    };
    Ok(match e {
        Expr::Cast(Cast { expr, data_type }) => match rounded(expr.clone(), &data_type)? {
            Some(r) => Transformed::yes(Expr::Cast(Cast::new(r, data_type))),
            None => Transformed::no(Expr::Cast(Cast { expr, data_type })),
        },
        Expr::TryCast(TryCast { expr, data_type }) => match rounded(expr.clone(), &data_type)? {
            Some(r) => Transformed::yes(Expr::TryCast(TryCast::new(r, data_type))),
            None => Transformed::no(Expr::TryCast(TryCast { expr, data_type })),
        },
        other => Transformed::no(other),
    })
}

impl AnalyzerRule for TryRewrite {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DFResult<LogicalPlan> {
        super::rewrite_keeping_names(plan, |e, input_schema| {
            let e = match input_schema {
                Some(schema) => e.transform_up(|e| round_float_to_int(e, schema))?.data,
                None => e,
            };
            e.transform_up(|e| match e {
                Expr::ScalarFunction(sf) if sf.func.name() == "try" && sf.args.len() == 1 => {
                    let arg = sf.args.into_iter().next().expect("one argument");
                    // Keep the output name: try(x) aliased as before.
                    Ok(Transformed::yes(guard_try(arg)?))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    }

    fn name(&self) -> &str {
        "trino_try"
    }
}

/// `if(condition, a [, b])`.
fn if_() -> ScalarUDF {
    Scalar::rewrite(
        "if",
        variadic_any(),
        |types, _| match types.len() {
            2 => Ok(types[1].clone()),
            3 if types[1] == DataType::Null => Ok(types[2].clone()),
            3 => Ok(types[1].clone()),
            n => Err(invalid_argument(format!(
                "if takes 2 or 3 arguments, got {n}"
            ))),
        },
        |mut args, info| {
            let otherwise = if args.len() == 3 { args.pop() } else { None };
            let then = args.pop().expect("then");
            let condition = args.pop().expect("condition");
            let t = info.get_data_type(&then)?;
            let (then, otherwise) = match (&t, otherwise) {
                (DataType::Null, Some(o)) => {
                    let ot = info.get_data_type(&o)?;
                    (cast_to(then, ot), Some(o))
                }
                (_, Some(o)) => (then, Some(cast_to(o, t.clone()))),
                (_, None) => (then, None),
            };
            let mut builder = case(lit(true)).when(condition, then);
            Ok(match otherwise {
                Some(o) => builder.otherwise(o)?,
                None => builder.end()?,
            })
        },
    )
}

/// A two-argument function that is an operator in DataFusion.
fn binary(name: &'static str, op: Operator) -> ScalarUDF {
    Scalar::rewrite(
        name,
        any(2),
        |types, _| {
            let both_int = types.iter().all(|t| t.is_integer());
            Ok(if both_int {
                DataType::Int64
            } else {
                DataType::Float64
            })
        },
        move |mut args, info| {
            let b = args.pop().expect("two arguments");
            let a = args.pop().expect("two arguments");
            let both_int =
                info.get_data_type(&a)?.is_integer() && info.get_data_type(&b)?.is_integer();
            let t = if both_int {
                DataType::Int64
            } else {
                DataType::Float64
            };
            Ok(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(cast_to(a, t.clone())),
                op,
                Box::new(cast_to(b, t)),
            )))
        },
    )
}

fn constant(name: &'static str, v: f64) -> ScalarUDF {
    Scalar::rewrite(
        name,
        Signature::nullary(Volatility::Immutable),
        |_, _| Ok(DataType::Float64),
        move |_, _| Ok(lit(v)),
    )
}

fn is_nan() -> ScalarUDF {
    float_predicate("is_nan", f64::is_nan)
}

fn float_predicate(name: &'static str, p: fn(f64) -> bool) -> ScalarUDF {
    Scalar::eval(
        name,
        any(1),
        |_, _| Ok(DataType::Boolean),
        move |args, _| {
            let x = cast(&args[0], &DataType::Float64)?;
            let out: BooleanArray = x
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(p))
                .collect();
            Ok(Arc::new(out))
        },
    )
}

/// `width_bucket(x, bound1, bound2, n)`: bucket 0 below, n + 1 above.
fn width_bucket() -> ScalarUDF {
    Scalar::eval(
        "width_bucket",
        any(4),
        |_, _| Ok(DataType::Int64),
        |args, _| {
            let v: Vec<ArrayRef> = args[..3]
                .iter()
                .map(|a| cast(a, &DataType::Float64))
                .collect::<Result<_, _>>()?;
            let n = cast(&args[3], &DataType::Int64)?;
            let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let (x, lo, hi) = (
                v[0].as_primitive::<Float64Type>(),
                v[1].as_primitive::<Float64Type>(),
                v[2].as_primitive::<Float64Type>(),
            );
            let mut out = Vec::with_capacity(x.len());
            for i in 0..x.len() {
                if x.is_null(i) || lo.is_null(i) || hi.is_null(i) || n.is_null(i) {
                    out.push(None);
                    continue;
                }
                let (x, lo, hi, n) = (x.value(i), lo.value(i), hi.value(i), n.value(i));
                if n <= 0 {
                    return Err(invalid_argument("bucketCount must be greater than 0"));
                }
                if x.is_nan() || lo.is_nan() || hi.is_nan() || lo == hi {
                    return Err(invalid_argument(
                        "bounds cannot equal each other, and no operand may be NaN",
                    ));
                }
                let bucket = if lo < hi {
                    if x < lo {
                        0
                    } else if x >= hi {
                        n + 1
                    } else {
                        ((x - lo) / (hi - lo) * n as f64) as i64 + 1
                    }
                } else if x > lo {
                    0
                } else if x <= hi {
                    n + 1
                } else {
                    ((lo - x) / (lo - hi) * n as f64) as i64 + 1
                };
                out.push(Some(bucket));
            }
            Ok(Arc::new(Int64Array::from(out)))
        },
    )
}

/// `interval_times('n', 'UNIT', k)`: the interval `n UNIT` times `k` (what the
/// dialect rewrite makes of `INTERVAL 'n' UNIT * k`).
fn interval_times() -> ScalarUDF {
    Scalar::eval(
        "interval_times",
        any(3),
        |_, _| {
            Ok(DataType::Interval(
                datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
            ))
        },
        |args, _| {
            use datafusion::arrow::array::IntervalMonthDayNanoArray;
            use datafusion::arrow::datatypes::IntervalMonthDayNano;
            let counts = cast(&args[0], &DataType::Utf8)?;
            let units = cast(&args[1], &DataType::Utf8)?;
            let k = cast(&args[2], &DataType::Float64)?;
            let (counts, units, k) = (
                counts.as_string::<i32>(),
                units.as_string::<i32>(),
                k.as_primitive::<Float64Type>(),
            );
            let mut out = Vec::with_capacity(k.len());
            for i in 0..k.len() {
                if counts.is_null(i) || units.is_null(i) || k.is_null(i) {
                    out.push(None);
                    continue;
                }
                let n: f64 = counts.value(i).trim().parse().map_err(|_| {
                    invalid_argument(format!("Invalid interval value '{}'", counts.value(i)))
                })?;
                let total = n * k.value(i);
                let nanos =
                    |per: f64| IntervalMonthDayNano::new(0, 0, (total * per).round() as i64);
                out.push(Some(match units.value(i) {
                    "SECOND" => nanos(1e9),
                    "MINUTE" => nanos(60e9),
                    "HOUR" => nanos(3600e9),
                    "DAY" => IntervalMonthDayNano::new(0, total.round() as i32, 0),
                    "WEEK" => IntervalMonthDayNano::new(0, (total * 7.0).round() as i32, 0),
                    "MONTH" => IntervalMonthDayNano::new(total.round() as i32, 0, 0),
                    "YEAR" => IntervalMonthDayNano::new((total * 12.0).round() as i32, 0, 0),
                    other => {
                        return Err(invalid_argument(format!("Invalid interval unit '{other}'")));
                    }
                }));
            }
            Ok(Arc::new(IntervalMonthDayNanoArray::from(out)))
        },
    )
}

/// Arguments as strings, row by row (NULL-propagating).
fn text_columns(args: &[ArrayRef]) -> DFResult<Vec<ArrayRef>> {
    args.iter().map(|a| Ok(cast(a, &DataType::Utf8)?)).collect()
}

/// A compiled pattern, cached while it stays the same across rows.
struct Patterns(Option<(String, regex::Regex)>);

impl Patterns {
    fn get(&mut self, p: &str) -> DFResult<&regex::Regex> {
        if self.0.as_ref().is_none_or(|(raw, _)| raw != p) {
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

/// `truncate(x [, n])`: DataFusion's `trunc`.
fn truncate() -> ScalarUDF {
    let inner = datafusion::functions::math::trunc();
    let for_ret = inner.clone();
    Scalar::rewrite(
        "truncate",
        variadic_any(),
        move |types, _| for_ret.return_type(types),
        move |args, _| {
            Ok(Expr::ScalarFunction(
                datafusion::logical_expr::expr::ScalarFunction::new_udf(inner.clone(), args),
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn arrays_maps_and_strings() {
        // Trino docs: element_at, cardinality, regexp_extract, regexp_replace, split, strpos.
        assert_eq!(value("SELECT element_at(ARRAY[1, 2, 3], -1)").await, "3");
        assert_eq!(value("SELECT element_at(ARRAY[1, 2, 3], 5)").await, "NULL");
        assert_eq!(
            value("SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'a')").await,
            "1"
        );
        let (v, t) = one_row("SELECT cardinality(ARRAY[1, 2, 3])", "UTC").await;
        assert_eq!((v[0].as_str(), t[0].as_str()), ("3", "bigint"));
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
        assert_eq!(value("SELECT split('a.b.c', '.')").await, "[a, b, c]");
        assert_eq!(value("SELECT split('a.b.c', '.', 2)").await, "[a, b.c]");
        let (v, t) = one_row("SELECT strpos('high', 'ig'), strpos('hahaha', 'ha', 2), strpos('hahaha', 'ha', -1), strpos('x', 'y')", "UTC").await;
        assert_eq!(v, ["2", "3", "5", "0"]);
        assert_eq!(t[0], "bigint");
    }

    #[tokio::test]
    async fn json_types_try_and_math() {
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
        let (v, _) = one_row(
            "SELECT typeof(1.5), typeof(CAST(1 AS BIGINT)), typeof('x'), typeof(DATE '2020-01-01')",
            "UTC",
        )
        .await;
        assert_eq!(v, ["double", "bigint", "varchar", "date"]);
        assert_eq!(value("SELECT try(1 / 0)").await, "NULL");
        assert_eq!(value("SELECT try(CAST('x' AS INTEGER))").await, "NULL");
        assert_eq!(value("SELECT try(10 / 4)").await, "2");
        assert_eq!(
            value("SELECT coalesce(try(CAST('7' AS INTEGER)), 0)").await,
            "7"
        );
        let (v, _) = one_row(
            "SELECT nan(), infinity(), is_nan(nan()), is_finite(-36.98), is_infinite(-infinity()), is_nan(1.0)",
            "UTC",
        )
        .await;
        assert_eq!(v, ["NaN", "inf", "true", "true", "true", "false"]);
        // Trino docs: width_bucket(x, bound1, bound2, n).
        let (v, _) = one_row(
            "SELECT width_bucket(5.3, 0.2, 10.6, 5), width_bucket(-1, 0, 10, 5), width_bucket(10, 0, 10, 5), width_bucket(2, 10, 0, 5)",
            "UTC",
        )
        .await;
        assert_eq!(v, ["3", "0", "6", "5"]);
        assert_eq!(
            value("SELECT if(-36.98 < 0, 'negative', 'ok')").await,
            "negative"
        );
        assert_eq!(value("SELECT if(false, 1)").await, "NULL");
        assert_eq!(value("SELECT truncate(-1.9)").await, "-1.0");
    }
}
