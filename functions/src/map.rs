//! Trino's subscript and size functions, documented among the map functions
//! and taking arrays as well: `element_at(map, key)` (the value, NULL when the
//! key is absent), `element_at(array, i)` (1-based, negative from the end,
//! NULL out of range, where `a[i]` fails) and `cardinality(x)` (bigint;
//! DataFusion's is unsigned). Map-building aggregates (`map_agg`,
//! `histogram`) are in [`super::map_aggregates`].

use datafusion::arrow::datatypes::DataType;
use datafusion::functions_nested::expr_fn as nested;
use datafusion::logical_expr::{ScalarUDF, lit};

use super::{Scalar, any, cast_to, invalid_argument};
use contango_common::types::TrinoType;

/// Every function of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![element_at(), cardinality()]
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

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn element_at_and_cardinality() {
        // Trino docs: element_at, cardinality.
        assert_eq!(value("SELECT element_at(ARRAY[1, 2, 3], -1)").await, "3");
        assert_eq!(value("SELECT element_at(ARRAY[1, 2, 3], 5)").await, "NULL");
        assert_eq!(
            value("SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'a')").await,
            "1"
        );
        let (v, t) = one_row("SELECT cardinality(ARRAY[1, 2, 3])", "UTC").await;
        assert_eq!((v[0].as_str(), t[0].as_str()), ("3", "bigint"));
    }
}
