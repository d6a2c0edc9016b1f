//! Trino's conditional and introspection functions: `if(condition, a [, b])`
//! (a `CASE`, NULL without `b`), `try(x)` (NULL instead of the errors TRY
//! catches), `typeof(x)` (the Trino type name, from the one type map) and
//! `version()`.
//!
//! [`TryRewrite`] is here because it *is* `try`: the `try` function only
//! types the call, and the analyzer rule rewrites it before the optimizer
//! (which would otherwise fold a failing constant first) — casts become
//! `TRY_CAST`, divisors `NULLIF(divisor, 0)`. Walking every expression with
//! its input schema, the same rule also gives every cast from floating point
//! to an integer type, inside `try` or not, Trino's rounding (half away from
//! zero; Arrow truncates).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::functions::expr_fn as f;
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator, ScalarUDF, Signature, TryCast,
    Volatility, case, lit,
};
use datafusion::optimizer::AnalyzerRule;

use super::{Scalar, any, cast_to, invalid_argument, variadic_any};
use contango_common::types::TrinoType;

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![type_of(), try_(), if_(), version()]
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

/// `version()`: this server's version.
fn version() -> ScalarUDF {
    Scalar::rewrite(
        "version",
        Signature::nullary(Volatility::Immutable),
        |_, _| Ok(DataType::Utf8),
        |_, _| Ok(lit(concat!("contango-", env!("CARGO_PKG_VERSION")))),
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn typeof_try_and_if() {
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
        assert_eq!(
            value("SELECT if(-36.98 < 0, 'negative', 'ok')").await,
            "negative"
        );
        assert_eq!(value("SELECT if(false, 1)").await, "NULL");
    }
}
