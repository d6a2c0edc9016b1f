//! Trino's array functions where DataFusion's differ: `array_position(a, x)`
//! (bigint, 1-based, 0 when absent; DataFusion's is NULL), `contains(a, x)`
//! (membership of an array; a string's substring test otherwise, as
//! DataFusion's `contains`) and `sequence(start, stop [, step])` (bigint or
//! date elements, both ends included). The subscript and size functions that
//! take maps too, `element_at` and `cardinality`, are in [`super::map`].

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn as f;
use datafusion::functions_nested::expr_fn as nested;
use datafusion::logical_expr::{ScalarUDF, lit};

use super::{Scalar, any, cast_to, invalid_argument, variadic_any};

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![array_position(), contains(), sequence()]
}

/// `array_position(a, x)` as bigint: 1-based, 0 when absent.
fn array_position() -> ScalarUDF {
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
    )
}

/// `contains(a, x)`: whether array `a` holds `x` (for strings, whether `x` is a substring).
fn contains() -> ScalarUDF {
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
    )
}

/// `sequence(start, stop [, step])`: the values from `start` to `stop`, both included.
fn sequence() -> ScalarUDF {
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
            Ok(crate::limits::gen_series().call(vec![start, stop, step]))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn position_contains_and_sequence() {
        let (v, t) = one_row(
            "SELECT array_position(ARRAY[10, 20], 20), array_position(ARRAY[10, 20], 30)",
            "UTC",
        )
        .await;
        assert_eq!(
            (v, t[0].as_str()),
            (vec!["2".to_string(), "0".into()], "bigint")
        );
        assert_eq!(value("SELECT contains(ARRAY[1, 2], 2)").await, "true");
        assert_eq!(value("SELECT contains('abc', 'd')").await, "false");
        assert_eq!(value("SELECT sequence(1, 5, 2)").await, "[1, 3, 5]");
    }
}
