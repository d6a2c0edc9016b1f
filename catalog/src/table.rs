//! `IcebergTable`: the DataFusion table provider of one Iceberg table snapshot.
//!
//! It wraps iceberg-datafusion's static provider and adds two guarantees:
//!
//! - **Only exact filters are pushed into Iceberg.** A filter is pushed when it
//!   compares a bare column with a literal of the column's own type (also in
//!   `AND`/`OR`/`NOT`, `IN`, `BETWEEN`, `IS [NOT] NULL`). Filters over casts
//!   (`CAST(volume AS DOUBLE) > 10.5`, `date_col > TIMESTAMP ...`) stay in
//!   DataFusion, because Iceberg's predicate conversion drops the cast and then
//!   fails or truncates. Pushed filters are `Inexact`: DataFusion re-applies
//!   them, so pruning can never change a result.
//! - **Scans run in parallel** where they can: [`crate::native_scan`] plans
//!   them as DataFusion's own Parquet scan (file groups over all cores,
//!   filters pushed into the Parquet reader, `count(*)` from the manifests),
//!   and iceberg-datafusion's one-stream reader is the fallback for what that
//!   path does not cover (delete files, evolved schemas).
//! - **Reads use the table's current schema.** When the schema evolved after the
//!   last data commit (a column added or renamed by pyiceberg, Trino, Spark),
//!   the snapshot is scanned with its own schema and mapped by field id: renamed
//!   columns get their new name, added columns read as NULL.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::table::Table;
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::native_scan::Planned;
use crate::storage::ObjectStoreStorage;

/// Provider for the current snapshot of an Iceberg table.
#[derive(Debug)]
pub struct IcebergTable {
    /// Current table schema (what clients see).
    schema: SchemaRef,
    /// Scans the snapshot (with the snapshot's schema).
    inner: IcebergStaticTableProvider,
    /// For each current column: its index in the snapshot schema, if present.
    /// `None` when the snapshot schema is the current schema.
    mapping: Option<Vec<Option<usize>>>,
    /// Row count and size from the snapshot summary (inexact: before filters).
    statistics: Option<Statistics>,
    /// The table, for native scan planning.
    table: Table,
    /// The snapshot scanned (`None`: the current one).
    snapshot_id: Option<i64>,
    /// Object stores for native scans; `None` plans every scan through
    /// iceberg-datafusion.
    storage: Option<Arc<ObjectStoreStorage>>,
}

/// Table statistics from a snapshot summary's `total-records` and `total-files-size`.
fn summary_statistics(table: &Table, schema: &SchemaRef) -> Option<Statistics> {
    let snapshot = table.metadata().current_snapshot()?;
    let props = &snapshot.summary().additional_properties;
    let number = |k: &str| props.get(k).and_then(|v| v.parse::<usize>().ok());
    let mut stats = Statistics::new_unknown(schema);
    stats.num_rows = number("total-records").map_or(Precision::Absent, Precision::Inexact);
    stats.total_byte_size =
        number("total-files-size").map_or(Precision::Absent, Precision::Inexact);
    Some(stats)
}

fn external(e: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl IcebergTable {
    /// A provider for `table`'s current snapshot and current schema.
    pub async fn try_new(table: Table) -> DFResult<Self> {
        let metadata = table.metadata();
        let current = metadata.current_schema().clone();
        let schema = Arc::new(schema_to_arrow_schema(&current).map_err(external)?);
        let evolved = match metadata.current_snapshot() {
            Some(snapshot) => {
                let snapshot_schema = snapshot.schema(metadata).map_err(external)?;
                (snapshot_schema.schema_id() != current.schema_id() && *snapshot_schema != *current)
                    .then(|| (snapshot.snapshot_id(), snapshot_schema))
            }
            None => None,
        };
        let statistics = summary_statistics(&table, &schema);
        let Some((snapshot_id, snapshot_schema)) = evolved else {
            let inner = IcebergStaticTableProvider::try_new_from_table(table.clone())
                .await
                .map_err(external)?;
            return Ok(Self {
                schema,
                inner,
                mapping: None,
                statistics,
                table,
                snapshot_id: None,
                storage: None,
            });
        };
        let by_id: HashMap<i32, usize> = snapshot_schema
            .as_struct()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id, i))
            .collect();
        let mapping = current
            .as_struct()
            .fields()
            .iter()
            .map(|f| by_id.get(&f.id).copied())
            .collect();
        let inner =
            IcebergStaticTableProvider::try_new_from_table_snapshot(table.clone(), snapshot_id)
                .await
                .map_err(external)?;
        Ok(Self {
            schema,
            inner,
            mapping: Some(mapping),
            statistics,
            table,
            snapshot_id: Some(snapshot_id),
            storage: None,
        })
    }

    /// A provider for snapshot `snapshot_id` of `table`, read with that
    /// snapshot's own schema (time travel).
    pub async fn at_snapshot(table: Table, snapshot_id: i64) -> DFResult<Self> {
        let metadata = table.metadata();
        let snapshot = metadata.snapshot_by_id(snapshot_id).ok_or_else(|| {
            DataFusionError::Plan(format!(
                "Iceberg snapshot ID does not exists: {snapshot_id}"
            ))
        })?;
        let snapshot_schema = snapshot.schema(metadata).map_err(external)?;
        let schema = Arc::new(schema_to_arrow_schema(&snapshot_schema).map_err(external)?);
        let props = &snapshot.summary().additional_properties;
        let number = |k: &str| props.get(k).and_then(|v| v.parse::<usize>().ok());
        let mut stats = Statistics::new_unknown(&schema);
        stats.num_rows = number("total-records").map_or(Precision::Absent, Precision::Inexact);
        stats.total_byte_size =
            number("total-files-size").map_or(Precision::Absent, Precision::Inexact);
        let inner =
            IcebergStaticTableProvider::try_new_from_table_snapshot(table.clone(), snapshot_id)
                .await
                .map_err(external)?;
        Ok(Self {
            schema,
            inner,
            mapping: None,
            statistics: Some(stats),
            table,
            snapshot_id: Some(snapshot_id),
            storage: None,
        })
    }

    /// A token naming exactly the rows this provider reads: the table's
    /// uuid, its metadata file (which changes with every commit, schema or
    /// property change) and the snapshot scanned. `None` for a table whose
    /// metadata has no location.
    pub fn read_version(&self) -> Option<String> {
        let metadata = self.table.metadata();
        let location = self.table.metadata_location()?;
        let snapshot = self.snapshot_id.or_else(|| metadata.current_snapshot_id());
        Some(format!(
            "{}@{location}#{}",
            metadata.uuid(),
            snapshot.map_or_else(|| "empty".to_string(), |s| s.to_string())
        ))
    }

    /// Plans scans as DataFusion Parquet scans over `storage`'s object
    /// stores where [`crate::native_scan`] can.
    pub fn with_native_scan(mut self, storage: Arc<ObjectStoreStorage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Whether `expr` can be evaluated exactly by Iceberg on the snapshot.
    fn pushable(&self, expr: &Expr) -> bool {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::And | Operator::Or => self.pushable(left) && self.pushable(right),
                Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq => {
                    self.column_vs_literal(left, right) || self.column_vs_literal(right, left)
                }
                _ => false,
            },
            Expr::Not(inner) => self.pushable(inner),
            Expr::IsNull(e) | Expr::IsNotNull(e) => self.column_type(e).is_some(),
            Expr::InList(list) => {
                let Some(t) = self.column_type(&list.expr) else {
                    return false;
                };
                list.list.iter().all(|v| literal_of_type(v, t))
            }
            Expr::Between(b) => {
                let Some(t) = self.column_type(&b.expr) else {
                    return false;
                };
                literal_of_type(&b.low, t) && literal_of_type(&b.high, t)
            }
            _ => false,
        }
    }

    fn column_vs_literal(&self, column: &Expr, literal: &Expr) -> bool {
        self.column_type(column)
            .is_some_and(|t| literal_of_type(literal, t))
    }

    /// The type of a bare column that the snapshot stores under the same name.
    fn column_type(&self, expr: &Expr) -> Option<&DataType> {
        let Expr::Column(c) = expr else { return None };
        let (index, field) = self.schema.column_with_name(&c.name)?;
        if let Some(mapping) = &self.mapping {
            let snapshot_index = mapping[index]?;
            let snapshot_field = self.inner.schema().field(snapshot_index).clone();
            if snapshot_field.name() != field.name()
                || snapshot_field.data_type() != field.data_type()
            {
                return None;
            }
        }
        Some(field.data_type())
    }
}

fn literal_of_type(expr: &Expr, t: &DataType) -> bool {
    matches!(expr, Expr::Literal(v, _) if !v.is_null() && v.data_type() == *t)
}

#[async_trait]
impl TableProvider for IcebergTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        self.statistics.clone()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Every filter reaches `scan` and stays above it too: the native
        // scan hands them to the Parquet reader for pruning, the fallback
        // passes the ones Iceberg evaluates exactly.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let pushed: Vec<Expr> = filters
            .iter()
            .filter(|f| self.pushable(f))
            .cloned()
            .collect();
        if let (Some(storage), None) = (&self.storage, &self.mapping) {
            match crate::native_scan::plan(
                state,
                &self.table,
                self.snapshot_id,
                &self.schema,
                storage,
                projection,
                &pushed,
                limit,
            )
            .await?
            {
                Planned::Native(plan) => return Ok(plan),
                Planned::Fallback(reason) => tracing::debug!(
                    table = %self.table.identifier(),
                    reason = crate::native_scan::describe(reason),
                    "scanning through iceberg-datafusion"
                ),
            }
        }
        let Some(mapping) = &self.mapping else {
            return self.inner.scan(state, projection, &pushed, limit).await;
        };
        // Evolved schema: scan the snapshot's columns, then map them to the current schema.
        let wanted: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut inner_projection: Vec<usize> = Vec::new();
        for &i in &wanted {
            if let Some(s) = mapping[i]
                && !inner_projection.contains(&s)
            {
                inner_projection.push(s);
            }
        }
        let input = self
            .inner
            .scan(state, Some(&inner_projection), &pushed, limit)
            .await?;
        let input_schema = input.schema();
        let exprs = wanted
            .iter()
            .map(|&i| -> DFResult<(Arc<dyn PhysicalExpr>, String)> {
                let field = self.schema.field(i);
                let expr: Arc<dyn PhysicalExpr> = match mapping[i] {
                    Some(s) => {
                        let pos = inner_projection
                            .iter()
                            .position(|&p| p == s)
                            .expect("mapped column is projected");
                        let column: Arc<dyn PhysicalExpr> =
                            Arc::new(Column::new(input_schema.field(pos).name(), pos));
                        if input_schema.field(pos).data_type() == field.data_type() {
                            column
                        } else {
                            Arc::new(CastExpr::new(column, field.data_type().clone(), None))
                        }
                    }
                    None => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
                };
                Ok((expr, field.name().clone()))
            })
            .collect::<DFResult<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}
