//! A live DataFusion view of an Iceberg catalog.
//!
//! DataFusion's catalog traits list schemas and tables synchronously, so the
//! listing is cached and refreshed by the engine before every statement
//! ([`CatalogSource::refresh`]). Table lookups are asynchronous and always load
//! the table's current metadata, so each query reads the latest snapshot and a
//! commit by any writer (pyiceberg, Trino, Contango itself) is visible to the
//! next query.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use contango_common::error::{ContangoError, Result};
use contango_common::{CatalogSource, TableInfo};
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableIdent};

use crate::accelerate::{AcceleratedTable, Accelerations, Spec as AccelerationSpec};
use crate::live::{LiveTable, LiveTails};
use crate::storage::{ObjectStoreStorage, S3Settings};
use crate::table::IcebergTable;

/// An Iceberg catalog registered with the query engine under `name`.
#[derive(Debug, Clone)]
pub struct IcebergCatalog {
    name: String,
    inner: Arc<CatalogView>,
}

#[derive(Debug)]
struct CatalogView {
    catalog: Arc<dyn Catalog>,
    schemas: RwLock<BTreeMap<String, Arc<NamespaceView>>>,
    loaded: Arc<LoadedTables>,
    live: Arc<LiveTails>,
    storage: Option<Arc<ObjectStoreStorage>>,
    accelerations: Arc<Accelerations>,
}

#[derive(Debug)]
struct NamespaceView {
    catalog: Arc<dyn Catalog>,
    namespace: NamespaceIdent,
    tables: Vec<String>,
    loaded: Arc<LoadedTables>,
    live: Arc<LiveTails>,
    storage: Option<Arc<ObjectStoreStorage>>,
    accelerations: Arc<Accelerations>,
}

/// Tables loaded before, by identifier. A cached `Table` is reused while its
/// metadata location is unchanged, so its manifest cache stays warm across
/// queries; a new commit changes the location and replaces it.
#[derive(Debug, Default)]
struct LoadedTables(Mutex<HashMap<TableIdent, Table>>);

impl LoadedTables {
    fn reuse(&self, fresh: Table) -> Table {
        let mut map = self.0.lock().expect("table cache poisoned");
        match map.get(fresh.identifier()) {
            Some(cached) if cached.metadata_location() == fresh.metadata_location() => {
                cached.clone()
            }
            _ => {
                map.insert(fresh.identifier().clone(), fresh.clone());
                fresh
            }
        }
    }
}

impl IcebergCatalog {
    /// Wraps an opened catalog.
    pub fn new(name: impl Into<String>, catalog: Arc<dyn Catalog>) -> Self {
        Self {
            name: name.into(),
            inner: Arc::new(CatalogView {
                catalog,
                schemas: RwLock::default(),
                loaded: Arc::default(),
                live: Arc::default(),
                storage: None,
                accelerations: Arc::default(),
            }),
        }
    }

    /// Scans tables as DataFusion Parquet scans (in parallel, see
    /// [`crate::native_scan`]) through object stores built from `s3` (the
    /// settings the catalog's FileIO uses).
    pub fn with_native_scans(self, s3: S3Settings) -> Self {
        let view = CatalogView {
            catalog: self.inner.catalog.clone(),
            schemas: RwLock::default(),
            loaded: self.inner.loaded.clone(),
            live: self.inner.live.clone(),
            storage: Some(Arc::new(ObjectStoreStorage::new(s3))),
            accelerations: self.inner.accelerations.clone(),
        };
        Self {
            name: self.name,
            inner: Arc::new(view),
        }
    }

    /// Holds the tables of `specs` in memory (see [`crate::accelerate`]);
    /// their refresh tasks start on the current Tokio runtime. Tables
    /// accelerated later without a budget get `default_host_memory`.
    pub fn with_accelerations(
        self,
        specs: Vec<AccelerationSpec>,
        default_host_memory: usize,
    ) -> Self {
        let accelerations = Arc::new(Accelerations::new(specs, default_host_memory));
        accelerations.start(self.inner.catalog.clone(), self.inner.storage.clone());
        let view = CatalogView {
            catalog: self.inner.catalog.clone(),
            schemas: RwLock::default(),
            loaded: self.inner.loaded.clone(),
            live: self.inner.live.clone(),
            storage: self.inner.storage.clone(),
            accelerations,
        };
        Self {
            name: self.name,
            inner: Arc::new(view),
        }
    }

    /// The accelerated tables (`system.runtime.accelerations`).
    pub fn accelerations(&self) -> &Arc<Accelerations> {
        &self.inner.accelerations
    }

    /// The underlying Iceberg catalog.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.inner.catalog
    }

    /// Uncommitted rows of streamed tables, unioned into their scans.
    pub fn live_tails(&self) -> &Arc<LiveTails> {
        &self.inner.live
    }

    /// Loads a table's current metadata.
    pub async fn load_table(&self, namespace: &str, table: &str) -> Result<Table> {
        let ident = TableIdent::new(
            NamespaceIdent::new(namespace.to_string()),
            table.to_string(),
        );
        Ok(self.inner.catalog.load_table(&ident).await?)
    }
}

#[async_trait]
impl CatalogSource for IcebergCatalog {
    fn name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> Arc<dyn CatalogProvider> {
        self.inner.clone()
    }

    async fn table_info(&self, schema: &str, table: &str) -> Result<Option<TableInfo>> {
        let known = self
            .inner
            .schemas
            .read()
            .expect("schema cache poisoned")
            .get(schema)
            .is_some_and(|s| s.table_exist(table));
        if !known {
            return Ok(None);
        }
        let loaded = self.load_table(schema, table).await?;
        let loaded = self.inner.loaded.reuse(loaded);
        Ok(Some(crate::table_info::describe(&loaded)))
    }

    async fn accelerate(
        &self,
        schema: &str,
        table: &str,
        request: Option<contango_common::AccelerationRequest>,
    ) -> Result<bool> {
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_string()), table.to_string());
        let accelerations = &self.inner.accelerations;
        let Some(request) = request else {
            return Ok(accelerations.remove(&ident));
        };
        let default = accelerations.default_host_memory();
        Ok(accelerations.insert(AccelerationSpec::from_request(ident, request, default)))
    }

    fn read_version(&self, provider: &dyn TableProvider) -> Option<String> {
        let any = provider.as_any();
        if let Some(table) = any.downcast_ref::<IcebergTable>() {
            return table.read_version();
        }
        if let Some(table) = any.downcast_ref::<AcceleratedTable>() {
            return table.read_version();
        }
        any.downcast_ref::<LiveTable>()?.read_version()
    }

    async fn refresh(&self) -> Result<()> {
        let catalog = &self.inner.catalog;
        let namespaces = catalog.list_namespaces(None).await.map_err(unavailable)?;
        let mut schemas = BTreeMap::new();
        for namespace in namespaces {
            let tables = catalog
                .list_tables(&namespace)
                .await
                .map_err(unavailable)?
                .into_iter()
                .map(|t| t.name)
                .collect();
            schemas.insert(
                namespace.clone().inner().join("."),
                Arc::new(NamespaceView {
                    catalog: catalog.clone(),
                    namespace,
                    tables,
                    loaded: self.inner.loaded.clone(),
                    live: self.inner.live.clone(),
                    storage: self.inner.storage.clone(),
                    accelerations: self.inner.accelerations.clone(),
                }),
            );
        }
        *self.inner.schemas.write().expect("schema cache poisoned") = schemas;
        Ok(())
    }
}

fn unavailable(e: iceberg::Error) -> ContangoError {
    ContangoError::catalog_unavailable(format!("catalog listing failed: {e}"))
}

impl CatalogProvider for CatalogView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.schemas
            .read()
            .expect("schema cache poisoned")
            .keys()
            .cloned()
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas
            .read()
            .expect("schema cache poisoned")
            .get(name)
            .map(|s| s.clone() as Arc<dyn SchemaProvider>)
    }
}

#[async_trait]
impl SchemaProvider for NamespaceView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        // `t$snapshots` and friends: Iceberg metadata tables.
        if let Some((base, kind)) = name.rsplit_once('$')
            && self.tables.iter().any(|t| t == base)
        {
            let Some(table) = self.load(base).await? else {
                return Ok(None);
            };
            return crate::metadata_tables::provider(&table, kind).await;
        }
        // `t@v<snapshot id>` / `t@t<epoch ms>`: time travel (the SQL dialect rewrites `FOR VERSION AS OF`; see crate::time_travel).
        if let Some((base, version)) = name.rsplit_once('@')
            && self.tables.iter().any(|t| t == base)
        {
            let Some(table) = self.load(base).await? else {
                return Ok(None);
            };
            let snapshot_id = crate::time_travel::snapshot_for(&table, version)?;
            return Ok(Some(Arc::new(
                self.native(IcebergTable::at_snapshot(table, snapshot_id).await?),
            )));
        }
        if !self.table_exist(name) {
            return Ok(None);
        }
        let ident = TableIdent::new(self.namespace.clone(), name.to_string());
        // The tail is taken BEFORE the metadata is loaded (see crate::live).
        let tail = self.live.get(&ident).map(|t| (t.versioned_snapshot(), t));
        match self.catalog.load_table(&ident).await {
            Ok(table) => {
                let table = self.loaded.reuse(table);
                let iceberg = self.native(IcebergTable::try_new(table.clone()).await?);
                // The copy in memory when it holds exactly this snapshot.
                let (committed, committed_version) = self.accelerations.provider(&table, iceberg);
                match tail {
                    Some(((chunks, version), tail)) if !chunks.is_empty() => {
                        let offsets = crate::stream_offsets::committed(&table);
                        let rows = tail.uncommitted(chunks, &offsets)?;
                        let version = committed_version.map(|c| format!("{c}+{version}"));
                        Ok(Some(Arc::new(LiveTable::new(committed, rows, version)?)))
                    }
                    _ => Ok(Some(committed)),
                }
            }
            Err(e) if e.kind() == iceberg::ErrorKind::TableNotFound => Ok(None),
            Err(e) => Err(DataFusionError::External(Box::new(e))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let base = |sep: char| {
            name.rsplit_once(sep)
                .is_some_and(|(b, _)| self.tables.iter().any(|t| t == b))
        };
        self.tables.iter().any(|t| t == name) || base('$') || base('@')
    }
}

impl NamespaceView {
    fn native(&self, table: IcebergTable) -> IcebergTable {
        match &self.storage {
            Some(storage) => table.with_native_scan(storage.clone()),
            None => table,
        }
    }

    /// Loads table `name` (reusing the cached metadata when unchanged).
    async fn load(&self, name: &str) -> DFResult<Option<Table>> {
        let ident = TableIdent::new(self.namespace.clone(), name.to_string());
        match self.catalog.load_table(&ident).await {
            Ok(table) => Ok(Some(self.loaded.reuse(table))),
            Err(e) if e.kind() == iceberg::ErrorKind::TableNotFound => Ok(None),
            Err(e) => Err(DataFusionError::External(Box::new(e))),
        }
    }
}
