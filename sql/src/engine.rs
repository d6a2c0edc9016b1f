//! The query core: plans client SQL against the registered catalogs and
//! streams results. Both protocol endpoints go through [`QueryEngine`].

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{Expr, SessionConfig, SessionContext, ident, lit};

use crate::guard::{check_statement, client_sql_options};
use crate::lexer::replace_question_marks;
use crate::placeholders::{bind_values, number_question_marks, parameter_schema, parameter_types};
use crate::queries::QueryTracker;
use crate::session_properties;
use crate::statements::{self, TrinoStatement};
use contango_common::catalog::{CatalogSource, TableInfo};
use contango_common::error::{ContangoError, ErrorKind, Result};
use contango_common::session::{Session, SessionUpdate};

/// Shared query engine: catalogs plus a runtime environment.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    catalogs: Vec<Arc<dyn CatalogSource>>,
    runtime: Arc<RuntimeEnv>,
    target_partitions: usize,
    queries: Arc<QueryTracker>,
    runtime_tables: Vec<(String, Arc<dyn datafusion::catalog::TableProvider>)>,
    gpu: contango_timeseries::gpu::GpuOptions,
    limits: crate::limits::Limits,
    admission: Arc<crate::limits::Admission>,
    /// When the last catalog refresh failed (cleared by a success).
    refresh_failed: Arc<parking_lot::Mutex<Option<std::time::Instant>>>,
    /// Finished results by plan and table versions (`None`: off).
    results_cache: Option<Arc<crate::results_cache::ResultsCache>>,
}

/// Longest a catalog refresh may take (the SQL catalog's connection pool
/// waits 30 s for a database that is down).
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long planning uses the last listing after a failed refresh.
const REFRESH_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// A planned statement: its plan, parameter types and what it changes in the
/// client's session.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    frame: DataFrame,
    parameters: HashMap<String, Option<DataType>>,
    update: SessionUpdate,
    update_type: Option<&'static str>,
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

    /// How the statement changes the client's session (`USE`, `SET SESSION`, ...).
    pub fn session_update(&self) -> &SessionUpdate {
        &self.update
    }

    /// Trino's `updateType` (`USE`, `SET SESSION`, ...) for statements that
    /// change state instead of returning rows.
    pub fn update_type(&self) -> Option<&'static str> {
        self.update_type
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
            ..self
        })
    }

    /// The logical plan as planned (not yet optimized).
    pub fn logical_plan(&self) -> &datafusion::logical_expr::LogicalPlan {
        self.frame.logical_plan()
    }

    /// The optimized physical plan (for EXPLAIN-style inspection and tests).
    pub async fn physical_plan(&self) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Ok(self.frame.clone().create_physical_plan().await?)
    }

    /// Executes and returns the result as a stream of batches.
    pub async fn execute(self) -> Result<SendableRecordBatchStream> {
        self.execute_then(|| {}).await
    }

    /// [`execute`](Self::execute), calling `produced` once the last batch
    /// is computed (only buffered batches remain for the caller).
    pub async fn execute_then(
        self,
        produced: impl FnOnce() + Send + 'static,
    ) -> Result<SendableRecordBatchStream> {
        if !self.parameters.is_empty() {
            return Err(contango_common::error::ContangoError::bad_parameters(
                format!(
                    "statement has {} parameter(s) but none were bound",
                    self.parameters.len()
                ),
            ));
        }
        let schema = self.schema();
        // The optimizer may tighten nullability (a folded constant) or
        // metadata; results keep the schema the statement was described with.
        let target = schema.clone();
        let conform = move |batch: RecordBatch| {
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        datafusion::arrow::compute::cast(c, f.data_type())
                    }
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(target.clone(), columns)?)
        };
        Ok(crate::execution::run(self.frame, schema, conform, produced))
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
            queries: Arc::default(),
            runtime_tables: Vec::new(),
            gpu: contango_timeseries::gpu::GpuOptions::default(),
            limits: crate::limits::Limits::default(),
            admission: Arc::new(crate::limits::Admission::new(
                crate::limits::DEFAULT_MAX_RUNNING,
                crate::limits::DEFAULT_MAX_QUEUED,
            )),
            refresh_failed: Arc::default(),
            results_cache: None,
        }
    }

    /// Keeps finished results in a [`crate::results_cache::ResultsCache`]
    /// of `capacity` bytes (0: no cache).
    pub fn with_results_cache(mut self, capacity: usize) -> Self {
        self.results_cache =
            (capacity > 0).then(|| Arc::new(crate::results_cache::ResultsCache::new(capacity)));
        self
    }

    /// The results cache, when there is one.
    pub fn results_cache(&self) -> Option<&Arc<crate::results_cache::ResultsCache>> {
        self.results_cache.as_ref()
    }

    /// The server's `query_max_run_time`: no query runs longer, whatever
    /// its session asks (`[server] query_max_run_time` in the config).
    pub fn with_max_run_time(mut self, limit: Option<std::time::Duration>) -> Self {
        self.limits.max_run_time = limit;
        self
    }

    /// The server's limits (see [`crate::limits`]); a new admission gate
    /// with their slots and queue.
    pub fn with_limits(mut self, limits: crate::limits::Limits) -> Self {
        self.admission = Arc::new(crate::limits::Admission::new(
            limits.max_running,
            limits.max_queued,
        ));
        self.limits = limits;
        self
    }

    /// The server's limits.
    pub fn limits(&self) -> &crate::limits::Limits {
        &self.limits
    }

    /// The admission gate every query passes before it is planned.
    pub fn admission(&self) -> &Arc<crate::limits::Admission> {
        &self.admission
    }

    /// How long a query of `session` may run once admitted: the shorter of
    /// the session's `query_max_execution_time` and the server's.
    pub fn execution_time_limit(&self, session: &Session) -> Option<std::time::Duration> {
        let asked = session_property(session, "query_max_execution_time")
            .and_then(session_properties::parse_duration);
        shorter(asked, self.limits.max_execution_time)
    }

    /// The memory one query of `session` may take: the smaller of the
    /// session's `query_max_memory` and the server's.
    pub fn memory_limit(&self, session: &Session) -> Option<u64> {
        let asked =
            session_property(session, "query_max_memory").and_then(crate::limits::parse_data_size);
        shorter(asked, self.limits.max_memory)
    }

    /// How long a query of `session` may run: the shorter of the session's
    /// `query_max_run_time` and the server's; `None` when neither sets one.
    pub fn run_time_limit(&self, session: &Session) -> Option<std::time::Duration> {
        let asked = session_property(session, "query_max_run_time")
            .and_then(session_properties::parse_duration);
        shorter(asked, self.limits.max_run_time)
    }

    /// Default GPU placement of every session (`[gpu]` in the config;
    /// sessions override it with `SET SESSION gpu = ...`).
    pub fn with_gpu(mut self, options: contango_timeseries::gpu::GpuOptions) -> Self {
        self.gpu = options;
        self
    }

    /// The default GPU options.
    pub fn gpu_options(&self) -> &contango_timeseries::gpu::GpuOptions {
        &self.gpu
    }

    /// Adds a table to `system.runtime` (e.g. `streams`).
    pub fn with_runtime_table(
        mut self,
        name: &str,
        table: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Self {
        self.runtime_tables.push((name.to_string(), table));
        self
    }

    /// Every running and recent query (both endpoints register theirs here).
    pub fn queries(&self) -> &Arc<QueryTracker> {
        &self.queries
    }

    /// The registered catalogs.
    pub fn catalogs(&self) -> &[Arc<dyn CatalogSource>] {
        &self.catalogs
    }

    /// Refreshes every catalog's listing.
    pub async fn refresh(&self) -> Result<()> {
        let all = async {
            for c in &self.catalogs {
                c.refresh().await?;
            }
            Ok(())
        };
        let outcome = match tokio::time::timeout(REFRESH_WAIT, all).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ContangoError::catalog_unavailable(format!(
                "the catalog did not answer within {} s",
                REFRESH_WAIT.as_secs()
            ))),
        };
        *self.refresh_failed.lock() = outcome.is_err().then(std::time::Instant::now);
        outcome
    }

    /// [`refresh`](Self::refresh) for planning: when the catalog cannot be
    /// reached, planning goes on with the tables last listed (a statement
    /// that needs no table, `SELECT 1`, still answers; one that loads a
    /// table fails with that error), and for five seconds after a
    /// failure no statement waits for the catalog again.
    pub async fn refresh_or_stale(&self) {
        let recent = self
            .refresh_failed
            .lock()
            .is_some_and(|at| at.elapsed() < REFRESH_RETRY);
        if !recent {
            let _ = self.refresh().await;
        }
    }

    /// A DataFusion context for `session`: default catalog and schema, time
    /// zone and session properties applied.
    pub fn context(&self, session: &Session) -> Result<SessionContext> {
        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(&session.catalog, &session.schema)
            .with_target_partitions(self.target_partitions);
        config.options_mut().execution.time_zone = Some(session.time_zone.clone());
        // Trino sorts NULLs last whatever the direction (DataFusion: as the
        // largest value, so first when descending).
        config.options_mut().sql_parser.default_null_ordering = "nulls_last".into();
        // DataFusion 53's logical TRY_CAST drops its input's field metadata
        // (Iceberg's `PARQUET:field_id`) where the physical one keeps it, and
        // the aggregate planner's schema check then fails `SELECT DISTINCT
        // TRY_CAST(col AS ...)` with an internal error (found by fuzzing).
        // The check exists for such planner mismatches; metadata never
        // changes what an aggregate computes.
        config
            .options_mut()
            .execution
            .skip_physical_aggregate_schema_check = true;
        let config = config
            .with_option_extension(self.gpu.clone())
            .with_option_extension(session.stop.clone());
        let config = session_properties::apply(config, &session.properties)?;
        // The Trino library is built once per process; its functions read
        // the session zone from this config (`execution.time_zone`).
        // A query with a memory limit gets its own pool (sharing the disk
        // manager, so operators that can spill do).
        let runtime = match self.memory_limit(session) {
            Some(limit) => {
                let pool = datafusion::execution::memory_pool::TrackConsumersPool::new(
                    datafusion::execution::memory_pool::GreedyMemoryPool::new(
                        usize::try_from(limit).unwrap_or(usize::MAX),
                    ),
                    std::num::NonZeroUsize::new(3).expect("3 is not zero"),
                );
                datafusion::execution::runtime_env::RuntimeEnvBuilder::from_runtime_env(
                    &self.runtime,
                )
                .with_memory_pool(Arc::new(pool))
                .build_arc()?
            }
            None => self.runtime.clone(),
        };
        let builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(crate::recursive_projections::optimizer_rules())
            .with_physical_optimizer_rule(Arc::new(contango_timeseries::gpu::GpuPlacementRule))
            .with_physical_optimizer_rule(Arc::new(crate::execution::YieldAfterJoins))
            .with_physical_optimizer_rule(Arc::new(crate::recursion_depth::RecursionDepth {
                limit: session
                    .properties
                    .get("max_recursion_depth")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(crate::recursion_depth::DEFAULT_MAX_RECURSION_DEPTH),
            }));
        let state = contango_functions::install(builder).build();
        let ctx = SessionContext::new_with_state(state);
        contango_timeseries::register(&ctx);
        for c in &self.catalogs {
            ctx.register_catalog(c.name(), crate::metadata::TrinoCatalog::new(c.clone()));
        }
        ctx.register_catalog(
            crate::metadata::SYSTEM,
            crate::metadata::system_catalog(
                &self.catalogs,
                self.queries.clone(),
                (!session.admin).then_some(session.user.as_str()),
                &self.runtime_tables,
            ),
        );
        Ok(ctx)
    }

    /// Plans `sql` (without executing): Trino statements (`USE`, `SET SESSION`,
    /// `PREPARE`, `EXPLAIN`, ...) are carried out here; queries are rewritten
    /// from Trino forms, checked against the client policy and planned.
    ///
    /// A panic while planning (a bug here or in DataFusion's planner) fails
    /// this statement with an internal error; the connection and the server
    /// go on.
    pub async fn plan(&self, session: &Session, sql: &str) -> Result<PlannedStatement> {
        use futures::FutureExt;
        match std::panic::AssertUnwindSafe(self.plan_nested(session, sql, 0))
            .catch_unwind()
            .await
        {
            Ok(planned) => planned,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(ContangoError::internal(format!(
                    "planning the statement failed unexpectedly (an internal error): {what}"
                )))
            }
        }
    }

    /// Plans `sql` reached through `depth` enclosing statements (`EXECUTE`,
    /// `EXECUTE IMMEDIATE`, `EXPLAIN`, `DESCRIBE INPUT/OUTPUT`): a prepared
    /// statement that executes itself, or statements nested without end,
    /// stop at [`MAX_STATEMENT_NESTING`] with a clear error.
    async fn plan_nested(
        &self,
        session: &Session,
        sql: &str,
        depth: usize,
    ) -> Result<PlannedStatement> {
        if depth > MAX_STATEMENT_NESTING {
            return Err(ContangoError::not_supported(format!(
                "Statement nesting exceeds the maximum depth of {MAX_STATEMENT_NESTING} \
                 (a prepared statement that executes itself, or nested EXECUTE/EXPLAIN)"
            )));
        }
        match statements::parse(sql)? {
            Some(statement) => Box::pin(self.plan_trino(session, statement, depth)).await,
            None => self.plan_query(session, sql).await,
        }
    }

    async fn plan_query(&self, session: &Session, sql: &str) -> Result<PlannedStatement> {
        // Before anything parses the statement into a tree.
        crate::shape::check(sql)?;
        let dialect = crate::dialect::rewrite(sql, &session.time_zone)?;
        let sql = dialect.as_deref().unwrap_or(sql);
        let rewritten = crate::trino_show::rewrite(sql, session)?;
        let sql = rewritten.as_deref().unwrap_or(sql);
        check_statement(sql)?;
        let sql = number_question_marks(sql)?;
        self.refresh_or_stale().await;
        let ctx = self.context(session)?;
        if sql.to_ascii_lowercase().contains("asof_join") {
            let tokens: Vec<_> = crate::lexer::lex(&sql)?
                .into_iter()
                .map(|t| t.token)
                .collect();
            contango_timeseries::asof::prepare(&ctx, &tokens).await?;
        }
        let frame = name_unnamed_columns(plan_sql(&ctx, &sql).await?)?;
        let parameters = parameter_types(frame.logical_plan())?;
        Ok(PlannedStatement {
            frame,
            parameters,
            update: SessionUpdate::default(),
            update_type: None,
        })
    }

    /// A statement whose execution runs `action` (a `system.runtime` procedure).
    fn procedure(
        &self,
        session: &Session,
        name: &'static str,
        action: crate::procedures::Action,
        update: SessionUpdate,
        update_type: Option<&'static str>,
    ) -> Result<PlannedStatement> {
        let call = crate::procedures::OnScan::new(name, action);
        let frame = self.context(session)?.read_table(Arc::new(call))?;
        Ok(PlannedStatement {
            frame,
            parameters: HashMap::new(),
            update,
            update_type,
        })
    }

    /// `system.runtime.accelerate` / `drop_acceleration` of `table`
    /// (`[catalog.][schema.]table`), checked when planned: administrators
    /// only, a catalog that exists, valid sizes and durations.
    fn acceleration(
        &self,
        session: &Session,
        table: &str,
        options: Option<crate::statements::AccelerateOptions>,
    ) -> Result<crate::procedures::Action> {
        if !session.admin {
            return Err(ContangoError::permission_denied(format!(
                "Access Denied: Cannot accelerate table {table}: only administrators may"
            )));
        }
        let parts: Vec<&str> = table.split('.').collect();
        let (catalog, schema, name) = match parts.as_slice() {
            [t] => (session.catalog.as_str(), session.schema.as_str(), *t),
            [s, t] => (session.catalog.as_str(), *s, *t),
            [c, s, t] => (*c, *s, *t),
            _ => {
                return Err(ContangoError::invalid(format!(
                    "invalid table name '{table}'"
                )));
            }
        };
        let source = self
            .catalogs
            .iter()
            .find(|c| c.name() == catalog)
            .cloned()
            .ok_or_else(|| {
                ContangoError::new(
                    ErrorKind::NotFound,
                    format!("Catalog '{catalog}' does not exist"),
                )
            })?;
        let request = options
            .map(crate::statements::AccelerateOptions::request)
            .transpose()?;
        let (schema, name) = (schema.to_string(), name.to_string());
        Ok(Arc::new(move || {
            let (source, schema, name, request) = (
                source.clone(),
                schema.clone(),
                name.clone(),
                request.clone(),
            );
            Box::pin(async move {
                let dropping = request.is_none();
                let was = source.accelerate(&schema, &name, request).await?;
                if dropping && !was {
                    return Err(ContangoError::new(
                        ErrorKind::NotFound,
                        format!("Table {schema}.{name} is not accelerated"),
                    ));
                }
                Ok(())
            })
        }))
    }

    /// A statement answering `batch`, changing the session by `update`.
    fn answer(
        &self,
        session: &Session,
        batch: RecordBatch,
        update: SessionUpdate,
        update_type: Option<&'static str>,
    ) -> Result<PlannedStatement> {
        let frame = self.context(session)?.read_batch(batch)?;
        Ok(PlannedStatement {
            frame,
            parameters: HashMap::new(),
            update,
            update_type,
        })
    }

    async fn plan_trino(
        &self,
        session: &Session,
        statement: TrinoStatement,
        depth: usize,
    ) -> Result<PlannedStatement> {
        let depth = depth + 1;
        let update_type = statement.update_type();
        let mut update = SessionUpdate::default();
        match statement {
            TrinoStatement::Execute { name, args } => {
                let sql = prepared(session, &name)?;
                let sql = replace_question_marks(sql, &args)?;
                return self.plan_nested(session, &sql, depth).await;
            }
            TrinoStatement::ExecuteImmediate { sql, args } => {
                refuse_nested_execute(&sql)?;
                let sql = replace_question_marks(&sql, &args)?;
                return self.plan_nested(session, &sql, depth).await;
            }
            TrinoStatement::Explain {
                analyze,
                kind,
                format,
                sql,
            } => {
                let frame = self.plan_nested(session, &sql, depth).await?.frame;
                let batch =
                    statements::explain::render(session, frame, analyze, kind, format).await?;
                return self.answer(session, batch, update, None);
            }
            TrinoStatement::DescribeInput { name } => {
                let planned = self
                    .plan_nested(session, prepared(session, &name)?, depth)
                    .await?;
                let batch = describe_input(&planned)?;
                return self.answer(session, batch, update, None);
            }
            TrinoStatement::DescribeOutput { name } => {
                let planned = self
                    .plan_nested(session, prepared(session, &name)?, depth)
                    .await?;
                let batch = describe_output(session, &planned)?;
                return self.answer(session, batch, update, None);
            }
            TrinoStatement::ShowColumns { table, like } => {
                let (_, _, provider, info) = self.resolve_table(session, &table).await?;
                let comments = info.map(|i| i.column_comments).unwrap_or_default();
                let mut cols: [Vec<String>; 4] = Default::default();
                for f in provider.schema().fields() {
                    cols[0].push(f.name().clone());
                    cols[1]
                        .push(contango_common::types::TrinoType::from_arrow(f.data_type()).name());
                    cols[2].push(String::new());
                    cols[3].push(comments.get(f.name()).cloned().unwrap_or_default());
                }
                let batch = text_batch(&["Column", "Type", "Extra", "Comment"], cols)?;
                return self.answer_like(session, batch, "Column", like);
            }
            TrinoStatement::ShowCreateTable { table } => {
                let (_, name, provider, info) = self.resolve_table(session, &table).await?;
                let sql = create_table_sql(&name, &provider.schema(), info.as_ref());
                let batch = text_batch(&["Create Table"], [vec![sql]])?;
                return self.answer(session, batch, update, None);
            }
            TrinoStatement::ShowCreateSchema { schema } => {
                let (catalog, schema) = match schema.as_slice() {
                    [s] => (session.catalog.clone(), s.clone()),
                    [c, s] => (c.clone(), s.clone()),
                    _ => {
                        return Err(ContangoError::new(
                            ErrorKind::Syntax,
                            "SHOW CREATE SCHEMA takes [catalog.]schema",
                        ));
                    }
                };
                self.refresh_or_stale().await;
                let ctx = self.context(session)?;
                if ctx
                    .catalog(&catalog)
                    .and_then(|c| c.schema(&schema))
                    .is_none()
                {
                    return Err(ContangoError::new(
                        ErrorKind::SchemaNotFound,
                        format!("Schema '{catalog}.{schema}' does not exist"),
                    ));
                }
                let batch = text_batch(
                    &["Create Schema"],
                    [vec![format!("CREATE SCHEMA {catalog}.{schema}")]],
                )?;
                return self.answer(session, batch, update, None);
            }
            TrinoStatement::ShowSession { like } => {
                let batch = statements::listing::session_properties(session, &self.limits)?;
                return self.answer_like(session, batch, "Name", like);
            }
            TrinoStatement::ShowFunctions { like } => {
                let batch = statements::listing::functions(&self.context(session)?.state())?;
                return self.answer_like(session, batch, "Function", like);
            }
            TrinoStatement::Use { catalog, schema } => {
                let catalog = catalog.unwrap_or_else(|| session.catalog.clone());
                self.refresh_or_stale().await;
                let ctx = self.context(session)?;
                let provider = ctx.catalog(&catalog).ok_or_else(|| {
                    ContangoError::new(
                        ErrorKind::CatalogNotFound,
                        format!("Catalog '{catalog}' not found"),
                    )
                })?;
                if provider.schema(&schema).is_none() {
                    return Err(ContangoError::new(
                        ErrorKind::SchemaNotFound,
                        format!("Schema does not exist: {catalog}.{schema}"),
                    ));
                }
                update.set_catalog = Some(catalog);
                update.set_schema = Some(schema);
            }
            TrinoStatement::SetSession { name, value } => {
                let value = session_properties::check(&name, &value)?;
                let name = session_properties::lookup(&name)?.name.to_string();
                update.set_properties.push((name, value));
            }
            TrinoStatement::ResetSession { name } => {
                let name = session_properties::lookup(&name)?.name.to_string();
                update.clear_properties.push(name);
            }
            TrinoStatement::Prepare { name, sql } => {
                refuse_nested_execute(&sql)?;
                if statements::parse(&sql)?.is_none() {
                    check_statement(&number_question_marks(&sql)?)?;
                }
                update.added_prepare.push((name, sql));
            }
            TrinoStatement::Deallocate { name } => {
                prepared(session, &name)?;
                update.deallocated_prepare.push(name);
            }
            TrinoStatement::StartTransaction => {
                if session.transaction_id.is_some() {
                    return Err(ContangoError::not_supported(
                        "Nested transactions not supported",
                    ));
                }
                update.started_transaction = Some(uuid::Uuid::new_v4().to_string());
            }
            TrinoStatement::Commit | TrinoStatement::Rollback => {
                if session.transaction_id.is_none() {
                    return Err(ContangoError::new(
                        ErrorKind::NotInTransaction,
                        "No transaction in progress",
                    ));
                }
                update.clear_transaction = true;
            }
            TrinoStatement::KillQuery { query_id, message } => {
                // The kill happens when the statement executes, not when it
                // is planned: describing or preparing it changes nothing.
                let (tracker, who) = (self.queries.clone(), session.clone());
                let action: crate::procedures::Action = Arc::new(move || {
                    let killed = tracker.kill(&who, &query_id, message.as_deref());
                    Box::pin(async move { killed })
                });
                return self.procedure(session, "kill_query", action, update, update_type);
            }
            TrinoStatement::Accelerate { table, options } => {
                let action = self.acceleration(session, &table, options)?;
                return self.procedure(session, "accelerate", action, update, update_type);
            }
        }
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "result",
                DataType::Boolean,
                false,
            )])),
            vec![Arc::new(BooleanArray::from(vec![true]))],
        )?;
        self.answer(session, batch, update, update_type)
    }

    /// The table a Trino name designates, with what its catalog says of it.
    async fn resolve_table(
        &self,
        session: &Session,
        parts: &[String],
    ) -> Result<(
        SessionContext,
        String,
        Arc<dyn datafusion::datasource::TableProvider>,
        Option<TableInfo>,
    )> {
        let (catalog, schema, table) = match parts {
            [t] => (session.catalog.clone(), session.schema.clone(), t.clone()),
            [s, t] => (session.catalog.clone(), s.clone(), t.clone()),
            [c, s, t] => (c.clone(), s.clone(), t.clone()),
            _ => {
                return Err(ContangoError::new(
                    ErrorKind::Syntax,
                    "expected [catalog.][schema.]table",
                ));
            }
        };
        let name = format!("{catalog}.{schema}.{table}");
        self.refresh_or_stale().await;
        let ctx = self.context(session)?;
        let missing = || {
            ContangoError::new(
                ErrorKind::TableNotFound,
                format!("Table '{name}' does not exist"),
            )
        };
        let provider = match ctx.catalog(&catalog).and_then(|c| c.schema(&schema)) {
            Some(s) => s.table(&table).await?.ok_or_else(missing)?,
            None => return Err(missing()),
        };
        let info = match self.catalogs.iter().find(|c| c.name() == catalog) {
            Some(source) => source.table_info(&schema, &table).await?,
            None => None,
        };
        Ok((ctx, name, provider, info))
    }

    /// `batch` filtered by `column LIKE pattern`.
    fn answer_like(
        &self,
        session: &Session,
        batch: RecordBatch,
        column: &str,
        like: Option<String>,
    ) -> Result<PlannedStatement> {
        let mut planned = self.answer(session, batch, SessionUpdate::default(), None)?;
        if let Some(pattern) = like {
            planned.frame = planned.frame.filter(ident(column).like(lit(pattern)))?;
        }
        Ok(planned)
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

/// The value of session property `name` (any case), if set.
pub(crate) fn session_property<'a>(session: &'a Session, name: &str) -> Option<&'a str> {
    session
        .properties
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The smaller of two optional limits.
fn shorter<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How many statements may enclose one another (`EXPLAIN EXECUTE p` is 2).
pub const MAX_STATEMENT_NESTING: usize = 8;

/// Trino's refusal of a prepared (or immediately executed) statement that
/// is itself an `EXECUTE`, `EXECUTE IMMEDIATE` or `PREPARE`: such chains
/// only ever recurse.
fn refuse_nested_execute(sql: &str) -> Result<()> {
    let kind = match statements::parse(sql)? {
        Some(TrinoStatement::Execute { .. }) => "EXECUTE",
        Some(TrinoStatement::ExecuteImmediate { .. }) => "EXECUTE IMMEDIATE",
        Some(TrinoStatement::Prepare { .. }) => "PREPARE",
        _ => return Ok(()),
    };
    Err(ContangoError::not_supported(format!(
        "Invalid statement type for prepared statement: {kind}"
    )))
}

/// The SQL of prepared statement `name`, or Trino's error.
fn prepared<'a>(session: &'a Session, name: &str) -> Result<&'a str> {
    session
        .prepared
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| ContangoError::not_found(format!("Prepared statement not found: {name}")))
}

/// `DESCRIBE INPUT`: Position, Type of each parameter.
fn describe_input(planned: &PlannedStatement) -> Result<RecordBatch> {
    let schema = planned.parameter_schema()?;
    let positions: Vec<i64> = (0..schema.fields().len() as i64).collect();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => "unknown".to_string(),
            t => contango_common::types::TrinoType::from_arrow(t).name(),
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("Position", DataType::Int64, false),
            Field::new("Type", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(positions)),
            Arc::new(StringArray::from(types)),
        ],
    )?)
}

/// `DESCRIBE OUTPUT`: Column Name, Catalog, Schema, Table, Type, Type Size, Aliased.
fn describe_output(session: &Session, planned: &PlannedStatement) -> Result<RecordBatch> {
    let schema = planned.frame.schema();
    let mut columns: [Vec<String>; 5] = Default::default();
    let mut sizes = Vec::new();
    let mut aliased = Vec::new();
    for (position, (qualifier, field)) in schema.iter().enumerate() {
        let (catalog, db, table) = match qualifier {
            Some(datafusion::sql::TableReference::Full {
                catalog,
                schema,
                table,
            }) => (catalog.to_string(), schema.to_string(), table.to_string()),
            Some(datafusion::sql::TableReference::Partial { schema, table }) => (
                session.catalog.clone(),
                schema.to_string(),
                table.to_string(),
            ),
            Some(datafusion::sql::TableReference::Bare { table }) => (
                session.catalog.clone(),
                session.schema.clone(),
                table.to_string(),
            ),
            None => Default::default(),
        };
        // Not a table's column, and not Trino's name for an unnamed item.
        aliased.push(qualifier.is_none() && *field.name() != format!("_col{position}"));
        let t = field.data_type();
        for (column, value) in columns.iter_mut().zip([
            field.name().clone(),
            catalog,
            db,
            table,
            contango_common::types::TrinoType::from_arrow(t).name(),
        ]) {
            column.push(value);
        }
        sizes.push(t.primitive_width().unwrap_or(0) as i64);
    }
    let names = ["Column Name", "Catalog", "Schema", "Table", "Type"];
    let mut fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("Type Size", DataType::Int64, false));
    fields.push(Field::new("Aliased", DataType::Boolean, false));
    let mut arrays: Vec<datafusion::arrow::array::ArrayRef> = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as _)
        .collect();
    arrays.push(Arc::new(Int64Array::from(sizes)));
    arrays.push(Arc::new(BooleanArray::from(aliased)));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// A batch of varchar columns.
fn text_batch<const N: usize>(names: &[&str], columns: [Vec<String>; N]) -> Result<RecordBatch> {
    let fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    let arrays: Vec<datafusion::arrow::array::ArrayRef> = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as _)
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Trino's `SHOW CREATE TABLE` text from the schema and what the catalog
/// knows of the table: columns with their comments, the table comment, and
/// the properties Trino's Iceberg connector prints in `WITH (...)`.
pub fn create_table_sql(name: &str, schema: &SchemaRef, info: Option<&TableInfo>) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut line = format!(
                "   {} {}",
                quote_identifier(f.name()),
                contango_common::types::TrinoType::from_arrow(f.data_type()).name()
            );
            if let Some(c) = info.and_then(|i| i.column_comments.get(f.name())) {
                line.push_str(&format!(" COMMENT {}", quote(c)));
            }
            line
        })
        .collect();
    let mut sql = format!("CREATE TABLE {name} (\n{}\n)", columns.join(",\n"));
    let Some(info) = info else {
        return sql;
    };
    if let Some(c) = &info.comment {
        sql.push_str(&format!("\nCOMMENT {}", quote(c)));
    }
    let mut with = Vec::new();
    if let Some(f) = &info.format {
        with.push(format!("   format = {}", quote(f)));
    }
    if let Some(v) = info.format_version {
        with.push(format!("   format_version = {v}"));
    }
    if let Some(l) = &info.location {
        with.push(format!("   location = {}", quote(l)));
    }
    if !info.partitioning.is_empty() {
        let items: Vec<String> = info.partitioning.iter().map(|p| quote(p)).collect();
        with.push(format!("   partitioning = ARRAY[{}]", items.join(",")));
    }
    if !with.is_empty() {
        sql.push_str(&format!("\nWITH (\n{}\n)", with.join(",\n")));
    }
    sql
}

/// A name as Trino prints it: bare when simple, double-quoted otherwise.
pub fn quote_identifier(name: &str) -> String {
    contango_common::types::quote_field(name)
}

/// Plans one client query: parsed, rewritten from Trino forms DataFusion
/// does not plan ([`crate::ast_rewrites`]), planned and checked against the
/// client policy (read-only).
async fn plan_sql(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    crate::ast_rewrites::typed_literals::check(&statement)?;
    crate::ast_rewrites::apply(&mut statement);
    let plan = state.statement_to_plan(statement).await?;
    client_sql_options().verify_plan(&plan)?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// Trino names output columns that have no name (neither a column nor an
/// alias) `_col0`, `_col1`, ... by position; DataFusion names them after the
/// expression text. Most are named before planning; this names those after a
/// `*` and output expressions the planner adds.
fn name_unnamed_columns(frame: DataFrame) -> Result<DataFrame> {
    use datafusion::logical_expr::LogicalPlan;
    let mut plan = frame.logical_plan();
    let projection = loop {
        match plan {
            LogicalPlan::Projection(p) => break Some(p),
            LogicalPlan::Sort(s) => plan = s.input.as_ref(),
            LogicalPlan::Limit(l) => plan = l.input.as_ref(),
            LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
                plan = input.as_ref()
            }
            _ => break None,
        }
    };
    let Some(projection) = projection else {
        return Ok(frame);
    };
    let unnamed: Vec<bool> = projection
        .expr
        .iter()
        .map(|e| !matches!(e, Expr::Alias(_) | Expr::Column(_)))
        .collect();
    if !unnamed.iter().any(|u| *u) || unnamed.len() != frame.schema().fields().len() {
        return Ok(frame);
    }
    let columns: Vec<Expr> = frame
        .schema()
        .columns()
        .into_iter()
        .zip(&unnamed)
        .enumerate()
        .map(|(i, (c, u))| {
            let e = Expr::Column(c);
            if *u { e.alias(format!("_col{i}")) } else { e }
        })
        .collect();
    Ok(frame.select(columns)?)
}
