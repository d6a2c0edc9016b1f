//! Ranking window functions typed as Trino types them: `row_number`, `rank`,
//! `dense_rank` and `ntile` return bigint (DataFusion's return unsigned).

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DFResult;
use datafusion::functions_window as w;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{
    LimitEffect, PartitionEvaluator, ReversedUDWF, Signature, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;

/// The bigint-typed ranking functions.
pub fn functions() -> Vec<WindowUDF> {
    [
        w::row_number::row_number_udwf(),
        w::rank::rank_udwf(),
        w::rank::dense_rank_udwf(),
        w::ntile::ntile_udwf(),
    ]
    .into_iter()
    .map(|inner| WindowUDF::new_from_impl(Bigint { inner }))
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bigint {
    inner: Arc<WindowUDF>,
}

impl WindowUDFImpl for Bigint {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn expressions(
        &self,
        args: datafusion::logical_expr::function::ExpressionArgs,
    ) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(args)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> DFResult<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(Cast64(
            self.inner.partition_evaluator_factory(args)?,
        )))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> DFResult<FieldRef> {
        let f = self.inner.field(args)?;
        Ok(Arc::new(Field::new(
            f.name(),
            DataType::Int64,
            f.is_nullable(),
        )))
    }

    fn sort_options(&self) -> Option<datafusion::arrow::compute::SortOptions> {
        self.inner.sort_options()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::NotSupported
    }

    fn limit_effect(&self, args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        self.inner.inner().limit_effect(args)
    }
}

#[derive(Debug)]
struct Cast64(Box<dyn PartitionEvaluator>);

fn to64(a: ArrayRef) -> DFResult<ArrayRef> {
    Ok(cast(&a, &DataType::Int64)?)
}

impl PartitionEvaluator for Cast64 {
    fn memoize(&mut self, state: &mut WindowAggState) -> DFResult<()> {
        self.0.memoize(state)
    }
    fn get_range(&self, idx: usize, n_rows: usize) -> DFResult<Range<usize>> {
        self.0.get_range(idx, n_rows)
    }
    fn is_causal(&self) -> bool {
        self.0.is_causal()
    }
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> DFResult<ArrayRef> {
        to64(self.0.evaluate_all(values, num_rows)?)
    }
    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> DFResult<ScalarValue> {
        self.0.evaluate(values, range)?.cast_to(&DataType::Int64)
    }
    fn evaluate_all_with_rank(
        &self,
        num_rows: usize,
        ranks: &[Range<usize>],
    ) -> DFResult<ArrayRef> {
        to64(self.0.evaluate_all_with_rank(num_rows, ranks)?)
    }
    fn supports_bounded_execution(&self) -> bool {
        self.0.supports_bounded_execution()
    }
    fn uses_window_frame(&self) -> bool {
        self.0.uses_window_frame()
    }
    fn include_rank(&self) -> bool {
        self.0.include_rank()
    }
}
