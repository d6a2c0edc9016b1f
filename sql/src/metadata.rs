//! Metadata as Trino shapes it, computed when scanned:
//!
//! - `<catalog>.information_schema`: `schemata`, `tables`, `columns` (Trino type
//!   names, `comment`), `views`, `table_privileges`;
//! - the `system` catalog: `jdbc` (what Trino's JDBC driver queries:
//!   `catalogs`, `schemas`, `tables`, `columns`, `table_types`, `types`),
//!   `metadata` (`catalogs`, `table_comments`), `runtime` (`queries`) and its own
//!   `information_schema`.
//!
//! Every type shown comes from [`TrinoType`]. Equality filters on the schema
//! and table columns are used to avoid loading tables nobody asked about.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
    Session as DfSession,
};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;

use crate::queries::QueryTracker;
use contango_common::CatalogSource;
use contango_common::types::TrinoType;

/// Name of the schema every catalog gets.
pub const INFORMATION_SCHEMA: &str = "information_schema";
/// Name of the system catalog.
pub const SYSTEM: &str = "system";

/// One catalog as the metadata tables see it.
#[derive(Clone)]
struct CatalogEntry {
    name: String,
    provider: Arc<dyn CatalogProvider>,
    source: Option<Arc<dyn CatalogSource>>,
}

/// Where a metadata scan may look (from `WHERE col = 'x'` filters).
#[derive(Debug, Clone, Default)]
struct Scope {
    catalog: Option<String>,
    schema: Option<String>,
    table: Option<String>,
}

impl Scope {
    fn wants_catalog(&self, c: &str) -> bool {
        self.catalog.as_deref().is_none_or(|x| x == c)
    }
    fn wants_schema(&self, s: &str) -> bool {
        self.schema.as_deref().is_none_or(|x| x == s)
    }
}

type Rows = Vec<Vec<ScalarValue>>;
type Producer = Arc<dyn Fn(Scope) -> BoxFuture<'static, DFResult<Rows>> + Send + Sync>;

/// A table whose rows are produced when it is scanned.
struct MetadataTable {
    schema: SchemaRef,
    /// Column names that narrow the scope: (catalog, schema, table).
    scope_columns: [Option<&'static str>; 3],
    rows: Producer,
}

impl fmt::Debug for MetadataTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataTable")
            .field("schema", &self.schema)
            .finish()
    }
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn big(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn s(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}

fn opt(v: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(v)
}

fn null_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}

fn i(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}

fn null_big() -> ScalarValue {
    ScalarValue::Int64(None)
}

impl MetadataTable {
    fn provider(
        fields: Vec<Field>,
        scope_columns: [Option<&'static str>; 3],
        rows: impl Fn(Scope) -> BoxFuture<'static, DFResult<Rows>> + Send + Sync + 'static,
    ) -> Arc<dyn TableProvider> {
        Arc::new(Self {
            schema: Arc::new(Schema::new(fields)),
            scope_columns,
            rows: Arc::new(rows),
        })
    }

    fn scope(&self, filters: &[Expr]) -> Scope {
        let mut scope = Scope::default();
        for f in filters {
            if let Some((column, value)) = equality(f) {
                for (slot, name) in self.scope_columns.iter().enumerate() {
                    if *name == Some(column.as_str()) {
                        let target = match slot {
                            0 => &mut scope.catalog,
                            1 => &mut scope.schema,
                            _ => &mut scope.table,
                        };
                        *target = Some(value.clone());
                    }
                }
            }
        }
        scope
    }
}

/// `column = 'literal'` (either side).
fn equality(e: &Expr) -> Option<(String, String)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = e
    else {
        return None;
    };
    let lit = |e: &Expr| match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(v))
            | ScalarValue::Utf8View(Some(v))
            | ScalarValue::LargeUtf8(Some(v)),
            _,
        ) => Some(v.clone()),
        _ => None,
    };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), other) | (other, Expr::Column(c)) => Some((c.name.clone(), lit(other)?)),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for MetadataTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Used only to narrow the listing; DataFusion applies every filter again.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let rows = (self.rows)(self.scope(filters)).await?;
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for (c, field) in self.schema.fields().iter().enumerate() {
            let values = rows.iter().map(|r| r[c].clone());
            columns.push(if rows.is_empty() {
                datafusion::arrow::array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(values)?
            });
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let table = MemTable::try_new(self.schema.clone(), vec![vec![batch]])?;
        table.scan(state, projection, &[], limit).await
    }
}

/// A catalog with Trino's `information_schema` added.
pub struct TrinoCatalog {
    entry: CatalogEntry,
}

impl fmt::Debug for TrinoCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrinoCatalog")
            .field("name", &self.entry.name)
            .finish()
    }
}

impl TrinoCatalog {
    /// `source`'s catalog with an `information_schema`.
    pub fn new(source: Arc<dyn CatalogSource>) -> Arc<Self> {
        Arc::new(Self {
            entry: CatalogEntry {
                name: source.name().to_string(),
                provider: source.provider(),
                source: Some(source),
            },
        })
    }
}

impl CatalogProvider for TrinoCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.entry.provider.schema_names();
        names.push(INFORMATION_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == INFORMATION_SCHEMA {
            return Some(information_schema(vec![self.entry.clone()]));
        }
        self.entry.provider.schema(name)
    }
}

/// A schema of fixed metadata tables.
fn fixed_schema(tables: Vec<(&str, Arc<dyn TableProvider>)>) -> Arc<dyn SchemaProvider> {
    let schema = MemorySchemaProvider::new();
    for (name, table) in tables {
        schema
            .register_table(name.to_string(), table)
            .expect("fresh schema has no duplicates");
    }
    Arc::new(schema)
}

/// Every (schema, table) of a catalog within `scope`, with Trino's table type.
fn list_tables(entry: &CatalogEntry, scope: &Scope) -> Vec<(String, String, &'static str)> {
    table_listing(
        &entry.name,
        entry.provider.as_ref(),
        scope.schema.as_deref(),
        scope.table.as_deref(),
    )
    .into_iter()
    .map(|t| (t.schema, t.name, t.kind.trino_name()))
    .collect()
}

/// What kind of relation a listed table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A stored table (Trino: `BASE TABLE`, Flight SQL: `TABLE`).
    Table,
    /// A view, including every metadata table (`information_schema`,
    /// `system`).
    View,
}

impl TableKind {
    /// Trino's `information_schema.tables.table_type`.
    pub fn trino_name(self) -> &'static str {
        match self {
            Self::Table => "BASE TABLE",
            Self::View => "VIEW",
        }
    }

    /// Flight SQL's `GetTables` `table_type`.
    pub fn flight_name(self) -> &'static str {
        match self {
            Self::Table => "TABLE",
            Self::View => "VIEW",
        }
    }
}

/// One table as the catalog listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTable {
    /// Schema (namespace).
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Table or view.
    pub kind: TableKind,
}

/// The schemas of catalog `provider`, its `information_schema` included,
/// sorted: what `SHOW SCHEMAS`, `information_schema.schemata` and Flight's
/// `GetDbSchemas` list.
pub fn schema_listing(provider: &dyn CatalogProvider) -> Vec<String> {
    let mut schemas = provider.schema_names();
    if !schemas.iter().any(|s| s == INFORMATION_SCHEMA) {
        schemas.push(INFORMATION_SCHEMA.to_string());
    }
    schemas.sort();
    schemas.dedup();
    schemas
}

/// The tables of catalog `name` (served by `provider`), narrowed to one
/// schema and/or table name when given, sorted by schema and name: the ONE
/// table listing behind `SHOW TABLES`, `information_schema.tables`,
/// `system.jdbc.tables` and Flight's `GetTables`.
pub fn table_listing(
    name: &str,
    provider: &dyn CatalogProvider,
    schema: Option<&str>,
    table: Option<&str>,
) -> Vec<ListedTable> {
    let mut out = Vec::new();
    for schema_name in schema_listing(provider) {
        if schema.is_some_and(|s| s != schema_name) {
            continue;
        }
        let mut names: Vec<String> = if schema_name == INFORMATION_SCHEMA {
            INFORMATION_TABLES.iter().map(|t| t.to_string()).collect()
        } else {
            match provider.schema(&schema_name) {
                Some(p) => p.table_names(),
                None => continue,
            }
        };
        names.sort();
        for t in names {
            if table.is_some_and(|x| x != t) {
                continue;
            }
            let kind = if name == SYSTEM || schema_name == INFORMATION_SCHEMA {
                TableKind::View
            } else {
                TableKind::Table
            };
            out.push(ListedTable {
                schema: schema_name.clone(),
                name: t,
                kind,
            });
        }
    }
    out
}

const INFORMATION_TABLES: &[&str] = &["columns", "schemata", "table_privileges", "tables", "views"];

/// A column as the metadata tables describe it.
struct ColumnInfo {
    catalog: String,
    schema: String,
    table: String,
    name: String,
    position: i64,
    nullable: bool,
    trino: TrinoType,
    comment: Option<String>,
}

/// Columns of every table in `scope`, loading only those tables.
async fn list_columns(entries: &[CatalogEntry], scope: &Scope) -> DFResult<Vec<ColumnInfo>> {
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| scope.wants_catalog(&e.name)) {
        for (schema, table, _) in list_tables(entry, scope) {
            let provider = if schema == INFORMATION_SCHEMA {
                information_schema(vec![entry.clone()])
                    .table(&table)
                    .await?
            } else {
                match entry.provider.schema(&schema) {
                    Some(p) => p.table(&table).await?,
                    None => None,
                }
            };
            let Some(provider) = provider else { continue };
            let info = match &entry.source {
                Some(source) if schema != INFORMATION_SCHEMA => source
                    .table_info(&schema, &table)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?,
                _ => None,
            };
            let comments: HashMap<String, String> = info
                .as_ref()
                .map(|i| i.column_comments.clone())
                .unwrap_or_default();
            for (k, field) in provider.schema().fields().iter().enumerate() {
                out.push(ColumnInfo {
                    catalog: entry.name.clone(),
                    schema: schema.clone(),
                    table: table.clone(),
                    name: field.name().clone(),
                    position: k as i64 + 1,
                    nullable: field.is_nullable(),
                    trino: TrinoType::from_arrow(field.data_type()),
                    comment: comments.get(field.name()).cloned(),
                });
            }
        }
    }
    Ok(out)
}

/// Table comments of every table in `scope`.
async fn list_table_comments(entries: &[CatalogEntry], scope: &Scope) -> DFResult<Rows> {
    let mut rows = Vec::new();
    for entry in entries.iter().filter(|e| scope.wants_catalog(&e.name)) {
        for (schema, table, _) in list_tables(entry, scope) {
            let comment = match &entry.source {
                Some(source) if schema != INFORMATION_SCHEMA => source
                    .table_info(&schema, &table)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .and_then(|i| i.comment),
                _ => None,
            };
            rows.push(vec![s(&entry.name), s(schema), s(table), opt(comment)]);
        }
    }
    Ok(rows)
}

/// `information_schema` of the given catalogs (one catalog: its own).
fn information_schema(entries: Vec<CatalogEntry>) -> Arc<dyn SchemaProvider> {
    let entries = Arc::new(entries);
    let e = entries.clone();
    let schemata = MetadataTable::provider(
        vec![text("catalog_name"), text("schema_name")],
        [Some("catalog_name"), Some("schema_name"), None],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                let mut rows = Vec::new();
                for entry in e.iter() {
                    let names = schema_listing(entry.provider.as_ref());
                    for n in names.into_iter().filter(|n| scope.wants_schema(n)) {
                        rows.push(vec![s(&entry.name), s(n)]);
                    }
                }
                Ok(rows)
            })
        },
    );
    let e = entries.clone();
    let tables = MetadataTable::provider(
        vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("table_type"),
        ],
        [
            Some("table_catalog"),
            Some("table_schema"),
            Some("table_name"),
        ],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                Ok(e.iter()
                    .flat_map(|entry| {
                        list_tables(entry, &scope)
                            .into_iter()
                            .map(|(sc, t, k)| vec![s(&entry.name), s(sc), s(t), s(k)])
                    })
                    .collect())
            })
        },
    );
    let e = entries.clone();
    let columns = MetadataTable::provider(
        vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("column_name"),
            big("ordinal_position"),
            text("column_default"),
            text("is_nullable"),
            text("data_type"),
            text("comment"),
            text("extra_info"),
        ],
        [
            Some("table_catalog"),
            Some("table_schema"),
            Some("table_name"),
        ],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                Ok(list_columns(&e, &scope)
                    .await?
                    .into_iter()
                    .map(|c| {
                        vec![
                            s(c.catalog),
                            s(c.schema),
                            s(c.table),
                            s(c.name),
                            i(c.position),
                            null_text(),
                            s(if c.nullable { "YES" } else { "NO" }),
                            s(c.trino.name()),
                            opt(c.comment),
                            null_text(),
                        ]
                    })
                    .collect())
            })
        },
    );
    let views = MetadataTable::provider(
        vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("view_definition"),
        ],
        [
            Some("table_catalog"),
            Some("table_schema"),
            Some("table_name"),
        ],
        |_| Box::pin(async { Ok(Vec::new()) }),
    );
    let privileges = MetadataTable::provider(
        [
            "grantor",
            "grantor_type",
            "grantee",
            "grantee_type",
            "table_catalog",
            "table_schema",
            "table_name",
            "privilege_type",
            "is_grantable",
            "with_hierarchy",
        ]
        .iter()
        .map(|n| text(n))
        .collect(),
        [None, None, None],
        |_| Box::pin(async { Ok(Vec::new()) }),
    );
    fixed_schema(vec![
        ("schemata", schemata),
        ("tables", tables),
        ("columns", columns),
        ("views", views),
        ("table_privileges", privileges),
    ])
}

/// JDBC `COLUMN_SIZE` and `DECIMAL_DIGITS` of a Trino type.
fn jdbc_size(t: &TrinoType) -> (Option<i64>, Option<i64>) {
    match t {
        TrinoType::Boolean => (Some(1), None),
        TrinoType::TinyInt => (Some(3), Some(0)),
        TrinoType::SmallInt => (Some(5), Some(0)),
        TrinoType::Integer => (Some(10), Some(0)),
        TrinoType::BigInt => (Some(19), Some(0)),
        TrinoType::Real => (Some(24), None),
        TrinoType::Double => (Some(53), None),
        TrinoType::Decimal(p, s) => (Some(*p as i64), Some(*s as i64)),
        TrinoType::Varchar | TrinoType::Varbinary => (Some(2_147_483_647), None),
        TrinoType::Date => (Some(14), None),
        TrinoType::Time(p) => (Some(8 + (*p > 0) as i64 + *p as i64), Some(*p as i64)),
        TrinoType::Timestamp(p) => (Some(19 + (*p > 0) as i64 + *p as i64), Some(*p as i64)),
        TrinoType::TimestampTz(p) => (Some(25 + (*p > 0) as i64 + *p as i64), Some(*p as i64)),
        _ => (None, None),
    }
}

/// The `system` catalog: `jdbc`, `metadata`, `runtime`, `information_schema`.
pub fn system_catalog(
    sources: &[Arc<dyn CatalogSource>],
    queries: Arc<QueryTracker>,
    viewer: Option<&str>,
    runtime_tables: &[(String, Arc<dyn TableProvider>)],
) -> Arc<dyn CatalogProvider> {
    let catalog = Arc::new(MemoryCatalogProvider::new());
    let mut entries: Vec<CatalogEntry> = sources
        .iter()
        .map(|s| CatalogEntry {
            name: s.name().to_string(),
            provider: s.provider(),
            source: Some(s.clone()),
        })
        .collect();
    entries.push(CatalogEntry {
        name: SYSTEM.into(),
        provider: catalog.clone(),
        source: None,
    });
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let entries = Arc::new(entries);

    let e = entries.clone();
    let jdbc_catalogs = MetadataTable::provider(
        vec![text("table_cat")],
        [Some("table_cat"), None, None],
        move |_| {
            let e = e.clone();
            Box::pin(async move { Ok(e.iter().map(|c| vec![s(&c.name)]).collect()) })
        },
    );
    let e = entries.clone();
    let jdbc_schemas = MetadataTable::provider(
        vec![text("table_schem"), text("table_catalog")],
        [Some("table_catalog"), Some("table_schem"), None],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                let mut rows = Vec::new();
                for c in e.iter().filter(|c| scope.wants_catalog(&c.name)) {
                    let names = schema_listing(c.provider.as_ref());
                    for n in names.into_iter().filter(|n| scope.wants_schema(n)) {
                        rows.push(vec![s(n), s(&c.name)]);
                    }
                }
                Ok(rows)
            })
        },
    );
    let e = entries.clone();
    let jdbc_tables = MetadataTable::provider(
        [
            "table_cat",
            "table_schem",
            "table_name",
            "table_type",
            "remarks",
            "type_cat",
            "type_schem",
            "type_name",
            "self_referencing_col_name",
            "ref_generation",
        ]
        .iter()
        .map(|n| text(n))
        .collect(),
        [Some("table_cat"), Some("table_schem"), Some("table_name")],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                let mut rows = Vec::new();
                for c in e.iter().filter(|c| scope.wants_catalog(&c.name)) {
                    for (sc, t, kind) in list_tables(c, &scope) {
                        let kind = if kind == "BASE TABLE" { "TABLE" } else { kind };
                        let mut row = vec![s(&c.name), s(sc), s(t), s(kind)];
                        row.extend((0..6).map(|_| null_text()));
                        rows.push(row);
                    }
                }
                Ok(rows)
            })
        },
    );
    let e = entries.clone();
    let jdbc_columns = MetadataTable::provider(
        vec![
            text("table_cat"),
            text("table_schem"),
            text("table_name"),
            text("column_name"),
            big("data_type"),
            text("type_name"),
            big("column_size"),
            big("buffer_length"),
            big("decimal_digits"),
            big("num_prec_radix"),
            big("nullable"),
            text("remarks"),
            text("column_def"),
            big("sql_data_type"),
            big("sql_datetime_sub"),
            big("char_octet_length"),
            big("ordinal_position"),
            text("is_nullable"),
            text("scope_catalog"),
            text("scope_schema"),
            text("scope_table"),
            big("source_data_type"),
            text("is_autoincrement"),
            text("is_generatedcolumn"),
        ],
        [Some("table_cat"), Some("table_schem"), Some("table_name")],
        move |scope| {
            let e = e.clone();
            Box::pin(async move {
                Ok(list_columns(&e, &scope)
                    .await?
                    .into_iter()
                    .map(|c| {
                        let (size, digits) = jdbc_size(&c.trino);
                        let radix = match c.trino {
                            TrinoType::TinyInt
                            | TrinoType::SmallInt
                            | TrinoType::Integer
                            | TrinoType::BigInt
                            | TrinoType::Decimal(..) => Some(10),
                            TrinoType::Real | TrinoType::Double => Some(2),
                            _ => None,
                        };
                        let octets = matches!(c.trino, TrinoType::Varchar | TrinoType::Varbinary)
                            .then_some(2_147_483_647);
                        vec![
                            s(c.catalog),
                            s(c.schema),
                            s(c.table),
                            s(c.name),
                            i(c.trino.jdbc_type() as i64),
                            s(c.trino.name()),
                            ScalarValue::Int64(size),
                            null_big(),
                            ScalarValue::Int64(digits),
                            ScalarValue::Int64(radix),
                            i(if c.nullable { 1 } else { 0 }),
                            opt(c.comment),
                            null_text(),
                            null_big(),
                            null_big(),
                            ScalarValue::Int64(octets),
                            i(c.position),
                            s(if c.nullable { "YES" } else { "NO" }),
                            null_text(),
                            null_text(),
                            null_text(),
                            null_big(),
                            s("NO"),
                            s("NO"),
                        ]
                    })
                    .collect())
            })
        },
    );
    let table_types = MetadataTable::provider(vec![text("table_type")], [None, None, None], |_| {
        Box::pin(async { Ok(vec![vec![s("TABLE")], vec![s("VIEW")]]) })
    });
    let types = MetadataTable::provider(
        vec![
            text("type_name"),
            big("data_type"),
            big("precision"),
            text("literal_prefix"),
            text("literal_suffix"),
            text("create_params"),
            big("nullable"),
            Field::new("case_sensitive", DataType::Boolean, true),
            big("searchable"),
            Field::new("unsigned_attribute", DataType::Boolean, true),
            Field::new("fixed_prec_scale", DataType::Boolean, true),
            Field::new("auto_increment", DataType::Boolean, true),
            text("local_type_name"),
            big("minimum_scale"),
            big("maximum_scale"),
            big("sql_data_type"),
            big("sql_datetime_sub"),
            big("num_prec_radix"),
        ],
        [None, None, None],
        |_| Box::pin(async { Ok(type_rows()) }),
    );
    let e = entries.clone();
    let metadata_catalogs = MetadataTable::provider(
        vec![
            text("catalog_name"),
            text("connector_id"),
            text("connector_name"),
        ],
        [Some("catalog_name"), None, None],
        move |_| {
            let e = e.clone();
            Box::pin(async move {
                Ok(e.iter()
                    .map(|c| {
                        let connector = if c.name == SYSTEM {
                            "system"
                        } else {
                            "iceberg"
                        };
                        vec![s(&c.name), s(&c.name), s(connector)]
                    })
                    .collect())
            })
        },
    );
    let e = entries.clone();
    let table_comments = MetadataTable::provider(
        vec![
            text("catalog_name"),
            text("schema_name"),
            text("table_name"),
            text("comment"),
        ],
        [
            Some("catalog_name"),
            Some("schema_name"),
            Some("table_name"),
        ],
        move |scope| {
            let e = e.clone();
            Box::pin(async move { list_table_comments(&e, &scope).await })
        },
    );

    let register = |name: &str, schema: Arc<dyn SchemaProvider>| {
        catalog
            .register_schema(name, schema)
            .expect("memory catalog accepts schemas");
    };
    register(
        "jdbc",
        fixed_schema(vec![
            ("catalogs", jdbc_catalogs),
            ("schemas", jdbc_schemas),
            ("tables", jdbc_tables),
            ("columns", jdbc_columns),
            ("table_types", table_types),
            ("types", types),
        ]),
    );
    register(
        "metadata",
        fixed_schema(vec![
            ("catalogs", metadata_catalogs),
            ("table_comments", table_comments),
        ]),
    );
    let mut runtime: Vec<(&str, Arc<dyn TableProvider>)> = vec![("queries", queries.table(viewer))];
    runtime.extend(runtime_tables.iter().map(|(n, t)| (n.as_str(), t.clone())));
    register("runtime", fixed_schema(runtime));
    let system_entry = entries
        .iter()
        .find(|e| e.name == SYSTEM)
        .cloned()
        .expect("system entry");
    register(INFORMATION_SCHEMA, information_schema(vec![system_entry]));
    catalog
}

/// `system.jdbc.types`: one row per Trino type clients can use.
fn type_rows() -> Rows {
    /// (type, precision, literal prefix, numeric): name and JDBC code come
    /// from the one type map.
    type TypeRow = (TrinoType, Option<i64>, Option<&'static str>, bool);
    let unknown = || Box::new(TrinoType::Unknown);
    let types: Vec<TypeRow> = vec![
        (TrinoType::Boolean, None, None, false),
        (TrinoType::TinyInt, Some(3), None, true),
        (TrinoType::SmallInt, Some(5), None, true),
        (TrinoType::Integer, Some(10), None, true),
        (TrinoType::BigInt, Some(19), None, true),
        (TrinoType::Real, Some(24), None, false),
        (TrinoType::Double, Some(53), None, false),
        (TrinoType::Decimal(38, 0), Some(38), Some("'"), true),
        (TrinoType::Varchar, Some(2_147_483_647), Some("'"), false),
        (TrinoType::Varbinary, Some(2_147_483_647), Some("X'"), false),
        (TrinoType::Date, Some(14), Some("DATE '"), false),
        (TrinoType::Time(3), Some(8), Some("TIME '"), false),
        (
            TrinoType::Timestamp(3),
            Some(23),
            Some("TIMESTAMP '"),
            false,
        ),
        (
            TrinoType::TimestampTz(3),
            Some(29),
            Some("TIMESTAMP '"),
            false,
        ),
        (TrinoType::Array(unknown()), None, None, false),
        (TrinoType::Map(unknown(), unknown()), None, None, false),
        (TrinoType::Row(Vec::new()), None, None, false),
    ];
    types
        .iter()
        .map(|(trino, precision, prefix, numeric)| {
            let name = &trino.raw_name();
            vec![
                s(*name),
                i(trino.jdbc_type() as i64),
                ScalarValue::Int64(*precision),
                opt(prefix.map(str::to_string)),
                opt(prefix.map(|p| {
                    if p.ends_with('\'') {
                        "'".to_string()
                    } else {
                        String::new()
                    }
                })),
                null_text(),
                i(1),
                ScalarValue::Boolean(Some(*name == "varchar")),
                i(if matches!(*name, "array" | "map" | "row") {
                    0
                } else {
                    3
                }),
                ScalarValue::Boolean(Some(false)),
                ScalarValue::Boolean(Some(false)),
                ScalarValue::Boolean(Some(false)),
                null_text(),
                ScalarValue::Int64(if *name == "decimal" { Some(0) } else { None }),
                ScalarValue::Int64(if *name == "decimal" { Some(38) } else { None }),
                null_big(),
                null_big(),
                ScalarValue::Int64(if *numeric {
                    Some(10)
                } else if matches!(trino, TrinoType::Real | TrinoType::Double) {
                    Some(2)
                } else {
                    None
                }),
            ]
        })
        .collect()
}
