//! `SHOW SESSION` and `SHOW FUNCTIONS` in Trino's result shapes.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{TypeSignature, Volatility};

use crate::limits::{Limits, format_data_size};
use crate::queries::format_duration;
use crate::session_properties::{PROPERTIES, default_value};
use contango_common::error::Result;
use contango_common::session::Session;
use contango_common::types::TrinoType;

/// `SHOW SESSION`: Name, Value, Default, Type, Description. The defaults of
/// the limits are the server's where it sets them.
pub fn session_properties(session: &Session, limits: &Limits) -> Result<RecordBatch> {
    let names = ["Name", "Value", "Default", "Type", "Description"];
    let mut columns: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    for def in PROPERTIES {
        let server = match def.name {
            "query_max_run_time" => limits.max_run_time.map(format_duration),
            "query_max_execution_time" => limits.max_execution_time.map(format_duration),
            "query_max_memory" => limits.max_memory.map(format_data_size),
            _ => None,
        };
        let default = server.unwrap_or_else(|| default_value(def));
        let value = session
            .properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(def.name))
            .map_or(default.clone(), |(_, v)| v.clone());
        for (column, text) in
            columns
                .iter_mut()
                .zip([def.name, &value, &default, def.kind.name(), def.description])
        {
            column.append_value(text);
        }
    }
    let schema = Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    let arrays: Vec<ArrayRef> = columns
        .iter_mut()
        .map(|c| Arc::new(c.finish()) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
}

/// One row of `SHOW FUNCTIONS`.
struct FunctionRow {
    name: String,
    return_type: String,
    argument_types: String,
    kind: &'static str,
    deterministic: bool,
    description: String,
}

/// `SHOW FUNCTIONS`: Function, Return Type, Argument Types, Function Type,
/// Deterministic, Description — one row per function name and signature.
pub fn functions(state: &SessionState) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for (name, f) in state.scalar_functions() {
        let description = f
            .documentation()
            .map(|d| d.description.clone())
            .unwrap_or_default();
        for (args, ret) in signatures(&f.signature().type_signature, &|a| f.return_type(a).ok()) {
            rows.push(FunctionRow {
                name: name.clone(),
                return_type: ret,
                argument_types: args,
                kind: "scalar",
                deterministic: f.signature().volatility != Volatility::Volatile,
                description: description.clone(),
            });
        }
    }
    for (name, f) in state.aggregate_functions() {
        let description = f
            .documentation()
            .map(|d| d.description.clone())
            .unwrap_or_default();
        for (args, ret) in signatures(&f.signature().type_signature, &|a| f.return_type(a).ok()) {
            rows.push(FunctionRow {
                name: name.clone(),
                return_type: ret,
                argument_types: args,
                kind: "aggregate",
                deterministic: f.signature().volatility != Volatility::Volatile,
                description: description.clone(),
            });
        }
    }
    for (name, f) in state.window_functions() {
        let description = f
            .documentation()
            .map(|d| d.description.clone())
            .unwrap_or_default();
        for (args, _) in signatures(&f.signature().type_signature, &|_| None) {
            rows.push(FunctionRow {
                name: name.clone(),
                return_type: String::new(),
                argument_types: args,
                kind: "window",
                deterministic: true,
                description: description.clone(),
            });
        }
    }
    rows.sort_by(|a, b| {
        (&a.name, &a.argument_types, a.kind).cmp(&(&b.name, &b.argument_types, b.kind))
    });
    rows.dedup_by(|a, b| a.name == b.name && a.argument_types == b.argument_types);
    let mut name = StringBuilder::new();
    let mut ret = StringBuilder::new();
    let mut args = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut deterministic = BooleanBuilder::new();
    let mut description = StringBuilder::new();
    for r in rows {
        name.append_value(&r.name);
        ret.append_value(&r.return_type);
        args.append_value(&r.argument_types);
        kind.append_value(r.kind);
        deterministic.append_value(r.deterministic);
        description.append_value(&r.description);
    }
    let schema = Schema::new(vec![
        Field::new("Function", DataType::Utf8, false),
        Field::new("Return Type", DataType::Utf8, false),
        Field::new("Argument Types", DataType::Utf8, false),
        Field::new("Function Type", DataType::Utf8, false),
        Field::new("Deterministic", DataType::Boolean, false),
        Field::new("Description", DataType::Utf8, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(name.finish()),
            Arc::new(ret.finish()),
            Arc::new(args.finish()),
            Arc::new(kind.finish()),
            Arc::new(deterministic.finish()),
            Arc::new(description.finish()),
        ],
    )?)
}

/// (argument types, return type) per concrete variant of a signature, in
/// Trino type names; other signatures are described by DataFusion's own text.
fn signatures(
    signature: &TypeSignature,
    return_type: &dyn Fn(&[DataType]) -> Option<DataType>,
) -> Vec<(String, String)> {
    let concrete: Vec<Vec<DataType>> = match signature {
        TypeSignature::Exact(types) => vec![types.clone()],
        TypeSignature::Uniform(n, types) => types.iter().map(|t| vec![t.clone(); *n]).collect(),
        TypeSignature::Nullary => vec![vec![]],
        TypeSignature::OneOf(variants) => {
            return variants
                .iter()
                .flat_map(|v| signatures(v, return_type))
                .collect();
        }
        other => {
            return other
                .to_string_repr()
                .into_iter()
                .map(|s| (s, String::new()))
                .collect();
        }
    };
    concrete
        .into_iter()
        .map(|args| {
            let ret = return_type(&args)
                .map(|t| TrinoType::from_arrow(&t).name())
                .unwrap_or_default();
            let names: Vec<String> = args
                .iter()
                .map(|t| TrinoType::from_arrow(t).name())
                .collect();
            (names.join(", "), ret)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    #[test]
    fn functions_list_has_superset_shape() {
        let ctx = SessionContext::new();
        let batch = functions(&ctx.state()).unwrap();
        assert_eq!(batch.schema().field(0).name(), "Function");
        let names = batch.column(0).as_string::<i32>();
        let kinds = batch.column(3).as_string::<i32>();
        let find = |n: &str| (0..names.len()).find(|i| names.value(*i) == n);
        let abs = find("abs").expect("abs listed");
        assert_eq!(kinds.value(abs), "scalar");
        let sum = find("sum").expect("sum listed");
        assert_eq!(kinds.value(sum), "aggregate");
        assert!(find("row_number").is_some());
        let mut sorted: Vec<&str> = (0..names.len()).map(|i| names.value(i)).collect();
        let original = sorted.clone();
        sorted.sort();
        assert_eq!(sorted, original);
    }

    #[test]
    fn session_shows_set_values_and_defaults() {
        let mut s = Session::new("u", "c", "s");
        s.properties.insert("batch_size".into(), "77".into());
        let batch = session_properties(&s, &crate::limits::Limits::default()).unwrap();
        let names = batch.column(0).as_string::<i32>();
        let values = batch.column(1).as_string::<i32>();
        let defaults = batch.column(2).as_string::<i32>();
        let i = (0..names.len())
            .find(|i| names.value(*i) == "batch_size")
            .unwrap();
        assert_eq!(values.value(i), "77");
        assert_eq!(defaults.value(i), "8192");
        assert_eq!(batch.num_columns(), 5);
    }
}
