//! What Trino's metadata views show of an Iceberg table beyond its columns,
//! as plain data ([`TableInfo`]): the table comment (property `comment`),
//! column comments (field docs), partitioning in Trino's spelling, and the
//! properties Trino's Iceberg connector prints in `SHOW CREATE TABLE`'s
//! `WITH (...)`. The SQL front end renders the text.

use std::collections::HashMap;

use contango_common::TableInfo;
use contango_common::types::quote_field;
use iceberg::spec::Transform;
use iceberg::table::Table;

/// Describes `table`.
pub fn describe(table: &Table) -> TableInfo {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let column_comments: HashMap<String, String> = schema
        .as_struct()
        .fields()
        .iter()
        .filter_map(|f| f.doc.clone().map(|d| (f.name.clone(), d)))
        .collect();
    let partitioning: Vec<String> = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .filter_map(|pf| {
            let source = schema.field_by_id(pf.source_id)?;
            let col = quote_field(&source.name);
            Some(match pf.transform {
                Transform::Identity => col,
                Transform::Year => format!("year({col})"),
                Transform::Month => format!("month({col})"),
                Transform::Day => format!("day({col})"),
                Transform::Hour => format!("hour({col})"),
                Transform::Bucket(n) => format!("bucket({col}, {n})"),
                Transform::Truncate(w) => format!("truncate({col}, {w})"),
                Transform::Void => format!("void({col})"),
                Transform::Unknown => return None,
            })
        })
        .collect();
    let format = metadata
        .properties()
        .get("write.format.default")
        .map(|f| f.to_ascii_uppercase())
        .unwrap_or_else(|| "PARQUET".into());
    TableInfo {
        comment: metadata.properties().get("comment").cloned(),
        column_comments,
        partitioning,
        format: Some(format),
        format_version: Some(metadata.format_version() as u8),
        location: Some(metadata.location().to_string()),
    }
}
