//! Iceberg scans planned as DataFusion's own Parquet scan.
//!
//! iceberg-datafusion's `IcebergTableScan` decodes every data file of a scan
//! in one stream, on one thread. Here the snapshot's data files (from
//! Iceberg's scan planning, so manifest, partition and column-metrics
//! pruning still apply) become a DataFusion `DataSourceExec` over
//! `ParquetSource`: the files are spread over `target_partitions` groups
//! (and large files split by byte range), filters are pushed into the
//! Parquet reader for row-group and page-index pruning, and each file
//! carries its exact row count from the manifest, so `count(*)` without a
//! filter is answered from metadata without opening a file.
//!
//! The native plan is used only where it reads exactly what Iceberg's own
//! reader would ([`plan`] says why not otherwise, and the caller falls back):
//! no delete files in the snapshot, Parquet data files only, a table whose
//! schema never changed (files written under an older schema need Iceberg's
//! field-id mapping, which the fallback applies) and no name mapping
//! (migrated files without field ids), every file in one object store.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::TryStreamExt;
use iceberg::spec::{DEFAULT_SCHEMA_NAME_MAPPING, DataFileFormat};
use iceberg::table::Table;
use object_store::ObjectMeta;

use crate::storage::ObjectStoreStorage;

/// Why a scan was not planned natively (the caller uses Iceberg's reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The table's schema changed at some point: older files need field-id mapping.
    EvolvedSchema,
    /// Files may lack field ids (`schema.name-mapping.default` is set).
    NameMapping,
    /// The snapshot has delete files to apply.
    DeleteFiles,
    /// A data file is not Parquet.
    NotParquet,
    /// Data files in more than one object store, or in one not known here.
    Storage,
    /// The table's FileIO carries its own `s3.*` settings (vended credentials).
    VendedCredentials,
}

/// The outcome of [`plan`].
#[derive(Debug)]
pub enum Planned {
    /// A `DataSourceExec` (or an empty plan) that reads the snapshot.
    Native(Arc<dyn ExecutionPlan>),
    /// Use Iceberg's reader.
    Fallback(Fallback),
}

/// Plans the scan of `snapshot_id` of `table` as a DataFusion Parquet scan.
///
/// `schema` is the Arrow schema of the snapshot (with Iceberg field ids as
/// `PARQUET:field_id` metadata); `pushed` are the filters Iceberg can
/// evaluate exactly (they prune files here); `filters` are all the
/// query's filters on this table (DataFusion keeps them above the scan and
/// pushes them into the Parquet reader).
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    state: &dyn Session,
    table: &Table,
    snapshot_id: Option<i64>,
    schema: &SchemaRef,
    storage: &ObjectStoreStorage,
    projection: Option<&Vec<usize>>,
    pushed: &[Expr],
    limit: Option<usize>,
) -> DFResult<Planned> {
    let metadata = table.metadata();
    if metadata.schemas_iter().len() > 1 {
        return Ok(Planned::Fallback(Fallback::EvolvedSchema));
    }
    if metadata
        .properties()
        .contains_key(DEFAULT_SCHEMA_NAME_MAPPING)
    {
        return Ok(Planned::Fallback(Fallback::NameMapping));
    }
    if table
        .file_io()
        .config()
        .props()
        .keys()
        .any(|k| k.starts_with("s3."))
    {
        return Ok(Planned::Fallback(Fallback::VendedCredentials));
    }
    let projected = match projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => schema.clone(),
    };
    let snapshot_id = match snapshot_id.or_else(|| metadata.current_snapshot_id()) {
        Some(id) => id,
        None => return Ok(Planned::Native(Arc::new(EmptyExec::new(projected)))),
    };
    let mut scan = table.scan().snapshot_id(snapshot_id).select_all();
    if let Some(predicate) = iceberg_datafusion::physical_plan::convert_filters_to_predicate(pushed)
    {
        scan = scan.with_filter(predicate);
    }
    let tasks: Vec<_> = scan
        .build()
        .map_err(external)?
        .plan_files()
        .await
        .map_err(external)?
        .try_collect()
        .await
        .map_err(external)?;
    let mut store_key: Option<String> = None;
    let mut files = Vec::with_capacity(tasks.len());
    let mut rows = 0usize;
    let mut bytes = 0usize;
    for task in &tasks {
        if !task.deletes.is_empty() {
            return Ok(Planned::Fallback(Fallback::DeleteFiles));
        }
        if task.data_file_format != DataFileFormat::Parquet {
            return Ok(Planned::Fallback(Fallback::NotParquet));
        }
        let Some(key) = store_of(&task.data_file_path) else {
            return Ok(Planned::Fallback(Fallback::Storage));
        };
        match &store_key {
            Some(k) if *k != key => return Ok(Planned::Fallback(Fallback::Storage)),
            Some(_) => {}
            None => store_key = Some(key),
        }
        let (_, location) = storage.resolve(&task.data_file_path).map_err(external)?;
        let mut stats = Statistics::new_unknown(schema);
        // The whole file is read (Iceberg plans whole files): its manifest
        // row count is exact.
        let whole = task.start == 0 && task.length == task.file_size_in_bytes;
        if let (true, Some(n)) = (whole, task.record_count) {
            stats.num_rows = Precision::Exact(n as usize);
            rows += n as usize;
        } else {
            rows = usize::MAX;
        }
        stats.total_byte_size = Precision::Inexact(task.file_size_in_bytes as usize);
        bytes += task.file_size_in_bytes as usize;
        let mut file = PartitionedFile::new_from_meta(ObjectMeta {
            location,
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size: task.file_size_in_bytes,
            e_tag: None,
            version: None,
        })
        .with_statistics(Arc::new(stats));
        if !whole {
            file = file.with_range(task.start as i64, (task.start + task.length) as i64);
        }
        files.push(file);
    }
    let (Some(key), false) = (store_key, files.is_empty()) else {
        return Ok(Planned::Native(Arc::new(EmptyExec::new(projected))));
    };
    let (store, _) = storage
        .resolve(&tasks[0].data_file_path)
        .map_err(external)?;
    let url = ObjectStoreUrl::parse(&key)?;
    state
        .runtime_env()
        .register_object_store(url.as_ref(), store);

    let mut table_stats = Statistics::new_unknown(schema);
    table_stats.num_rows = if rows == usize::MAX {
        Precision::Absent
    } else {
        Precision::Exact(rows)
    };
    table_stats.total_byte_size = Precision::Inexact(bytes);
    table_stats.column_statistics = vec![ColumnStatistics::new_unknown(); schema.fields().len()];

    let partitions = state.config().target_partitions().max(1);
    let format = ParquetFormat::new().with_options(state.table_options().parquet.clone());
    let source = format.file_source(TableSchema::from(schema.clone()));
    let config = FileScanConfigBuilder::new(url, source)
        .with_file_groups(FileGroup::new(files).split_files(partitions))
        .with_statistics(table_stats)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    Ok(Planned::Native(
        format.create_physical_plan(state, config).await?,
    ))
}

/// The object-store URL the native scan registers for a data file's store:
/// one per S3 bucket, one for the local filesystem. The scheme is Contango's
/// own, so no other URL a query could name maps to these stores.
fn store_of(location: &str) -> Option<String> {
    if let Some(rest) = location
        .strip_prefix("s3://")
        .or_else(|| location.strip_prefix("s3a://"))
    {
        let bucket = rest.split_once('/').map_or(rest, |(b, _)| b);
        return (!bucket.is_empty()).then(|| format!("contango-s3://{bucket}"));
    }
    (location.starts_with("file:") || location.starts_with('/'))
        .then(|| "contango-file://local".to_string())
}

fn external(e: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Why a scan fell back, in words (logged at debug level).
pub fn describe(reason: Fallback) -> &'static str {
    match reason {
        Fallback::EvolvedSchema => "the table's schema evolved",
        Fallback::NameMapping => "the table has a name mapping",
        Fallback::DeleteFiles => "the snapshot has delete files",
        Fallback::NotParquet => "a data file is not Parquet",
        Fallback::Storage => "data files in several object stores",
        Fallback::VendedCredentials => "the table's FileIO has its own S3 settings",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_bucket() {
        for (location, store) in [
            ("s3://lake/wh/t/data/a.parquet", Some("contango-s3://lake")),
            ("s3a://lake/x", Some("contango-s3://lake")),
            ("file:///tmp/wh/a.parquet", Some("contango-file://local")),
            ("/tmp/wh/a.parquet", Some("contango-file://local")),
            ("gs://b/x", None),
            ("s3:///x", None),
        ] {
            assert_eq!(store_of(location).as_deref(), store, "{location}");
        }
    }

    #[test]
    fn reasons_are_described() {
        assert!(describe(Fallback::DeleteFiles).contains("delete"));
    }
}
