//! Flight SQL catalog metadata: catalogs, schemas, tables, table types, SqlInfo.
//! Result schemas come from arrow-flight's builders, i.e. exactly the Flight SQL
//! reference schemas that ADBC checks; the listings themselves are the SQL
//! front end's ([`contango_sql::metadata::table_listing`]), the same that
//! Trino's SHOW and `information_schema` show.

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables, SqlInfo,
    SqlSupportedTransaction,
};
use contango_common::Session;
use contango_sql::metadata::{schema_listing, table_listing};
use datafusion::arrow::array::RecordBatch;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::TableReference;
use futures::TryStreamExt;
use tonic::{Response, Status};

use super::service::FlightSqlImpl;
use super::status::to_status;
use crate::app::App;

/// Table types this server reports.
const TABLE_TYPES: &[&str] = &["TABLE", "VIEW"];

/// Metadata answers over the engine's catalogs.
pub struct Metadata {
    app: App,
    sql_info: SqlInfoData,
}

impl Metadata {
    /// Metadata for `app`, with its SqlInfo fixed at start.
    pub fn new(app: App) -> Self {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "Contango");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "58");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(
            SqlInfo::FlightSqlServerTransaction,
            SqlSupportedTransaction::None as i32,
        );
        b.append(SqlInfo::FlightSqlServerCancel, false);
        b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
        b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        b.append(SqlInfo::SqlDdlCatalog, false);
        b.append(SqlInfo::SqlDdlSchema, false);
        b.append(SqlInfo::SqlDdlTable, false);
        b.append(SqlInfo::SqlTransactionsSupported, false);
        Self {
            app,
            sql_info: b.build().expect("static SqlInfo is valid"),
        }
    }

    /// The server's SqlInfo table.
    #[allow(clippy::misnamed_getters)]
    pub fn sql_info(&self) -> &SqlInfoData {
        &self.sql_info
    }

    /// One in-memory batch as a Flight data stream.
    pub fn one_batch(
        batch: RecordBatch,
    ) -> Response<<FlightSqlImpl as FlightService>::DoGetStream> {
        let schema = batch.schema();
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::iter([Ok(batch)]))
            .map_err(Status::from);
        Response::new(Box::pin(stream))
    }

    /// Catalog names.
    pub async fn catalogs(
        &self,
        session: &Session,
        q: CommandGetCatalogs,
    ) -> Result<RecordBatch, Status> {
        let ctx = self.context(session).await?;
        let mut b = q.into_builder();
        for name in ctx.catalog_names() {
            b.append(name);
        }
        b.build().map_err(|e| Status::internal(e.to_string()))
    }

    /// Schemas, filtered by catalog and pattern (the builder applies the filters).
    pub async fn schemas(
        &self,
        session: &Session,
        q: CommandGetDbSchemas,
    ) -> Result<RecordBatch, Status> {
        let ctx = self.context(session).await?;
        let mut b = q.into_builder();
        for catalog in ctx.catalog_names() {
            if let Some(provider) = ctx.catalog(&catalog) {
                for schema in schema_listing(provider.as_ref()) {
                    b.append(&catalog, schema);
                }
            }
        }
        b.build().map_err(|e| Status::internal(e.to_string()))
    }

    /// Tables with their types and (on request) Arrow schemas.
    pub async fn tables(
        &self,
        session: &Session,
        q: CommandGetTables,
    ) -> Result<RecordBatch, Status> {
        let ctx = self.context(session).await?;
        let include_schema = q.include_schema;
        let catalog_filter = q.catalog.clone();
        let mut b = q.into_builder();
        for catalog in ctx.catalog_names() {
            if catalog_filter.as_ref().is_some_and(|c| c != &catalog) {
                continue;
            }
            let Some(provider) = ctx.catalog(&catalog) else {
                continue;
            };
            for table in table_listing(&catalog, provider.as_ref(), None, None) {
                let arrow_schema = if include_schema {
                    let reference = TableReference::full(
                        catalog.as_str(),
                        table.schema.as_str(),
                        table.name.as_str(),
                    );
                    ctx.table_provider(reference)
                        .await
                        .map_err(|e| to_status(&e.into()))?
                        .schema()
                } else {
                    Arc::new(Schema::empty())
                };
                b.append(
                    &catalog,
                    &table.schema,
                    &table.name,
                    table.kind.flight_name(),
                    &arrow_schema,
                )
                .map_err(|e| Status::internal(e.to_string()))?;
            }
        }
        b.build().map_err(|e| Status::internal(e.to_string()))
    }

    /// The table types this server has.
    pub fn table_types(q: CommandGetTableTypes) -> Result<RecordBatch, Status> {
        let mut b = q.into_builder();
        for t in TABLE_TYPES {
            b.append(t);
        }
        b.build().map_err(|e| Status::internal(e.to_string()))
    }

    async fn context(
        &self,
        session: &Session,
    ) -> Result<datafusion::prelude::SessionContext, Status> {
        self.app.engine.refresh_or_stale().await;
        self.app.engine.context(session).map_err(|e| to_status(&e))
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata").finish_non_exhaustive()
    }
}
