//! Appends that commit only on top of the snapshot the writer validated.
//!
//! iceberg-rust's `Transaction::commit` reloads the table and re-applies its
//! actions on whatever snapshot is current, which is right for blind appends
//! but wrong for a stream: a zombie writer would re-append offsets another
//! replica already committed. [`append_on`] commits through a catalog wrapper
//! that refuses the commit unless the table's current snapshot is still the
//! one the caller checked ([`CommitError::Moved`]); the catalog's own
//! compare-and-swap on the metadata location closes the remaining window.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result as IcebergResult, TableCommit,
    TableCreation, TableIdent,
};

/// Why a guarded append did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer committed after the caller's check: reload and re-validate.
    #[error("table {0} moved since it was checked (another writer committed)")]
    Moved(TableIdent),
    /// Any other failure (storage, catalog unreachable).
    #[error(transparent)]
    Iceberg(#[from] Error),
}

/// Appends `files` as one snapshot with `properties` in its summary, only if
/// `table` (the caller's checked state) is still current.
pub async fn append_on(
    catalog: Arc<dyn Catalog>,
    table: &Table,
    files: Vec<DataFile>,
    properties: HashMap<String, String>,
) -> Result<Table, CommitError> {
    let guard = Guard {
        inner: catalog,
        expected: table.metadata().current_snapshot_id(),
    };
    let tx = Transaction::new(table);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(properties)
        .apply(tx)?;
    match tx.commit(&guard).await {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
            Err(CommitError::Moved(table.identifier().clone()))
        }
        Err(e) => Err(CommitError::Iceberg(e)),
    }
}

/// Delegates to `inner`, refusing `update_table` when the current snapshot is
/// not `expected` (non-retryable, so the transaction does not rebase).
#[derive(Debug)]
struct Guard {
    inner: Arc<dyn Catalog>,
    expected: Option<i64>,
}

#[async_trait]
impl Catalog for Guard {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> IcebergResult<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> IcebergResult<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> IcebergResult<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> IcebergResult<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> IcebergResult<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> IcebergResult<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> IcebergResult<Table> {
        self.inner.load_table(table).await
    }
    async fn drop_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> IcebergResult<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> IcebergResult<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> IcebergResult<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> IcebergResult<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> IcebergResult<Table> {
        let current = self.inner.load_table(commit.identifier()).await?;
        if current.metadata().current_snapshot_id() != self.expected {
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("table {} moved since it was checked", commit.identifier()),
            )
            .with_retryable(false));
        }
        self.inner.update_table(commit).await
    }
}
