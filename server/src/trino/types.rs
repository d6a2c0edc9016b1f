//! Trino's `typeSignature` objects for the `columns` of a `/v1/statement`
//! response. The type itself comes from the one type map,
//! [`contango_common::types::TrinoType`]; this is only its wire shape.

use contango_common::types::{TrinoType, UNBOUNDED_VARCHAR};
use serde_json::{Value, json};

/// Trino's `typeSignature` object, with the argument kinds clients index
/// (`LONG` for lengths and precisions, `TYPE` for element types,
/// `NAMED_TYPE` for row fields).
pub fn signature(t: &TrinoType) -> Value {
    let long = |v: i64| json!({"kind": "LONG", "value": v});
    let ty = |e: &TrinoType| json!({"kind": "TYPE", "value": signature(e)});
    let arguments: Vec<Value> = match t {
        TrinoType::Varchar => vec![long(UNBOUNDED_VARCHAR)],
        TrinoType::Decimal(p, s) => vec![long(*p as i64), long(*s as i64)],
        TrinoType::Time(p) | TrinoType::Timestamp(p) | TrinoType::TimestampTz(p) => {
            vec![long(*p as i64)]
        }
        TrinoType::Array(e) => vec![ty(e)],
        TrinoType::Map(k, v) => vec![ty(k), ty(v)],
        TrinoType::Row(fields) => fields
            .iter()
            .map(|(n, f)| {
                json!({"kind": "NAMED_TYPE", "value": {
                    "fieldName": {"name": n},
                    "typeSignature": signature(f),
                }})
            })
            .collect(),
        _ => Vec::new(),
    };
    json!({"rawType": t.raw_name(), "arguments": arguments})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_carry_the_arguments_clients_index() {
        let v = signature(&TrinoType::Varchar);
        assert_eq!(v["rawType"], "varchar");
        assert_eq!(
            v["arguments"][0],
            json!({"kind": "LONG", "value": 2147483647})
        );
        let d = signature(&TrinoType::Decimal(12, 4));
        assert_eq!(d["arguments"][1]["value"], 4);
        let ts = signature(&TrinoType::TimestampTz(3));
        assert_eq!(ts["rawType"], "timestamp with time zone");
        assert_eq!(ts["arguments"][0]["value"], 3);
        let arr = signature(&TrinoType::Array(Box::new(TrinoType::BigInt)));
        assert_eq!(arr["arguments"][0]["kind"], "TYPE");
        assert_eq!(arr["arguments"][0]["value"]["rawType"], "bigint");
        let row = signature(&TrinoType::Row(vec![("px".into(), TrinoType::Double)]));
        assert_eq!(row["arguments"][0]["kind"], "NAMED_TYPE");
        assert_eq!(row["arguments"][0]["value"]["fieldName"]["name"], "px");
        assert_eq!(
            row["arguments"][0]["value"]["typeSignature"]["rawType"],
            "double"
        );
        assert_eq!(signature(&TrinoType::Boolean)["arguments"], json!([]));
    }
}
