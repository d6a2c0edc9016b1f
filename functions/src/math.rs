//! Trino's mathematical functions where DataFusion lacks them or differs:
//! the constants `nan()`, `infinity()` and `e()`, `is_nan`, `is_finite`,
//! `is_infinite`, `width_bucket(x, bound1, bound2, n)` (bucket 0 below the
//! range, n + 1 above; descending bounds allowed), `truncate` (DataFusion's
//! `trunc`), `ceiling`, `sign` (bigint for integers, double otherwise), and
//! `mod`, `bitwise_and`, `bitwise_or`, `bitwise_xor` as functions (bigint for
//! integer arguments, double otherwise).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::functions::expr_fn as f;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, ScalarUDF, Signature, Volatility, lit};

use super::{Scalar, any, cast_to, invalid_argument, variadic_any};

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        constant("nan", f64::NAN),
        constant("infinity", f64::INFINITY),
        constant("e", std::f64::consts::E),
        is_nan(),
        float_predicate("is_finite", f64::is_finite),
        float_predicate("is_infinite", f64::is_infinite),
        width_bucket(),
        truncate(),
        ceiling(),
        sign(),
        binary("mod", Operator::Modulo),
        binary("bitwise_and", Operator::BitwiseAnd),
        binary("bitwise_or", Operator::BitwiseOr),
        binary("bitwise_xor", Operator::BitwiseXor),
    ]
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

/// `ceiling(x)`: DataFusion's `ceil`, keeping the argument's type.
fn ceiling() -> ScalarUDF {
    Scalar::rewrite(
        "ceiling",
        any(1),
        |types, _| Ok(types[0].clone()),
        |mut args, _| Ok(f::ceil(args.remove(0))),
    )
}

/// `sign(x)`: bigint for an integer, double otherwise.
fn sign() -> ScalarUDF {
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
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn floats_buckets_and_truncate() {
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
        assert_eq!(value("SELECT truncate(-1.9)").await, "-1.0");
    }
}
