//! Loading CSV, Parquet and NDJSON files (local or `s3://`) into Iceberg tables.
//!
//! Files are read with DataFusion in a private context (client SQL never gets
//! this access), the inferred schema creates the table when it is absent, and
//! all rows land in one append snapshot.

use std::collections::HashMap;
use std::str::FromStr;

use contango_common::error::{ContangoError, Result};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::options::JsonReadOptions;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use iceberg::Catalog;
use object_store::ObjectStoreExt;
use url::Url;

use crate::storage::S3Settings;
use crate::writer::{TableAppender, ensure_table, parse_table_name};

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// Newline-delimited JSON.
    NdJson,
}

impl FromStr for FileFormat {
    type Err = ContangoError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "parquet" => Ok(Self::Parquet),
            "ndjson" | "json" | "jsonl" => Ok(Self::NdJson),
            other => Err(ContangoError::invalid(format!(
                "unknown format '{other}': use csv, parquet or ndjson"
            ))),
        }
    }
}

impl FileFormat {
    /// Guesses the format from a file name.
    pub fn from_path(path: &str) -> Result<Self> {
        let lower = path.to_ascii_lowercase();
        let ext = lower.rsplit('.').next().unwrap_or("");
        Self::from_str(ext).map_err(|_| {
            ContangoError::invalid(format!(
                "cannot tell the format of '{path}' from its extension: pass --format"
            ))
        })
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows appended.
    pub rows: u64,
    /// Snapshot that holds them (None when no rows were read).
    pub snapshot_id: Option<i64>,
    /// Whether the table was created by this import.
    pub created: bool,
}

/// Imports `sources` into `table` (`catalog.namespace.table`), calling
/// `progress` with the running row count after every batch.
pub async fn import_files(
    catalog: &dyn Catalog,
    catalog_name: &str,
    table: &str,
    format: Option<FileFormat>,
    sources: &[String],
    s3: &S3Settings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ImportReport> {
    let ident = parse_table_name(table, catalog_name)?;
    let first = sources
        .first()
        .ok_or_else(|| ContangoError::invalid("no input files given"))?;
    let format = match format {
        Some(f) => f,
        None => FileFormat::from_path(first)?,
    };
    let ctx = SessionContext::new();
    let paths = sources
        .iter()
        .map(|s| register_source(&ctx, s, s3))
        .collect::<Result<Vec<_>>>()?;
    for (source, path) in sources.iter().zip(&paths) {
        ensure_object_exists(s3, source, path).await?;
    }
    let frame = iceberg_types(read(&ctx, format, paths).await?)?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let created = !catalog.table_exists(&ident).await?;
    let table = ensure_table(catalog, &ident, &schema, &[]).await?;
    let (location, io) = (
        table.metadata().location().to_string(),
        table.file_io().clone(),
    );
    let mut appender = TableAppender::new(table)?;
    let written = async {
        let mut stream = frame.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            appender.write(&batch?).await?;
            progress(appender.rows());
        }
        Ok::<_, ContangoError>(())
    }
    .await;
    if let Err(e) = written {
        // Nothing stays behind: the files written so far, and the table
        // when this import created it.
        if let Err(cleanup) = appender.abort().await {
            tracing::warn!(error = %cleanup, "a failed import could not delete all its files");
        }
        if created {
            if let Err(cleanup) = catalog.drop_table(&ident).await {
                tracing::warn!(error = %cleanup, table = %ident, "a failed import could not drop the table it created");
            } else if let Err(cleanup) = io.delete_prefix(&location).await {
                tracing::warn!(error = %cleanup, %location, "a failed import could not delete its table's metadata");
            }
        }
        return Err(e);
    }
    let rows = appender.rows();
    let mut summary = HashMap::new();
    summary.insert(
        "contango.import.files".to_string(),
        sources.len().to_string(),
    );
    let table = match appender.commit(catalog, summary).await {
        Ok(table) => table,
        Err(e) => {
            // The appender removed its files when the catalog said the commit
            // did not land; a table this import created and nobody has
            // committed to since goes too.
            if created
                && let Ok(current) = catalog.load_table(&ident).await
                && current.metadata().snapshots().next().is_none()
            {
                if let Err(cleanup) = catalog.drop_table(&ident).await {
                    tracing::warn!(error = %cleanup, table = %ident, "a failed import could not drop the table it created");
                } else if let Err(cleanup) = io.delete_prefix(&location).await {
                    tracing::warn!(error = %cleanup, %location, "a failed import could not delete its table's metadata");
                }
            }
            return Err(e);
        }
    };
    Ok(ImportReport {
        rows,
        snapshot_id: if rows > 0 {
            table.metadata().current_snapshot_id()
        } else {
            None
        },
        created,
    })
}

/// Makes `source` readable by `ctx`; returns the path or URL to read.
fn register_source(ctx: &SessionContext, source: &str, s3: &S3Settings) -> Result<String> {
    if source.starts_with("s3://") || source.starts_with("s3a://") {
        let url = Url::parse(&source.replacen("s3a://", "s3://", 1))
            .map_err(|e| ContangoError::invalid(format!("bad URL '{source}': {e}")))?;
        let bucket = url
            .host_str()
            .ok_or_else(|| ContangoError::invalid(format!("no bucket in '{source}'")))?;
        let store = s3
            .build_store(bucket)
            .map_err(|e| ContangoError::invalid(format!("S3 settings for '{source}': {e}")))?;
        let base = Url::parse(&format!("s3://{bucket}")).expect("valid bucket URL");
        ctx.register_object_store(&base, store);
        return Ok(url.to_string());
    }
    if source.contains("://") {
        return Err(ContangoError::invalid(format!(
            "unsupported source '{source}': use a local path or s3://bucket/key"
        )));
    }
    let path = std::path::Path::new(source);
    if !path.exists() {
        return Err(ContangoError::not_found(format!(
            "input file '{source}' does not exist"
        )));
    }
    let abs = std::fs::canonicalize(path)
        .map_err(|e| ContangoError::invalid(format!("cannot read '{source}': {e}")))?;
    Ok(abs.display().to_string())
}

/// A missing S3 object is an error, as a missing local file is (DataFusion
/// would silently read an empty listing).
async fn ensure_object_exists(s3: &S3Settings, source: &str, url: &str) -> Result<()> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Ok(());
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let store = s3
        .build_store(bucket)
        .map_err(|e| ContangoError::invalid(format!("S3 settings for '{source}': {e}")))?;
    let path = object_store::path::Path::parse(key)
        .map_err(|e| ContangoError::invalid(format!("bad key in '{source}': {e}")))?;
    if key.is_empty() || key.ends_with('/') {
        let mut listing = store.list(Some(&path));
        return match listing.next().await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(ContangoError::unavailable(format!(
                "cannot list '{source}': {e}"
            ))),
            None => Err(ContangoError::not_found(format!(
                "no objects under '{source}'"
            ))),
        };
    }
    match store.head(&path).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => Err(ContangoError::not_found(format!(
            "input object '{source}' does not exist"
        ))),
        Err(e) => Err(ContangoError::unavailable(format!(
            "cannot read '{source}': {e}"
        ))),
    }
}

/// Inferred types Iceberg has no type for, cast to the nearest it has:
/// timestamps in seconds or milliseconds (CSV inference gives seconds for
/// `2025-03-03T09:00:00Z`) become microseconds.
fn iceberg_types(frame: DataFrame) -> Result<DataFrame> {
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    use datafusion::common::Column;
    use datafusion::logical_expr::{Expr, cast};
    let fields = frame.schema().as_arrow().fields().clone();
    if !fields.iter().any(|f| {
        matches!(
            f.data_type(),
            DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _)
        )
    }) {
        return Ok(frame);
    }
    let exprs: Vec<Expr> = fields
        .iter()
        .map(|f| {
            let c = Expr::Column(Column::new_unqualified(f.name()));
            match f.data_type() {
                DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, tz) => {
                    cast(c, DataType::Timestamp(TimeUnit::Microsecond, tz.clone())).alias(f.name())
                }
                _ => c,
            }
        })
        .collect();
    Ok(frame.select(exprs)?)
}

async fn read(ctx: &SessionContext, format: FileFormat, paths: Vec<String>) -> Result<DataFrame> {
    let frame = match format {
        FileFormat::Csv => {
            ctx.read_csv(
                paths,
                CsvReadOptions::new().has_header(true).file_extension(""),
            )
            .await?
        }
        FileFormat::Parquet => {
            ctx.read_parquet(paths, ParquetReadOptions::default().file_extension(""))
                .await?
        }
        FileFormat::NdJson => {
            ctx.read_json(paths, JsonReadOptions::default().file_extension(""))
                .await?
        }
    };
    Ok(frame)
}
