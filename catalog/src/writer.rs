//! Appending Arrow batches to Iceberg tables.
//!
//! [`TableAppender`] writes Parquet data files through Iceberg's writers (fanout
//! by partition, rolling by size) and commits all of them as ONE append snapshot,
//! so readers see either none or all of an import. Open partition writers are
//! closed every [`ROLL_ROWS`] rows to bound memory on large, partition-sorted inputs.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef as ArrowSchemaRef};
use contango_common::error::{ContangoError, Result};
use iceberg::arrow::{
    RecordBatchPartitionSplitter, arrow_schema_to_schema_auto_assign_ids, schema_to_arrow_schema,
};
use iceberg::spec::{DataFile, DataFileFormat, Transform, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Partition writers are closed (files finished) after this many rows.
pub const ROLL_ROWS: usize = 4_000_000;
/// Target data file size.
const TARGET_FILE_BYTES: usize = 256 * 1024 * 1024;

/// A partition field: source column and transform (e.g. `("ts", Transform::Day)`).
pub type PartitionField<'a> = (&'a str, Transform);

/// Parses `catalog.namespace.table` or `namespace.table`.
pub fn parse_table_name(name: &str, catalog_name: &str) -> Result<TableIdent> {
    let parts: Vec<&str> = name.split('.').collect();
    let parts = match parts.as_slice() {
        [c, ns, t] if *c == catalog_name => vec![*ns, *t],
        [c, _, _] => {
            return Err(ContangoError::invalid(format!(
                "unknown catalog '{c}' in '{name}' (this server's catalog is '{catalog_name}')"
            )));
        }
        [ns, t] => vec![*ns, *t],
        _ => {
            return Err(ContangoError::invalid(format!(
                "table name '{name}' must be {catalog_name}.<namespace>.<table>"
            )));
        }
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ContangoError::invalid(format!(
            "invalid table name '{name}'"
        )));
    }
    // `t$files` names a metadata table and `t@v<id>` a snapshot: a table
    // called so could be created but never queried.
    for part in &parts {
        if let Some(c) = part
            .chars()
            .find(|c| matches!(c, '$' | '@' | '"' | '`') || c.is_control())
        {
            return Err(ContangoError::invalid(format!(
                "invalid table name '{name}': '{}' is reserved ('$' names metadata tables such as \
                 t$snapshots, '@' names snapshots; quotes and control characters are not allowed)",
                c.escape_default()
            )));
        }
    }
    Ok(TableIdent::new(
        NamespaceIdent::new(parts[0].to_string()),
        parts[1].to_string(),
    ))
}

/// Loads `ident`, or creates it (and its namespace) with `schema` and `partition`.
/// An existing table must accept `schema` (see [`check_schema_fits`]).
pub async fn ensure_table(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    schema: &ArrowSchemaRef,
    partition: &[PartitionField<'_>],
) -> Result<Table> {
    if catalog.table_exists(ident).await? {
        let table = catalog.load_table(ident).await?;
        check_schema_fits(&table, schema)?;
        return Ok(table);
    }
    if !catalog.namespace_exists(ident.namespace()).await? {
        catalog
            .create_namespace(ident.namespace(), HashMap::new())
            .await?;
    }
    let iceberg_schema = arrow_schema_to_schema_auto_assign_ids(schema)?;
    let mut spec = UnboundPartitionSpec::builder();
    for (column, transform) in partition {
        let field = iceberg_schema.field_by_name(column).ok_or_else(|| {
            ContangoError::invalid(format!("partition column '{column}' is not in the schema"))
        })?;
        let name = match transform {
            Transform::Identity => column.to_string(),
            t => format!("{column}_{}", t.to_string().to_ascii_lowercase()),
        };
        spec = spec.add_partition_field(field.id, name, *transform)?;
    }
    let creation = TableCreation::builder()
        .name(ident.name().to_string())
        .schema(iceberg_schema)
        .partition_spec(spec.build())
        .properties(HashMap::from([(
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        )]))
        .build();
    Ok(catalog.create_table(ident.namespace(), creation).await?)
}

/// An existing table accepts a schema when every incoming column exists in the
/// table with a type that casts safely, and every required table column is present.
pub fn check_schema_fits(table: &Table, incoming: &ArrowSchemaRef) -> Result<()> {
    let target = schema_to_arrow_schema(table.metadata().current_schema())?;
    let name = table.identifier();
    for field in incoming.fields() {
        let Ok(t) = target.field_with_name(field.name()) else {
            return Err(ContangoError::invalid(format!(
                "schema does not fit table {name}: column '{}' is not in the table (table columns: {})",
                field.name(),
                target
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if !types_fit(field.data_type(), t.data_type()) {
            return Err(ContangoError::invalid(format!(
                "schema does not fit table {name}: column '{}' is {} in the input but {} in the table",
                field.name(),
                field.data_type(),
                t.data_type()
            )));
        }
    }
    for t in target.fields() {
        if !t.is_nullable() && incoming.field_with_name(t.name()).is_err() {
            return Err(ContangoError::invalid(format!(
                "schema does not fit table {name}: required column '{}' is missing from the input",
                t.name()
            )));
        }
    }
    Ok(())
}

fn types_fit(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || from == &Null {
        return true;
    }
    match (from, to) {
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => true,
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => true,
        (Int8 | Int16 | Int32, Int32 | Int64) | (Int64, Int64) => true,
        (Int8 | Int16 | Int32 | Int64 | Float32, Float64) | (Float32, Float32) => true,
        (Timestamp(u1, z1), Timestamp(u2, z2)) => {
            z1.is_some() == z2.is_some()
                && (u1 == u2 || matches!(u2, arrow::datatypes::TimeUnit::Microsecond))
        }
        (Date32, Date32) | (Boolean, Boolean) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => s1 == s2 && p1 <= p2,
        _ => false,
    }
}

/// `batch` with the columns of `target`, matched by name and cast to the
/// target types; absent columns are NULL.
pub fn conform_batch(
    target: &ArrowSchemaRef,
    batch: &RecordBatch,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let columns = target
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()),
            None => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(target.clone(), columns)
}

type DataWriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Streams batches into new data files of one table and commits them together.
pub struct TableAppender {
    table: Table,
    target: ArrowSchemaRef,
    splitter: Option<RecordBatchPartitionSplitter>,
    fanout: Option<FanoutWriter<DataWriterBuilder>>,
    plain: Option<<DataWriterBuilder as IcebergWriterBuilder>::R>,
    rows_open: usize,
    rows: u64,
    files: Vec<DataFile>,
}

impl TableAppender {
    /// An appender for the current state of `table`.
    pub fn new(table: Table) -> Result<Self> {
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let target = Arc::new(schema_to_arrow_schema(&schema)?);
        let spec = metadata.default_partition_spec().clone();
        let splitter = if spec.is_unpartitioned() {
            None
        } else {
            Some(RecordBatchPartitionSplitter::try_new_with_computed_values(
                schema, spec,
            )?)
        };
        Ok(Self {
            table,
            target,
            splitter,
            fanout: None,
            plain: None,
            rows_open: 0,
            rows: 0,
            files: Vec::new(),
        })
    }

    /// A fresh data-file writer builder (new file-name prefix each time).
    fn data_writer_builder(&self) -> Result<DataWriterBuilder> {
        let metadata = self.table.metadata();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("level 1 is valid"),
            ))
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let parquet = ParquetWriterBuilder::new(props, metadata.current_schema().clone());
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            TARGET_FILE_BYTES,
            self.table.file_io().clone(),
            DefaultLocationGenerator::new(metadata)?,
            DefaultFileNameGenerator::new(
                uuid::Uuid::new_v4().to_string(),
                None,
                DataFileFormat::Parquet,
            ),
        );
        Ok(DataFileWriterBuilder::new(rolling))
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one batch (columns matched by name, cast to the table types).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        match &self.splitter {
            Some(splitter) => {
                let parts = splitter.split(&batch)?;
                if self.fanout.is_none() {
                    self.fanout = Some(FanoutWriter::new(self.data_writer_builder()?));
                }
                let fanout = self.fanout.as_mut().expect("writer just built");
                for (key, part) in parts {
                    fanout.write(key, part).await?;
                }
            }
            None => {
                if self.plain.is_none() {
                    self.plain = Some(self.data_writer_builder()?.build(None).await?);
                }
                self.plain
                    .as_mut()
                    .expect("writer just built")
                    .write(batch.clone())
                    .await?;
            }
        }
        self.rows += batch.num_rows() as u64;
        self.rows_open += batch.num_rows();
        if self.rows_open >= ROLL_ROWS {
            self.close_open_files().await?;
        }
        Ok(())
    }

    /// Reorders and casts `batch` to the table's Arrow schema (with field ids).
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        conform_batch(&self.target, batch).map_err(|e| {
            ContangoError::invalid(format!(
                "rows do not fit table {}: {e}",
                self.table.identifier()
            ))
        })
    }

    async fn close_open_files(&mut self) -> Result<()> {
        if let Some(fanout) = self.fanout.take() {
            self.files.extend(fanout.close().await?);
        }
        if let Some(mut plain) = self.plain.take() {
            self.files.extend(plain.close().await?);
        }
        self.rows_open = 0;
        Ok(())
    }

    /// Gives up: finishes the open files and deletes every data file this
    /// appender wrote, so a failed write leaves no unreferenced file behind.
    /// Returns the first error met (a file that could not be finished or
    /// deleted is then left, and the error says so).
    pub async fn abort(mut self) -> Result<()> {
        let mut first = self.close_open_files().await.err();
        let io = self.table.file_io().clone();
        for file in &self.files {
            if let Err(e) = io.delete(file.file_path()).await {
                first.get_or_insert(ContangoError::from(e));
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Finishes all files without committing and returns them (for
    /// [`crate::guarded_commit::append_on`]).
    pub async fn finish(mut self) -> Result<Vec<DataFile>> {
        self.close_open_files().await?;
        Ok(self.files)
    }

    /// Finishes all files and commits them as one append snapshot with
    /// `properties` in its summary. Returns the committed table, or the
    /// unchanged table when nothing was written.
    ///
    /// When the commit fails, the catalog is asked whether it landed anyway
    /// (the snapshot carries a unique [`COMMIT_ID_PROPERTY`]): if it did, the
    /// committed table is returned; if the catalog answers that it did not,
    /// the data files are deleted, so nothing unreferenced stays behind;
    /// if the catalog cannot be asked, the outcome is unknown and the files
    /// are kept (deleting them could corrupt a snapshot that did land), and
    /// the error says so.
    pub async fn commit(
        mut self,
        catalog: &dyn Catalog,
        mut properties: HashMap<String, String>,
    ) -> Result<Table> {
        self.close_open_files().await?;
        if self.files.is_empty() {
            return Ok(self.table);
        }
        let commit_id = uuid::Uuid::new_v4().to_string();
        properties.insert(COMMIT_ID_PROPERTY.to_string(), commit_id.clone());
        let files = std::mem::take(&mut self.files);
        let paths: Vec<String> = files.iter().map(|f| f.file_path().to_string()).collect();
        let tx = Transaction::new(&self.table);
        let action = tx
            .fast_append()
            .add_data_files(files)
            .set_snapshot_properties(properties);
        let tx = action.apply(tx)?;
        let error = match tx.commit(catalog).await {
            Ok(table) => return Ok(table),
            Err(e) => ContangoError::from(e),
        };
        let ident = self.table.identifier();
        match catalog.load_table(ident).await {
            Ok(current) if holds_commit(&current, &commit_id) => {
                tracing::warn!(table = %ident, %error, "the commit reported an error but landed");
                Ok(current)
            }
            Ok(_) => {
                let io = self.table.file_io();
                for path in &paths {
                    if let Err(e) = io.delete(path).await {
                        tracing::warn!(error = %e, %path, "an uncommitted data file could not be deleted");
                    }
                }
                Err(error)
            }
            Err(lookup) => {
                tracing::warn!(
                    table = %ident, %error, %lookup, files = paths.len(),
                    "commit outcome unknown: its data files are kept"
                );
                Err(ContangoError::new(
                    error.kind(),
                    format!(
                        "{} (whether the commit landed is unknown: the catalog could not be asked; \
                         its {} data file(s) under {} were kept)",
                        error.message(),
                        paths.len(),
                        self.table.metadata().location()
                    ),
                ))
            }
        }
    }
}

/// Snapshot-summary property naming the commit that wrote a snapshot, so a
/// writer whose commit reported an error can tell whether it landed.
pub const COMMIT_ID_PROPERTY: &str = "contango.commit-id";

/// Whether any snapshot of `table` was written by the commit `commit_id`.
fn holds_commit(table: &Table, commit_id: &str) -> bool {
    table.metadata().snapshots().any(|s| {
        s.summary()
            .additional_properties
            .get(COMMIT_ID_PROPERTY)
            .is_some_and(|id| id == commit_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let t = parse_table_name("iceberg.market.ticks", "iceberg").unwrap();
        assert_eq!(t.namespace().clone().inner(), vec!["market".to_string()]);
        assert_eq!(t.name(), "ticks");
        assert!(parse_table_name("market.ticks", "iceberg").is_ok());
        assert!(parse_table_name("other.market.ticks", "iceberg").is_err());
        assert!(parse_table_name("ticks", "iceberg").is_err());
        assert!(parse_table_name("iceberg..t", "iceberg").is_err());
        for bad in [
            "iceberg.market.ticks$files",
            "market.ticks@v1",
            "m$x.t",
            "market.t\"x",
            "market.a\nb",
        ] {
            let e = parse_table_name(bad, "iceberg").unwrap_err();
            assert!(
                e.message().contains("is reserved"),
                "{bad}: {}",
                e.message()
            );
        }
    }
}
