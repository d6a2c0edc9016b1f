//! Positional placeholders: `?` is rewritten to DataFusion's `$n`, and client
//! values are checked and cast against the types the planner inferred.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, expr::Placeholder};

use contango_common::error::{ContangoError, Result};

/// Rewrites each `?` placeholder (outside literals and comments) to `$1`, `$2`, ...
pub fn number_question_marks(sql: &str) -> Result<String> {
    let marks = crate::lexer::question_marks(sql)?;
    let numbered: Vec<String> = (1..=marks.len()).map(|n| format!("${n}")).collect();
    crate::lexer::replace_question_marks(sql, &numbered)
}

/// Placeholder ids of `plan` with the type the planner inferred for each.
/// Unlike DataFusion's own helper, field metadata (Iceberg field ids) is
/// ignored, so `$1` may be compared with two different columns of one type;
/// conflicting types leave the parameter untyped.
pub fn parameter_types(plan: &LogicalPlan) -> Result<HashMap<String, Option<DataType>>> {
    let mut types: HashMap<String, Option<DataType>> = HashMap::new();
    plan.apply_with_subqueries(|p| {
        p.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::Placeholder(Placeholder { id, field }) = e {
                    let t = field.as_ref().map(|f| f.data_type().clone());
                    match types.get(id) {
                        None => {
                            types.insert(id.clone(), t);
                        }
                        Some(Some(prev)) if t.as_ref().is_some_and(|t| t != prev) => {
                            types.insert(id.clone(), None);
                        }
                        Some(None) => {}
                        Some(Some(_)) => {}
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(types)
}

/// The parameter schema of a statement: fields `$1..$n` in order, typed where
/// the planner could infer a type and `Null` where it could not.
pub fn parameter_schema(types: &HashMap<String, Option<DataType>>) -> Result<Schema> {
    let mut ids = numbered_ids(types)?;
    ids.sort_unstable_by_key(|(n, _)| *n);
    Ok(Schema::new(
        ids.into_iter()
            .map(|(_, id)| {
                let t = types[id].clone().unwrap_or(DataType::Null);
                Field::new(id, t, true)
            })
            .collect::<Vec<_>>(),
    ))
}

fn numbered_ids(types: &HashMap<String, Option<DataType>>) -> Result<Vec<(usize, &String)>> {
    types
        .keys()
        .map(|id| {
            id.strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n >= 1)
                .map(|n| (n, id))
                .ok_or_else(|| {
                    ContangoError::bad_parameters(format!(
                        "placeholder {id} is not positional: use ? or $1, $2, ..."
                    ))
                })
        })
        .collect()
}

/// Checks the count of `values` against the statement and casts each value to
/// the inferred parameter type.
pub fn bind_values(
    types: &HashMap<String, Option<DataType>>,
    values: Vec<ScalarValue>,
) -> Result<Vec<ScalarValue>> {
    let expected = numbered_ids(types)?
        .iter()
        .map(|(n, _)| *n)
        .max()
        .unwrap_or(0);
    if values.len() != expected {
        return Err(ContangoError::bad_parameters(format!(
            "statement has {expected} parameter(s) but {} value(s) were bound",
            values.len()
        )));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let id = format!("${}", i + 1);
            match types.get(&id).cloned().flatten() {
                Some(t) if v.data_type() != t && !v.is_null() => {
                    let cast = v.cast_to(&t).map_err(|_| {
                        ContangoError::bad_parameters(format!(
                            "parameter {id}: value {v} of type {} cannot be used as {t}",
                            v.data_type()
                        ))
                    })?;
                    // A lossy cast (10.5 -> 10) would change the query's meaning: keep
                    // the value's own type and let the planner coerce the comparison.
                    let lossless = cast.cast_to(&v.data_type()).is_ok_and(|back| back == v);
                    Ok(if lossless { cast } else { v })
                }
                Some(t) if v.is_null() => ScalarValue::try_from(&t).map_err(ContangoError::from),
                _ => Ok(v),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contango_common::error::ErrorKind;

    #[test]
    fn question_marks_are_numbered_outside_literals() {
        assert_eq!(
            number_question_marks("SELECT '?' AS q, x FROM t WHERE a = ? AND b > ?").unwrap(),
            "SELECT '?' AS q, x FROM t WHERE a = $1 AND b > $2"
        );
        assert_eq!(
            number_question_marks("SELECT 'é'\n, ? -- ?\n").unwrap(),
            "SELECT 'é'\n, $1 -- ?\n"
        );
        assert_eq!(number_question_marks("SELECT 1").unwrap(), "SELECT 1");
    }

    #[test]
    fn values_are_counted_and_cast() {
        let types = HashMap::from([
            ("$1".to_string(), Some(DataType::Float64)),
            ("$2".to_string(), None),
        ]);
        let bound = bind_values(
            &types,
            vec![
                ScalarValue::Int64(Some(3)),
                ScalarValue::Utf8(Some("x".into())),
            ],
        )
        .unwrap();
        assert_eq!(bound[0], ScalarValue::Float64(Some(3.0)));
        // Lossy casts keep the original value (the planner coerces instead).
        let int_types = HashMap::from([("$1".to_string(), Some(DataType::Int64))]);
        let bound = bind_values(&int_types, vec![ScalarValue::Float64(Some(10.5))]).unwrap();
        assert_eq!(bound[0], ScalarValue::Float64(Some(10.5)));
        let bound = bind_values(&int_types, vec![ScalarValue::Float64(Some(10.0))]).unwrap();
        assert_eq!(bound[0], ScalarValue::Int64(Some(10)));
        let e = bind_values(&types, vec![ScalarValue::Int64(Some(3))]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadParameters);
        let e = bind_values(
            &types,
            vec![
                ScalarValue::Utf8(Some("abc".into())),
                ScalarValue::Int64(Some(1)),
            ],
        )
        .unwrap_err();
        assert!(e.message().contains("$1"), "{}", e.message());
    }

    #[test]
    fn schema_is_ordered() {
        let types = HashMap::from([
            ("$2".to_string(), Some(DataType::Utf8)),
            ("$1".to_string(), None),
        ]);
        let s = parameter_schema(&types).unwrap();
        assert_eq!(s.field(0).name(), "$1");
        assert_eq!(s.field(0).data_type(), &DataType::Null);
        assert_eq!(s.field(1).data_type(), &DataType::Utf8);
    }
}
