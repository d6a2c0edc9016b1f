//! Compaction: rewrite the small data files of closed partitions into large
//! ones, committed as ONE `replace` snapshot.
//!
//! iceberg-rust 0.10 has no rewrite action, so the snapshot is built here
//! from its public spec types: a new manifest lists the kept files as
//! EXISTING, the rewritten ones as DELETED and the new ones as ADDED; a new
//! manifest list and table metadata are written, and the table pointer is
//! swapped in the SQL catalog (JDBC layout) with a compare-and-swap on the
//! metadata location, exactly as the catalog's own commits do. Readers see
//! the old snapshot or the new one, never a mix; a concurrent commit makes
//! the swap fail and the compaction is simply retried later. The new
//! snapshot carries the parent's Kafka offsets, so streams resume unchanged.
//!
//! Only SQL catalogs, format-v2 tables with one schema and one partition
//! spec and no delete files are compacted; anything else is skipped.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use contango_common::error::{ContangoError, Result};
use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, Literal, ManifestContentType, ManifestListWriter,
    ManifestWriterBuilder, Operation, PrimitiveLiteral, Snapshot, SnapshotReference,
    SnapshotRetention, Summary, TableMetadataBuilder, Transform,
};
use iceberg::table::Table;
use iceberg::{Catalog, MetadataLocation, TableIdent};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::connect::{CatalogKind, CatalogSettings};
use crate::writer::TableAppender;
use contango_common::stream::OFFSETS_PROP;

/// What to compact.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// Files smaller than this are candidates.
    pub small_file_bytes: u64,
    /// A partition is rewritten when it has at least this many small files.
    pub min_files: usize,
    /// Day partitions (days since the epoch) before this one are closed.
    pub closed_before_day: i32,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Partitions rewritten.
    pub partitions: usize,
    /// Data files replaced.
    pub files_removed: usize,
    /// Data files written.
    pub files_added: usize,
    /// Rows rewritten.
    pub rows: u64,
    /// The replace snapshot.
    pub snapshot_id: i64,
}

struct LiveEntry {
    file: DataFile,
    snapshot_id: i64,
    sequence_number: i64,
    file_sequence_number: Option<i64>,
}

/// Compacts `ident` per `policy`. `Ok(None)`: nothing to do, unsupported
/// table or catalog, or another writer committed first (try again later).
pub async fn compact(
    catalog: &Arc<dyn Catalog>,
    settings: &CatalogSettings,
    ident: &TableIdent,
    policy: CompactionPolicy,
) -> Result<Option<CompactionReport>> {
    if settings.kind != CatalogKind::Sql {
        return Ok(None);
    }
    let table = catalog.load_table(ident).await?;
    let metadata = table.metadata();
    let Some(snapshot) = metadata.current_snapshot() else {
        return Ok(None);
    };
    if metadata.format_version() != FormatVersion::V2
        || metadata.schemas_iter().count() != 1
        || metadata.partition_specs_iter().count() != 1
    {
        return Ok(None);
    }
    let spec = metadata.default_partition_spec().clone();
    let Some(day_index) = spec
        .fields()
        .iter()
        .position(|f| f.transform == Transform::Day)
    else {
        return Ok(None);
    };

    // Live data files of the current snapshot.
    let list = table.manifest_list_reader(snapshot).load().await?;
    let mut live = Vec::new();
    for manifest_file in list.entries() {
        if manifest_file.content != ManifestContentType::Data
            || manifest_file.partition_spec_id != spec.spec_id()
        {
            return Ok(None);
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        for entry in manifest.entries() {
            if !entry.is_alive() {
                continue;
            }
            if entry.data_file().content_type() != DataContentType::Data {
                return Ok(None);
            }
            live.push(LiveEntry {
                file: entry.data_file().clone(),
                snapshot_id: entry.snapshot_id().unwrap_or(snapshot.snapshot_id()),
                sequence_number: entry.sequence_number().unwrap_or(0),
                file_sequence_number: entry.file_sequence_number,
            });
        }
    }

    // Small files of closed partitions, grouped by partition.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in live.iter().enumerate() {
        let day = e
            .file
            .partition()
            .fields()
            .get(day_index)
            .and_then(|v| match v {
                Some(Literal::Primitive(PrimitiveLiteral::Int(d))) => Some(*d),
                _ => None,
            });
        let closed = day.is_some_and(|d| d < policy.closed_before_day);
        if closed && e.file.file_size_in_bytes() < policy.small_file_bytes {
            groups
                .entry(format!("{:?}", e.file.partition()))
                .or_default()
                .push(i);
        }
    }
    groups.retain(|_, files| files.len() >= policy.min_files);
    if groups.is_empty() {
        return Ok(None);
    }

    // Rewrite: read every chosen file, write through the partitioned writer.
    let mut appender = TableAppender::new(table.clone())?;
    let mut replaced = vec![false; live.len()];
    let mut rows = 0u64;
    for files in groups.values() {
        for &i in files {
            for batch in read_parquet(&table, live[i].file.file_path()).await? {
                rows += batch.num_rows() as u64;
                appender.write(&batch).await?;
            }
            replaced[i] = true;
        }
    }
    let new_files = appender.finish().await?;
    let removed_rows: u64 = live
        .iter()
        .zip(&replaced)
        .filter(|(_, r)| **r)
        .map(|(e, _)| e.file.record_count())
        .sum();
    if removed_rows != rows {
        return Err(ContangoError::internal(format!(
            "compaction of {ident} read {rows} rows from files that record {removed_rows}"
        )));
    }

    // The replace snapshot.
    let snapshot_id = new_snapshot_id(&table);
    let sequence_number = metadata.next_sequence_number();
    let file_io = table.file_io();
    let location = metadata.location();
    let uuid = uuid::Uuid::new_v4();
    let manifest_path = format!("{location}/metadata/{uuid}-m0.avro");
    let mut writer = ManifestWriterBuilder::new(
        file_io.new_output(&manifest_path)?,
        Some(snapshot_id),
        metadata.current_schema().clone(),
        spec.as_ref().clone(),
    )
    .build_v2_data();
    let mut removed_bytes = 0u64;
    for (e, r) in live.iter().zip(&replaced) {
        if *r {
            removed_bytes += e.file.file_size_in_bytes();
            writer.add_delete_file(e.file.clone(), e.sequence_number, e.file_sequence_number)?;
        } else {
            writer.add_existing_file(
                e.file.clone(),
                e.snapshot_id,
                e.sequence_number,
                e.file_sequence_number,
            )?;
        }
    }
    let added_bytes: u64 = new_files.iter().map(|f| f.file_size_in_bytes()).sum();
    let files_added = new_files.len();
    for f in new_files {
        writer.add_file(f, sequence_number)?;
    }
    let manifest = writer.write_manifest_file().await?;
    let list_path = format!("{location}/metadata/snap-{snapshot_id}-1-{uuid}.avro");
    let mut list_writer = ManifestListWriter::v2(
        file_io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        Some(snapshot.snapshot_id()),
        sequence_number,
    );
    list_writer.add_manifests(std::iter::once(manifest))?;
    list_writer.close().await?;

    let parent = &snapshot.summary().additional_properties;
    let number = |k: &str| {
        parent
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let files_removed = replaced.iter().filter(|r| **r).count();
    let mut props: HashMap<String, String> = HashMap::from([
        ("added-data-files".into(), files_added.to_string()),
        ("deleted-data-files".into(), files_removed.to_string()),
        ("added-records".into(), rows.to_string()),
        ("deleted-records".into(), rows.to_string()),
        ("added-files-size".into(), added_bytes.to_string()),
        ("removed-files-size".into(), removed_bytes.to_string()),
        ("total-records".into(), number("total-records").to_string()),
        (
            "total-data-files".into(),
            (number("total-data-files") + files_added as u64)
                .saturating_sub(files_removed as u64)
                .to_string(),
        ),
        (
            "total-files-size".into(),
            (number("total-files-size") + added_bytes)
                .saturating_sub(removed_bytes)
                .to_string(),
        ),
        ("contango.compaction".into(), "true".into()),
    ]);
    if let Some(offsets) = parent.get(OFFSETS_PROP) {
        props.insert(OFFSETS_PROP.into(), offsets.clone());
    }
    let new_snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(snapshot.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation: Operation::Replace,
            additional_properties: props,
        })
        .with_schema_id(metadata.current_schema_id())
        .build();
    let current_location = table
        .metadata_location()
        .ok_or_else(|| ContangoError::internal("table has no metadata location"))?
        .to_string();
    let new_metadata =
        TableMetadataBuilder::new_from_metadata(metadata.clone(), Some(current_location.clone()))
            .add_snapshot(new_snapshot)?
            .set_ref(
                "main",
                SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            )?
            .build()?
            .metadata;
    // A NEW file (next version, new uuid): the current one is never overwritten.
    let new_location = MetadataLocation::from_str(&current_location)?
        .with_next_version()
        .with_new_metadata(&new_metadata);
    new_metadata.write_to(file_io, &new_location).await?;

    if !swap_pointer(
        settings,
        ident,
        &current_location,
        &new_location.to_string(),
    )
    .await?
    {
        tracing::info!(table = %ident, "compaction lost a race with another commit; will retry");
        return Ok(None);
    }
    Ok(Some(CompactionReport {
        partitions: groups.len(),
        files_removed,
        files_added,
        rows,
        snapshot_id,
    }))
}

fn new_snapshot_id(table: &Table) -> i64 {
    loop {
        let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((hi ^ lo) & (i64::MAX as u64)) as i64;
        if id != 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

async fn read_parquet(table: &Table, path: &str) -> Result<Vec<RecordBatch>> {
    let bytes = table.file_io().new_input(path)?.read().await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| ContangoError::internal(format!("reading {path}: {e}")))?
        .with_batch_size(65_536)
        .build()
        .map_err(|e| ContangoError::internal(format!("reading {path}: {e}")))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ContangoError::internal(format!("reading {path}: {e}")))
}

/// Compare-and-swap of the table pointer in the JDBC-layout `iceberg_tables`.
async fn swap_pointer(
    settings: &CatalogSettings,
    ident: &TableIdent,
    current: &str,
    new: &str,
) -> Result<bool> {
    let namespace = ident.namespace().clone().inner().join(".");
    let sql = "UPDATE iceberg_tables SET metadata_location = {1}, previous_metadata_location = {2} \
               WHERE catalog_name = {3} AND table_namespace = {4} AND table_name = {5} \
               AND metadata_location = {6}";
    let db = |e: sqlx::Error| ContangoError::catalog_unavailable(format!("catalog database: {e}"));
    // PostgreSQL binds $n, SQLite `?`; the pool type is the same.
    let postgres = settings.uri.starts_with("postgres");
    let sql = (1..=6).fold(sql.to_string(), |s, i| {
        let mark = if postgres {
            format!("${i}")
        } else {
            "?".into()
        };
        s.replace(&format!("{{{i}}}"), &mark)
    });
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&settings.uri).await.map_err(db)?;
    let affected = sqlx::query(&sql)
        .bind(new)
        .bind(current)
        .bind(&settings.name)
        .bind(&namespace)
        .bind(ident.name())
        .bind(current)
        .execute(&pool)
        .await
        .map_err(db)?
        .rows_affected();
    pool.close().await;
    Ok(affected == 1)
}
