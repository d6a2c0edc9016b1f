//! What Trino's metadata views show of an Iceberg table beyond its columns:
//! the table comment (property `comment`), column comments (field docs),
//! partitioning in Trino's spelling and the `SHOW CREATE TABLE` text the
//! Trino Iceberg connector prints.

use std::collections::HashMap;

use contango_sql::TableInfo;
use std::sync::Arc;

use contango_sql::engine::{create_table_sql, quote_identifier};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::Transform;
use iceberg::table::Table;

/// Describes `table`, named `catalog.schema.name` in SQL.
pub fn describe(table: &Table, qualified_name: &str) -> iceberg::Result<TableInfo> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let arrow = schema_to_arrow_schema(schema)?;
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
            let col = quote_identifier(&source.name);
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
    let mut info = TableInfo {
        comment: metadata.properties().get("comment").cloned(),
        column_comments,
        create_table_sql: String::new(),
        partitioning,
    };
    let format = metadata
        .properties()
        .get("write.format.default")
        .map(|f| f.to_ascii_uppercase())
        .unwrap_or_else(|| "PARQUET".into());
    let mut with = vec![
        format!("   format = '{format}'"),
        format!("   format_version = {}", metadata.format_version() as u8),
        format!(
            "   location = '{}'",
            metadata.location().replace('\'', "''")
        ),
    ];
    if !info.partitioning.is_empty() {
        let items: Vec<String> = info
            .partitioning
            .iter()
            .map(|p| format!("'{}'", p.replace('\'', "''")))
            .collect();
        with.push(format!("   partitioning = ARRAY[{}]", items.join(",")));
    }
    let mut sql = create_table_sql(qualified_name, &Arc::new(arrow), Some(&info));
    sql.push_str(&format!("\nWITH (\n{}\n)", with.join(",\n")));
    info.create_table_sql = sql;
    Ok(info)
}
