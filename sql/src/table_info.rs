//! Table-level metadata a catalog can describe beyond the Arrow schema:
//! comments, partitioning and the `SHOW CREATE TABLE` text, as Trino's
//! metadata views (`information_schema`, `system.metadata.table_comments`,
//! `SHOW CREATE TABLE`) present them.

use std::collections::HashMap;

/// What a catalog knows about one table besides its columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    /// Table comment (Iceberg property `comment`).
    pub comment: Option<String>,
    /// Column comments by column name (Iceberg field docs).
    pub column_comments: HashMap<String, String>,
    /// Trino's `SHOW CREATE TABLE` text for the table.
    pub create_table_sql: String,
    /// Partition transforms in Trino spelling, e.g. `day(ts)`, `commodity`.
    pub partitioning: Vec<String>,
}
