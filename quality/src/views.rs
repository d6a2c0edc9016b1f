//! The `quality` schema: live views over the monitored tables, laid over the
//! Iceberg catalog (so `quality.metrics_history`, a real Iceberg table, sits
//! beside them), and the [`QualityCatalog`] that adds it to a catalog.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use contango_common::{CatalogSource, Result, TableInfo};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::monitor::{Monitored, QUALITY_SCHEMA};
use crate::rules::QualityConfig;
use crate::sql;

/// Rules, and the catalog they apply to.
#[derive(Debug)]
pub struct QualityShared {
    /// `[quality]`.
    pub config: QualityConfig,
    source: Arc<dyn CatalogSource>,
}

impl QualityShared {
    /// Quality of the tables of `source`.
    pub fn new(config: QualityConfig, source: Arc<dyn CatalogSource>) -> Arc<Self> {
        Arc::new(Self { config, source })
    }

    /// The catalog's name (`iceberg`).
    pub fn catalog_name(&self) -> &str {
        self.source.name()
    }

    /// `schema.table` when it is monitored.
    pub async fn monitored_table(&self, schema: &str, table: &str) -> DFResult<Option<Monitored>> {
        crate::monitor::monitored_table(&self.config, &self.source.provider(), schema, table).await
    }

    /// The monitored tables as the catalog lists them now.
    pub async fn monitored(&self) -> DFResult<Vec<Monitored>> {
        crate::monitor::monitored(&self.config, &self.source.provider()).await
    }
}

/// The views of the `quality` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// Null counts and rates per column.
    Completeness,
    /// Violations per rule.
    Validity,
    /// Duplicate keys.
    Uniqueness,
    /// Event lag and commit age.
    Freshness,
    /// Rows per hour against the trailing hours.
    Volume,
    /// Ticks against their bars.
    Consistency,
    /// Every check, long form.
    Checks,
    /// One row per table: score and failing checks.
    Summary,
    /// Deequ strategies over `metrics_history`.
    Alerts,
}

/// Every view, in listing order.
pub const VIEWS: [ViewKind; 9] = [
    ViewKind::Completeness,
    ViewKind::Validity,
    ViewKind::Uniqueness,
    ViewKind::Freshness,
    ViewKind::Volume,
    ViewKind::Consistency,
    ViewKind::Checks,
    ViewKind::Summary,
    ViewKind::Alerts,
];

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn float(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}
fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}
fn ts(name: &str, unit: TimeUnit) -> Field {
    Field::new(name, DataType::Timestamp(unit, Some("UTC".into())), true)
}

/// The event time in zoneless microseconds since the epoch, as BIGINT.
const NOW_US: &str = "CAST(CAST(now() AS TIMESTAMP(6)) AS BIGINT)";

impl ViewKind {
    /// Table name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Completeness => "completeness",
            ViewKind::Validity => "validity",
            ViewKind::Uniqueness => "uniqueness",
            ViewKind::Freshness => "freshness",
            ViewKind::Volume => "volume",
            ViewKind::Consistency => "consistency",
            ViewKind::Checks => "checks",
            ViewKind::Summary => "summary",
            ViewKind::Alerts => "alerts",
        }
    }

    /// The view with this name.
    pub fn by_name(name: &str) -> Option<Self> {
        VIEWS.into_iter().find(|v| v.name() == name)
    }

    /// Columns of the view.
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            ViewKind::Completeness => vec![
                utf8("table_name"),
                utf8("column_name"),
                utf8("metric"),
                int("row_count"),
                int("null_count"),
                float("null_rate"),
                float("value"),
                float("threshold"),
                boolean("passed"),
            ],
            ViewKind::Validity => vec![
                utf8("table_name"),
                utf8("column_name"),
                utf8("check_name"),
                utf8("rule_type"),
                utf8("metric"),
                int("row_count"),
                int("violations"),
                float("value"),
                float("threshold"),
                boolean("passed"),
            ],
            ViewKind::Uniqueness => vec![
                utf8("table_name"),
                utf8("key_columns"),
                int("row_count"),
                int("distinct_keys"),
                int("duplicate_rows"),
                float("duplicate_rate"),
                float("uniqueness"),
                float("distinctness"),
                boolean("passed"),
            ],
            ViewKind::Freshness => vec![
                utf8("table_name"),
                ts("max_event_time", TimeUnit::Microsecond),
                ts("last_commit_time", TimeUnit::Millisecond),
                float("event_lag_seconds"),
                float("commit_age_seconds"),
                float("max_staleness_seconds"),
                utf8("metric"),
                boolean("passed"),
            ],
            ViewKind::Volume => vec![
                utf8("table_name"),
                ts("hour", TimeUnit::Microsecond),
                int("row_count"),
                float("trailing_mean"),
                float("trailing_stddev"),
                float("zscore"),
                float("expected_rows_per_hour"),
                boolean("anomalous"),
            ],
            ViewKind::Consistency => vec![
                utf8("table_name"),
                utf8("bars_table"),
                utf8("check_name"),
                int("checked"),
                int("violations"),
                float("value"),
                boolean("passed"),
            ],
            ViewKind::Checks => vec![
                utf8("table_name"),
                utf8("check_name"),
                utf8("column_name"),
                utf8("metric"),
                float("value"),
                boolean("passed"),
            ],
            ViewKind::Summary => vec![
                utf8("table_name"),
                float("score"),
                int("checks"),
                int("failed"),
                utf8("failing"),
                int("row_count"),
            ],
            ViewKind::Alerts => vec![
                utf8("table_name"),
                utf8("check_name"),
                utf8("column_name"),
                utf8("metric"),
                ts("computed_at", TimeUnit::Microsecond),
                float("value"),
                float("previous_value"),
                utf8("strategy"),
                utf8("detail"),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    /// The view's SQL over `monitored` (`None`: no rows).
    pub fn sql(
        self,
        catalog: &str,
        monitored: &[Monitored],
        config: &QualityConfig,
        has_history: bool,
    ) -> Option<String> {
        let union = |parts: Vec<String>| -> Option<String> {
            (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
        };
        let per_table = |f: &dyn Fn(&Monitored) -> Option<String>| {
            union(monitored.iter().filter_map(f).collect())
        };
        Some(match self {
            ViewKind::Completeness => format!(
                "SELECT table_name, column_name, 'Completeness' AS metric, row_count, null_count, \
                 CASE WHEN row_count > 0 THEN CAST(null_count AS DOUBLE) / row_count END AS null_rate, \
                 CASE WHEN row_count > 0 THEN 1.0 - CAST(null_count AS DOUBLE) / row_count END AS value, \
                 threshold, \
                 CASE WHEN row_count > 0 THEN 1.0 - CAST(null_count AS DOUBLE) / row_count >= threshold END AS passed \
                 FROM ({})",
                per_table(&|m| Some(sql::completeness(catalog, m, None)))?
            ),
            ViewKind::Validity => format!(
                "SELECT table_name, column_name, check_name, rule_type, 'Compliance' AS metric, row_count, \
                 violations, CASE WHEN row_count > 0 THEN 1.0 - CAST(violations AS DOUBLE) / row_count END AS value, \
                 1.0 AS threshold, violations = 0 AS passed FROM ({})",
                per_table(&|m| sql::validity(catalog, m, None))?
            ),
            ViewKind::Uniqueness => format!(
                "SELECT table_name, key_columns, row_count, distinct_keys, row_count - distinct_keys AS duplicate_rows, \
                 CASE WHEN row_count > 0 THEN CAST(row_count - distinct_keys AS DOUBLE) / row_count END AS duplicate_rate, \
                 CASE WHEN row_count > 0 THEN CAST(unique_keys AS DOUBLE) / row_count END AS uniqueness, \
                 CASE WHEN row_count > 0 THEN CAST(distinct_keys AS DOUBLE) / row_count END AS distinctness, \
                 row_count = distinct_keys AS passed FROM ({})",
                per_table(&|m| sql::uniqueness(catalog, m))?
            ),
            ViewKind::Freshness => {
                let lag = format!("({NOW_US} - CAST(max_event_time AS BIGINT)) / 1e6");
                format!(
                    "SELECT table_name, max_event_time, last_commit_time, {lag} AS event_lag_seconds, \
                     ({NOW_US} - CAST(CAST(last_commit_time AS TIMESTAMP(6)) AS BIGINT)) / 1e6 AS commit_age_seconds, \
                     max_staleness_seconds, 'Freshness' AS metric, {lag} <= max_staleness_seconds AS passed \
                     FROM ({})",
                    per_table(&|m| Some(sql::freshness(catalog, m)))?
                )
            }
            ViewKind::Volume => {
                let z = "CASE WHEN trailing_stddev > 0 THEN (row_count - trailing_mean) / trailing_stddev END";
                format!(
                    "SELECT table_name, hour, row_count, trailing_mean, trailing_stddev, {z} AS zscore, \
                     expected_rows_per_hour, \
                     coalesce(previous_hours >= 8 AND abs({z}) > 3, false) \
                       OR coalesce(row_count < expected_rows_per_hour, false) AS anomalous \
                     FROM ({})",
                    per_table(&|m| sql::volume(catalog, m))?
                )
            }
            ViewKind::Consistency => format!(
                "SELECT table_name, bars_table, check_name, checked, violations, \
                 CASE WHEN checked > 0 THEN 1.0 - CAST(violations AS DOUBLE) / checked END AS value, \
                 violations = 0 AS passed FROM ({})",
                per_table(&|m| sql::consistency(catalog, m))?
            ),
            ViewKind::Checks => sql::checks(catalog),
            ViewKind::Summary => sql::summary(catalog),
            ViewKind::Alerts if has_history => sql::alerts(catalog, &config.alerts),
            ViewKind::Alerts => return None,
        })
    }
}

/// One view of the `quality` schema.
#[derive(Debug)]
pub struct QualityView {
    kind: ViewKind,
    shared: Arc<QualityShared>,
}

#[async_trait]
impl TableProvider for QualityView {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.kind.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let ctx = contango_common::columns::context_of(state, "quality views")?;
        let schema = self.kind.schema();
        let catalog = self.shared.catalog_name();
        let monitored = match self.kind {
            ViewKind::Checks | ViewKind::Summary | ViewKind::Alerts => Vec::new(),
            _ => self.shared.monitored().await?,
        };
        let has_history = self.kind == ViewKind::Alerts
            && self
                .shared
                .source
                .provider()
                .schema(QUALITY_SCHEMA)
                .is_some_and(|s| s.table_exist(crate::history::HISTORY_TABLE));
        let frame = match self
            .kind
            .sql(catalog, &monitored, &self.shared.config, has_history)
        {
            Some(sql) => ctx.sql(&sql).await?,
            None => ctx.read_batch(RecordBatch::new_empty(schema.clone()))?,
        };
        contango_common::columns::scan_of(frame, &schema, projection, limit).await
    }
}

/// The `quality` schema: the views, then the Iceberg tables of namespace
/// `quality` (`metrics_history`).
#[derive(Debug)]
struct QualitySchema {
    shared: Arc<QualityShared>,
    inner: Option<Arc<dyn SchemaProvider>>,
}

#[async_trait]
impl SchemaProvider for QualitySchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = VIEWS.iter().map(|v| v.name().to_string()).collect();
        if let Some(inner) = &self.inner {
            names.extend(
                inner
                    .table_names()
                    .into_iter()
                    .filter(|n| ViewKind::by_name(n).is_none()),
            );
        }
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if let Some(kind) = ViewKind::by_name(name) {
            return Ok(Some(Arc::new(QualityView {
                kind,
                shared: self.shared.clone(),
            })));
        }
        match &self.inner {
            Some(inner) => inner.table(name).await,
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        ViewKind::by_name(name).is_some()
            || self.inner.as_ref().is_some_and(|i| i.table_exist(name))
    }
}

/// A catalog with the `quality` schema laid over it.
#[derive(Debug)]
struct QualityCatalogProvider {
    inner: Arc<dyn CatalogProvider>,
    shared: Arc<QualityShared>,
}

impl CatalogProvider for QualityCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        if !names.iter().any(|n| n == QUALITY_SCHEMA) {
            names.push(QUALITY_SCHEMA.to_string());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == QUALITY_SCHEMA {
            return Some(Arc::new(QualitySchema {
                shared: self.shared.clone(),
                inner: self.inner.schema(name),
            }));
        }
        self.inner.schema(name)
    }
}

/// `source` with the `quality` schema (when `[quality] enabled`).
#[derive(Debug)]
pub struct QualityCatalog {
    source: Arc<dyn CatalogSource>,
    shared: Arc<QualityShared>,
}

impl QualityCatalog {
    /// Lays the quality schema over `shared`'s catalog.
    pub fn new(shared: Arc<QualityShared>) -> Arc<Self> {
        Arc::new(Self {
            source: shared.source.clone(),
            shared,
        })
    }
}

#[async_trait]
impl CatalogSource for QualityCatalog {
    fn name(&self) -> &str {
        self.source.name()
    }

    fn provider(&self) -> Arc<dyn CatalogProvider> {
        Arc::new(QualityCatalogProvider {
            inner: self.source.provider(),
            shared: self.shared.clone(),
        })
    }

    async fn refresh(&self) -> Result<()> {
        self.source.refresh().await
    }

    async fn table_info(&self, schema: &str, table: &str) -> Result<Option<TableInfo>> {
        if schema == QUALITY_SCHEMA && ViewKind::by_name(table).is_some() {
            return Ok(None);
        }
        self.source.table_info(schema, table).await
    }

    /// The wrapped catalog's tables keep their versions; the quality views
    /// (computed from rules and history) have none, so they are never
    /// cached.
    fn read_version(&self, provider: &dyn datafusion::catalog::TableProvider) -> Option<String> {
        self.source.read_version(provider)
    }

    async fn accelerate(
        &self,
        schema: &str,
        table: &str,
        request: Option<contango_common::AccelerationRequest>,
    ) -> Result<bool> {
        if schema == QUALITY_SCHEMA && ViewKind::by_name(table).is_some() {
            return Err(contango_common::ContangoError::not_supported(
                "the quality views are computed, not stored: accelerate the tables they check",
            ));
        }
        self.source.accelerate(schema, table, request).await
    }
}
