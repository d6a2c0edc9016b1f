//! Arrow schemas of the generated tables.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Defect labels the generator can inject, as stored in `defects.defect`.
pub const DEFECT_KINDS: &[&str] = &[
    "spike",
    "negative",
    "stale",
    "gap",
    "duplicate",
    "out_of_order",
    "future_ts",
    "null_price",
    "null_volume",
];

/// `ticks(commodity, ts, price, volume, source)`; `ts` is UTC microseconds.
pub fn ticks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("commodity", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("price", DataType::Float64, true),
        Field::new("volume", DataType::Int64, true),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// `defects(commodity, ts, source, defect, detail)`: one row per injected defect.
///
/// `ts` identifies the affected tick (for `gap`, the first missing instant and
/// `detail` gives the gap length); `detail` describes the injected value.
pub fn defects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("commodity", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("source", DataType::Utf8, false),
        Field::new("defect", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
    ]))
}
