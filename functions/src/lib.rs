//! Trino's function library on DataFusion: functions DataFusion lacks, and
//! Trino semantics where DataFusion's differ (return types, 1-based and
//! negative indexes, replace-all regexps, session time zone). Registered on
//! every session's context by [`register`], so both endpoints share them.
//! The commodity functions live in `contango-timeseries`, beside the GPU
//! operators that run them.
//!
//! Many functions are *rewrites* (`simplify`): `typeof(x)` becomes a literal,
//! `count_if(b)` becomes `count(CASE WHEN b THEN 1 END)`; the rest evaluate
//! arrays directly ([`Scalar`] builds either from closures).

mod aggregate;
mod datetime;
mod formats;
mod map_aggregates;
mod misc;
mod window;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// Registers every Trino function on `ctx`, for a session in `time_zone`.
pub fn register(ctx: &SessionContext, time_zone: &str) {
    for f in datetime::functions(time_zone)
        .into_iter()
        .chain(misc::functions())
    {
        ctx.register_udf(f);
    }
    for f in aggregate::functions()
        .into_iter()
        .chain(map_aggregates::functions())
    {
        ctx.register_udaf(f);
    }
    for f in window::functions() {
        ctx.register_udwf(f);
    }
    ctx.add_analyzer_rule(Arc::new(misc::TryRewrite));
    ctx.add_analyzer_rule(Arc::new(aggregate::NullFilterIsFalse));
}

/// `plan` (subqueries included) with every node's expressions rewritten
/// bottom-up by `rewrite`, each keeping its output name. `rewrite` gets the
/// node's input schema when the node has exactly one input. Shared by the
/// analyzer rules of this module.
fn rewrite_keeping_names(
    plan: datafusion::logical_expr::LogicalPlan,
    rewrite: impl Fn(
        Expr,
        Option<&datafusion::common::DFSchemaRef>,
    ) -> DFResult<datafusion::common::tree_node::Transformed<Expr>>,
) -> DFResult<datafusion::logical_expr::LogicalPlan> {
    use datafusion::logical_expr::expr_rewriter::NamePreserver;
    Ok(plan
        .transform_up_with_subqueries(|node| {
            let names = NamePreserver::new(&node);
            let input_schema = match node.inputs().as_slice() {
                [one] => Some(one.schema().clone()),
                _ => None,
            };
            node.map_expressions(|e| {
                let original = names.save(&e);
                Ok(rewrite(e, input_schema.as_ref())?.update_data(|e| original.restore(e)))
            })
        })?
        .data)
}

type ReturnFn = dyn Fn(&[DataType], &[Option<&ScalarValue>]) -> DFResult<DataType> + Send + Sync;
type EvalFn = dyn Fn(&[ArrayRef], usize) -> DFResult<ArrayRef> + Send + Sync;
type SimplifyFn = dyn Fn(Vec<Expr>, &SimplifyContext) -> DFResult<Expr> + Send + Sync;

/// A scalar function defined by closures: its return type, and either an
/// array evaluation or a rewrite into other expressions.
pub struct Scalar {
    name: &'static str,
    signature: Signature,
    ret: Box<ReturnFn>,
    eval: Option<Box<EvalFn>>,
    rewrite: Option<Box<SimplifyFn>>,
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scalar").field("name", &self.name).finish()
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for Scalar {}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Scalar {
    /// A function evaluated on arrays (arguments expanded to `rows`).
    pub fn eval(
        name: &'static str,
        signature: Signature,
        ret: impl Fn(&[DataType], &[Option<&ScalarValue>]) -> DFResult<DataType> + Send + Sync + 'static,
        eval: impl Fn(&[ArrayRef], usize) -> DFResult<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            name,
            signature,
            ret: Box::new(ret),
            eval: Some(Box::new(eval)),
            rewrite: None,
        })
    }

    /// A function rewritten into other expressions before execution.
    pub fn rewrite(
        name: &'static str,
        signature: Signature,
        ret: impl Fn(&[DataType], &[Option<&ScalarValue>]) -> DFResult<DataType> + Send + Sync + 'static,
        rewrite: impl Fn(Vec<Expr>, &SimplifyContext) -> DFResult<Expr> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            name,
            signature,
            ret: Box::new(ret),
            eval: None,
            rewrite: Some(Box::new(rewrite)),
        })
    }
}

impl ScalarUDFImpl for Scalar {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        (self.ret)(arg_types, &vec![None; arg_types.len()])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DFResult<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let t = (self.ret)(&types, args.scalar_arguments)?;
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
            self.name, t, true,
        )))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DFResult<ExprSimplifyResult> {
        let Some(rewrite) = &self.rewrite else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        // The plan already holds the declared type; a rewrite that reports
        // another one (e.g. date_bin, put in after type coercion, reports
        // nanoseconds for a microsecond value) is cast back to it, so the
        // logical and physical schemas above agree.
        let types = args
            .iter()
            .map(|a| info.get_data_type(a))
            .collect::<DFResult<Vec<_>>>()?;
        let scalars: Vec<Option<&ScalarValue>> = args
            .iter()
            .map(|a| match a {
                Expr::Literal(v, _) => Some(v),
                _ => None,
            })
            .collect();
        let declared = (self.ret)(&types, &scalars)?;
        let out = rewrite(args, info)?;
        Ok(ExprSimplifyResult::Simplified(
            if info.get_data_type(&out)? == declared {
                out
            } else {
                Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(out), declared))
            },
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let Some(eval) = &self.eval else {
            return Err(DataFusionError::Internal(format!(
                "{} is rewritten before execution",
                self.name
            )));
        };
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = eval(&arrays, rows)?;
        if scalar && !args.args.is_empty() {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// The string value of a constant argument, if it is one.
pub fn constant_str(v: Option<&ScalarValue>) -> Option<String> {
    match v? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

/// An execution error with Trino's phrasing for bad function arguments.
pub fn invalid_argument(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(message.into())
}

/// Helpers for unit tests of this crate and of the crates that extend it
/// (feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod test_support {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::prelude::SessionContext;

    /// Runs `sql` with the Trino functions in `zone` and returns the first
    /// row's values as text, and the column types.
    pub async fn one_row(sql: &str, zone: &str) -> (Vec<String>, Vec<String>) {
        one_row_with(sql, zone, |_| {}).await
    }

    /// [`one_row`] with more registered on the context by `extend`.
    pub async fn one_row_with(
        sql: &str,
        zone: &str,
        extend: impl FnOnce(&SessionContext),
    ) -> (Vec<String>, Vec<String>) {
        let mut config = datafusion::prelude::SessionConfig::new();
        config.options_mut().execution.time_zone = Some(zone.to_string());
        let ctx = SessionContext::new_with_config(config);
        super::register(&ctx, zone);
        extend(&ctx);
        let batches = ctx
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let batch = &batches[0];
        let options = FormatOptions::default().with_null("NULL");
        let values = batch
            .columns()
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &options)
                    .unwrap()
                    .value(0)
                    .to_string()
            })
            .collect();
        let types = batch
            .schema()
            .fields()
            .iter()
            .map(|f| contango_common::types::TrinoType::from_arrow(f.data_type()).name())
            .collect();
        (values, types)
    }

    /// The first value of `sql` as text.
    pub async fn value(sql: &str) -> String {
        one_row(sql, "UTC").await.0.remove(0)
    }
}
