//! The query core: plans client SQL against the registered catalogs and
//! streams results. Both protocol endpoints go through [`QueryEngine`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::CatalogProvider;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
use crate::guard::{check_statement, client_sql_options};
use crate::placeholders::{bind_values, number_question_marks, parameter_schema, parameter_types};
use crate::session::Session;
use crate::table_info::TableInfo;

/// A catalog the engine can query; refreshed before each statement so that
/// tables created or committed elsewhere are visible without a restart.
#[async_trait]
pub trait CatalogSource: Send + Sync + Debug {
    /// Name clients use to address it.
    fn name(&self) -> &str;
    /// The DataFusion view of the catalog.
    fn provider(&self) -> Arc<dyn CatalogProvider>;
    /// Re-reads namespaces and table names.
    async fn refresh(&self) -> Result<()>;
    /// Comments, partitioning and `SHOW CREATE TABLE` text of `schema.table`;
    /// `None` when the table does not exist or the catalog has nothing to add.
    async fn table_info(&self, _schema: &str, _table: &str) -> Result<Option<TableInfo>> {
        Ok(None)
    }
}

/// Shared query engine: catalogs plus a runtime environment.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    catalogs: Vec<Arc<dyn CatalogSource>>,
    runtime: Arc<RuntimeEnv>,
    target_partitions: usize,
}

/// A planned statement: its context, plan and parameter types.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    frame: DataFrame,
    parameters: HashMap<String, Option<DataType>>,
}

impl PlannedStatement {
    /// Result schema (known before execution, also with unbound parameters).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.frame.schema().as_arrow().clone())
    }

    /// Parameter schema: `$1..$n` with inferred types (`Null` when unknown).
    pub fn parameter_schema(&self) -> Result<Schema> {
        parameter_schema(&self.parameters)
    }

    /// Number of distinct placeholders.
    pub fn parameter_count(&self) -> usize {
        self.parameters.len()
    }

    /// Binds positional values (checked and cast to the inferred types).
    pub fn bind(self, values: Vec<ScalarValue>) -> Result<Self> {
        if values.is_empty() && self.parameters.is_empty() {
            return Ok(self);
        }
        let values = bind_values(&self.parameters, values)?;
        Ok(Self {
            frame: self.frame.with_param_values(values)?,
            parameters: HashMap::new(),
        })
    }

    /// The optimized physical plan (for EXPLAIN-style inspection and tests).
    pub async fn physical_plan(&self) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Ok(self.frame.clone().create_physical_plan().await?)
    }

    /// Executes and returns the result as a stream of batches.
    pub async fn execute(self) -> Result<SendableRecordBatchStream> {
        if !self.parameters.is_empty() {
            return Err(crate::error::ContangoError::bad_parameters(format!(
                "statement has {} parameter(s) but none were bound",
                self.parameters.len()
            )));
        }
        Ok(self.frame.execute_stream().await?)
    }
}

impl QueryEngine {
    /// An engine over `catalogs`.
    pub fn new(catalogs: Vec<Arc<dyn CatalogSource>>) -> Self {
        Self {
            catalogs,
            runtime: Arc::new(RuntimeEnv::default()),
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }

    /// The registered catalogs.
    pub fn catalogs(&self) -> &[Arc<dyn CatalogSource>] {
        &self.catalogs
    }

    /// Refreshes every catalog's listing.
    pub async fn refresh(&self) -> Result<()> {
        for c in &self.catalogs {
            c.refresh().await?;
        }
        Ok(())
    }

    /// A DataFusion context for `session` (default catalog and schema applied).
    pub fn context(&self, session: &Session) -> SessionContext {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(&session.catalog, &session.schema)
            .with_target_partitions(self.target_partitions);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        for c in &self.catalogs {
            ctx.register_catalog(c.name(), c.provider());
        }
        ctx
    }

    /// Rewrites Trino SHOW forms, checks `sql` against the client policy and
    /// plans it (without executing).
    pub async fn plan(&self, session: &Session, sql: &str) -> Result<PlannedStatement> {
        let rewritten = crate::trino_show::rewrite(sql, session)?;
        let sql = rewritten.as_deref().unwrap_or(sql);
        check_statement(sql)?;
        let sql = number_question_marks(sql)?;
        self.refresh().await?;
        let ctx = self.context(session);
        let frame = ctx.sql_with_options(&sql, client_sql_options()).await?;
        let parameters = parameter_types(frame.logical_plan())?;
        Ok(PlannedStatement { frame, parameters })
    }

    /// Plans, binds and executes in one step.
    pub async fn query(
        &self,
        session: &Session,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<SendableRecordBatchStream> {
        self.plan(session, sql).await?.bind(params)?.execute().await
    }
}
