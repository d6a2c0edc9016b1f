//! Connecting to an Iceberg catalog (SQL on SQLite/PostgreSQL, or REST).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use contango_common::error::{ContangoError, Result};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use serde::{Deserialize, Serialize};

use crate::storage::{ObjectStoreStorageFactory, S3Settings};

/// Which catalog implementation holds the table pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    /// Iceberg's JDBC catalog layout in SQLite or PostgreSQL.
    #[default]
    Sql,
    /// Iceberg REST catalog.
    Rest,
}

/// Everything needed to open one Iceberg catalog.
#[derive(Clone, Default)]
pub struct CatalogSettings {
    /// Name clients use (`iceberg` by default, Trino's convention).
    pub name: String,
    /// SQL or REST.
    pub kind: CatalogKind,
    /// `sqlite:///path/catalog.db`, `postgres://user:pw@host/db` or the REST base URL.
    pub uri: String,
    /// Warehouse root: an absolute local path / `file://` URL, or `s3://bucket/prefix`.
    pub warehouse: String,
    /// REST bearer token.
    pub token: Option<String>,
    /// REST OAuth2 client credential (`id:secret`).
    pub credential: Option<String>,
    /// Settings for `s3://` locations.
    pub s3: S3Settings,
}

impl fmt::Debug for CatalogSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogSettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("uri", &redact_url(&self.uri))
            .field("warehouse", &self.warehouse)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("s3", &self.s3)
            .finish()
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host`, for logs.
pub fn redact_url(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => uri.to_string(),
    }
}

/// Opens the catalog described by `settings`, creating a local warehouse
/// directory and SQLite file when they are absent.
pub async fn connect(settings: &CatalogSettings) -> Result<Arc<dyn Catalog>> {
    let factory = Arc::new(ObjectStoreStorageFactory {
        s3: settings.s3.clone(),
    });
    let warehouse = normalize_warehouse(&settings.warehouse)?;
    let catalog: Arc<dyn Catalog> = match settings.kind {
        CatalogKind::Sql => {
            let (uri, bind) = sql_uri(&settings.uri)?;
            let props = HashMap::from([
                ("uri".to_string(), uri),
                ("warehouse".to_string(), warehouse),
                ("sql_bind_style".to_string(), bind.to_string()),
            ]);
            Arc::new(
                SqlCatalogBuilder::default()
                    .with_storage_factory(factory)
                    .load(&settings.name, props)
                    .await
                    .map_err(|e| {
                        ContangoError::catalog_unavailable(format!(
                            "cannot open SQL catalog at {}: {e}",
                            redact_url(&settings.uri)
                        ))
                    })?,
            )
        }
        CatalogKind::Rest => {
            let mut props = HashMap::from([
                ("uri".to_string(), settings.uri.clone()),
                ("warehouse".to_string(), warehouse),
            ]);
            if let Some(t) = &settings.token {
                props.insert("token".into(), t.clone());
            }
            if let Some(c) = &settings.credential {
                props.insert("credential".into(), c.clone());
            }
            Arc::new(
                RestCatalogBuilder::default()
                    .with_storage_factory(factory)
                    .load(&settings.name, props)
                    .await
                    .map_err(|e| {
                        ContangoError::catalog_unavailable(format!(
                            "cannot open REST catalog at {}: {e}",
                            settings.uri
                        ))
                    })?,
            )
        }
    };
    Ok(catalog)
}

/// Local warehouses become `file:///abs/path` and are created; S3 ones pass through.
fn normalize_warehouse(warehouse: &str) -> Result<String> {
    if warehouse.starts_with("s3://") || warehouse.starts_with("s3a://") || warehouse.is_empty() {
        return Ok(warehouse.trim_end_matches('/').to_string());
    }
    let path = warehouse.strip_prefix("file://").unwrap_or(warehouse);
    std::fs::create_dir_all(path).map_err(|e| {
        ContangoError::unavailable(format!("cannot create warehouse directory {path}: {e}"))
    })?;
    let abs = std::fs::canonicalize(path)
        .map_err(|e| ContangoError::unavailable(format!("warehouse {path}: {e}")))?;
    Ok(format!("file://{}", abs.display()))
}

/// The sqlx URI and bind style for a SQL catalog URI; SQLite files are created.
fn sql_uri(uri: &str) -> Result<(String, SqlBindStyle)> {
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        return Ok((uri.to_string(), SqlBindStyle::DollarNumeric));
    }
    if let Some(path) = uri.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ContangoError::unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let uri = if uri.contains('?') {
            uri.to_string()
        } else {
            format!("{uri}?mode=rwc")
        };
        return Ok((uri, SqlBindStyle::QMark));
    }
    Err(ContangoError::invalid(format!(
        "unsupported SQL catalog URI '{}': use sqlite://PATH or postgres://...",
        redact_url(uri)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://me:hunter2@127.0.0.1:5432/cat"),
            "postgres://me:***@127.0.0.1:5432/cat"
        );
        let s = CatalogSettings {
            uri: "postgres://me:hunter2@h/db".into(),
            token: Some("tok".into()),
            ..Default::default()
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok\""),
            "{shown}"
        );
    }

    #[test]
    fn bad_uri_is_a_clear_error() {
        let e = sql_uri("mysql://x").unwrap_err();
        assert!(e.message().contains("unsupported SQL catalog URI"));
    }
}
