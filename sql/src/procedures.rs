//! The procedures of `system.runtime` (`CALL ...`): what they do happens
//! when the statement executes, once, and never when it is only planned or
//! described (Flight SQL prepares statements before running them). Each is
//! planned as a one-row table (`result`: true) whose scan carries it out.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;

use contango_common::error::Result;

/// What a procedure does, run at most once per scan.
pub(crate) type Action = Arc<dyn Fn() -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// A procedure call planned as a table: its scan runs `action`.
pub(crate) struct OnScan {
    procedure: &'static str,
    action: Action,
}

impl OnScan {
    /// A call of `procedure` doing `action` when it executes.
    pub(crate) fn new(procedure: &'static str, action: Action) -> Self {
        Self { procedure, action }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new(
            "result",
            DataType::Boolean,
            false,
        )]))
    }
}

impl fmt::Debug for OnScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnScan")
            .field("procedure", &self.procedure)
            .finish()
    }
}

#[async_trait]
impl TableProvider for OnScan {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Self::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        (self.action)()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = RecordBatch::try_new(
            Self::schema(),
            vec![Arc::new(BooleanArray::from(vec![true]))],
        )?;
        crate::queries::scan_batch(batch, state, projection, filters, limit).await
    }
}
