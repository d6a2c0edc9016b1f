//! Small Arrow helpers the operators and functions share: time columns as
//! comparable integers, validity as bytes, batches in a declared schema, and
//! a projection over a planned operator.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::error::Result as DFResult;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

/// Times as comparable `Int64`: timestamps (any unit or zone) and dates in
/// microseconds since the epoch; integers as they are.
pub fn time_micros(a: &ArrayRef) -> DFResult<ArrayRef> {
    if let DataType::Timestamp(TimeUnit::Microsecond, _) = a.data_type() {
        // The same i64 values (UTC micros whatever the zone): no copy.
        let p = a.as_primitive::<TimestampMicrosecondType>();
        return Ok(Arc::new(Int64Array::new(
            p.values().clone(),
            p.nulls().cloned(),
        )));
    }
    let a = match a.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?
        }
        _ => a.clone(),
    };
    Ok(cast(&a, &DataType::Int64)?)
}

/// Appends 1 for every valid row of `a`, 0 for every NULL.
pub fn extend_validity(a: &dyn Array, out: &mut Vec<u8>) {
    match a.logical_nulls() {
        Some(n) => out.extend(n.iter().map(|v| v as u8)),
        None => out.extend(std::iter::repeat_n(1u8, a.len())),
    }
}

/// 1 for every valid row of `a`, 0 for every NULL.
pub fn validity_bytes(a: &dyn Array) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    extend_validity(a, &mut out);
    out
}

/// `columns` as a batch of `schema`, cast where their types differ.
pub fn batch_of(schema: &SchemaRef, columns: Vec<ArrayRef>) -> DFResult<RecordBatch> {
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(a, f)| {
            if a.data_type() == f.data_type() {
                Ok(a)
            } else {
                Ok(cast(&a, f.data_type())?)
            }
        })
        .collect::<DFResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `plan` with only the `projection` columns (a table provider's scan).
pub fn project(
    plan: Arc<dyn ExecutionPlan>,
    projection: Option<&Vec<usize>>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let schema = plan.schema();
    match projection {
        Some(p)
            if p.len() != schema.fields().len() || p.iter().enumerate().any(|(i, c)| i != *c) =>
        {
            let exprs = p.iter().map(|i| {
                let name = schema.field(*i).name().clone();
                (
                    Arc::new(Column::new(&name, *i)) as Arc<dyn PhysicalExpr>,
                    name,
                )
            });
            Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
        }
        _ => Ok(plan),
    }
}

/// `plan` declaring exactly `schema` (same columns and types; field metadata
/// such as Parquet field ids may differ): what a table provider's scan must
/// return for its declared schema, or DataFusion rejects the plan above it.
pub fn with_schema(
    plan: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    if plan.schema() == schema {
        return Ok(plan);
    }
    Ok(Arc::new(relabel::RelabelExec::new(plan, schema)))
}

mod relabel {
    use std::any::Any;
    use std::fmt;
    use std::sync::Arc;

    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::datatypes::SchemaRef;
    use datafusion::error::Result as DFResult;
    use datafusion::execution::TaskContext;
    use datafusion::physical_expr::EquivalenceProperties;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::physical_plan::{
        DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
        SendableRecordBatchStream,
    };
    use futures::StreamExt;

    /// Passes batches through under another (metadata-only different) schema.
    #[derive(Debug)]
    pub struct RelabelExec {
        input: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        props: Arc<PlanProperties>,
    }

    impl RelabelExec {
        pub fn new(input: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
            let props = Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema.clone()),
                input.output_partitioning().clone(),
                input.pipeline_behavior(),
                input.boundedness(),
            ));
            Self {
                input,
                schema,
                props,
            }
        }
    }

    impl DisplayAs for RelabelExec {
        fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "RelabelExec")
        }
    }

    impl ExecutionPlan for RelabelExec {
        fn name(&self) -> &str {
            "RelabelExec"
        }

        fn as_any(&self) -> &dyn Any {
            self
        }

        fn properties(&self) -> &Arc<PlanProperties> {
            &self.props
        }

        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![&self.input]
        }

        fn with_new_children(
            self: Arc<Self>,
            children: Vec<Arc<dyn ExecutionPlan>>,
        ) -> DFResult<Arc<dyn ExecutionPlan>> {
            Ok(Arc::new(Self::new(
                children[0].clone(),
                self.schema.clone(),
            )))
        }

        fn execute(
            &self,
            partition: usize,
            context: Arc<TaskContext>,
        ) -> DFResult<SendableRecordBatchStream> {
            let schema = self.schema.clone();
            let input = self.input.execute(partition, context)?;
            let out = schema.clone();
            Ok(Box::pin(RecordBatchStreamAdapter::new(
                out,
                input.map(move |b| {
                    let b = b?;
                    Ok(RecordBatch::try_new(schema.clone(), b.columns().to_vec())?)
                }),
            )))
        }
    }
}

/// A DataFusion context over the state of the session scanning a table
/// provider (table functions and views plan their SQL with it).
pub fn context_of(
    state: &dyn datafusion::catalog::Session,
    who: &str,
) -> DFResult<datafusion::prelude::SessionContext> {
    let state = state
        .as_any()
        .downcast_ref::<datafusion::execution::SessionState>()
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Internal(format!("{who} needs a SessionState"))
        })?;
    Ok(datafusion::prelude::SessionContext::new_with_state(
        state.clone(),
    ))
}

/// The physical plan of `frame` as the scan of a table provider declaring
/// `schema`: columns cast to the declared types, then the scan's
/// projection and limit.
pub async fn scan_of(
    frame: datafusion::prelude::DataFrame,
    schema: &SchemaRef,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    use datafusion::prelude::{cast as cast_expr, col};
    let typed: Vec<datafusion::prelude::Expr> = schema
        .fields()
        .iter()
        .map(|f| cast_expr(col(f.name()), f.data_type().clone()).alias(f.name()))
        .collect();
    let mut frame = frame.select(typed)?;
    if let Some(p) = projection {
        let names: Vec<&str> = p.iter().map(|i| schema.field(*i).name().as_str()).collect();
        frame = frame.select_columns(&names)?;
    }
    if let Some(n) = limit {
        frame = frame.limit(0, Some(n))?;
    }
    let declared = match projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => schema.clone(),
    };
    with_schema(frame.create_physical_plan().await?, declared)
}
