//! What the SQL layer needs of a catalog, as plain data: the
//! [`CatalogSource`] trait a catalog implements to be registered with the
//! engine, and [`TableInfo`], what it knows of a table besides its Arrow
//! schema. The SQL front end renders Trino's metadata views and
//! `SHOW CREATE TABLE` from this; no catalog writes SQL text.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, TableProvider};

use crate::error::Result;

/// A catalog clients can address: its name, DataFusion view and metadata.
#[async_trait]
pub trait CatalogSource: Send + Sync + Debug {
    /// Name clients use to address it.
    fn name(&self) -> &str;
    /// The DataFusion view of the catalog.
    fn provider(&self) -> Arc<dyn CatalogProvider>;
    /// Re-reads namespaces and table names.
    async fn refresh(&self) -> Result<()>;
    /// Comments, partitioning and properties of `schema.table`; `None` when
    /// the table does not exist or the catalog has nothing to add.
    async fn table_info(&self, _schema: &str, _table: &str) -> Result<Option<TableInfo>> {
        Ok(None)
    }
    /// A token naming exactly the data `provider` (one of this catalog's
    /// table providers, as a query planned it) reads: equal tokens mean
    /// equal rows. `None` when `provider` is not one of this catalog's
    /// tables or its data cannot be named so (the results cache then keeps
    /// nothing of a query reading it).
    fn read_version(&self, _provider: &dyn TableProvider) -> Option<String> {
        None
    }
    /// Holds `schema.table` in memory as `request` says, replacing what
    /// was asked before (`None`: holds it no more). Returns whether the
    /// table was accelerated before.
    async fn accelerate(
        &self,
        _schema: &str,
        _table: &str,
        _request: Option<AccelerationRequest>,
    ) -> Result<bool> {
        Err(crate::error::ContangoError::not_supported(format!(
            "catalog '{}' cannot hold tables in memory",
            self.name()
        )))
    }
}

/// How to hold a table in memory (`CALL system.runtime.accelerate(...)`,
/// `[[accelerate]]`), as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccelerationRequest {
    /// Columns to hold (empty: all).
    pub columns: Vec<String>,
    /// Sort (cluster) key.
    pub sort: Vec<String>,
    /// Hold only the rows of the last `.1` by column `.0`.
    pub window: Option<(String, std::time::Duration)>,
    /// Host-memory budget in bytes (`None`: the default).
    pub host_memory: Option<u64>,
}

/// What a catalog knows about one table besides its columns, as Trino's
/// metadata views (`information_schema`, `system.metadata.table_comments`,
/// `SHOW CREATE TABLE`) present it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    /// Table comment (Iceberg property `comment`).
    pub comment: Option<String>,
    /// Column comments by column name (Iceberg field docs).
    pub column_comments: HashMap<String, String>,
    /// Partition transforms in Trino spelling, e.g. `day(ts)`, `commodity`.
    pub partitioning: Vec<String>,
    /// File format in Trino's spelling (`PARQUET`), when the catalog has one.
    pub format: Option<String>,
    /// Table format version (Iceberg's 1 or 2).
    pub format_version: Option<u8>,
    /// Where the table's files live.
    pub location: Option<String>,
}
