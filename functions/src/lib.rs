//! Trino's function library on DataFusion: functions DataFusion lacks, and
//! Trino semantics where DataFusion's differ (return types, 1-based and
//! negative indexes, replace-all regexps, session time zone). One module per
//! family: `datetime`, `format` (date/time patterns), `string`, `regexp`,
//! `json`, `array`, `map`, `math`, `conditional`, `aggregate`,
//! `map_aggregates` and `window`. The commodity functions live in
//! `contango-timeseries`, beside the GPU operators that run them.
//!
//! The library is built once per process ([`library`]); every session's
//! context gets the same function instances ([`install`] on a session state
//! builder, or [`register`] on a context). Functions read the session time
//! zone from the session's config (`execution.time_zone`, [`session_zone`]):
//! evaluated ones from `ScalarFunctionArgs::config_options`, rewritten ones
//! from `SimplifyContext::config_options`. DataFusion asks for a return type
//! without the config, so the few functions whose *type* names the session
//! zone (`from_unixtime(x)`, `parse_datetime`, `from_iso8601_timestamp`) are
//! made per zone ([`Scalar::per_zone`]): once per distinct zone, cached, and
//! swapped in by DataFusion's `with_updated_config` when a session state is
//! built (or its zone is `SET`).
//!
//! Many functions are *rewrites* (`simplify`): `typeof(x)` becomes a literal,
//! `count_if(b)` becomes `count(CASE WHEN b THEN 1 END)`; the rest evaluate
//! arrays directly ([`Scalar`] builds either from closures).

mod aggregate;
mod array;
mod conditional;
mod datetime;
mod format;
mod json;
pub mod limits;
mod map;
mod map_aggregates;
mod math;
pub mod pattern_cost;
mod regexp;
mod string;
mod window;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    AggregateUDF, Cast, ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility, WindowUDF,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;

/// The zone of a session whose config names none.
const DEFAULT_ZONE: &str = "UTC";

/// The session time zone in `config` (`execution.time_zone`; UTC when unset).
pub fn session_zone(config: &ConfigOptions) -> &str {
    config
        .execution
        .time_zone
        .as_deref()
        .unwrap_or(DEFAULT_ZONE)
}

/// The whole library: built once per process, shared by every session.
pub struct Library {
    /// Scalar functions (the per-zone ones in their UTC instance; DataFusion
    /// swaps in the session's through `with_updated_config`).
    pub scalars: Vec<Arc<ScalarUDF>>,
    /// Aggregate functions.
    pub aggregates: Vec<Arc<AggregateUDF>>,
    /// Window functions.
    pub windows: Vec<Arc<WindowUDF>>,
    /// Analyzer rules, run after DataFusion's own, in this order.
    pub analyzer_rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>>,
}

static LIBRARY: LazyLock<Library> = LazyLock::new(|| Library {
    scalars: datetime::functions()
        .into_iter()
        .chain(string::functions())
        .chain(regexp::functions())
        .chain(json::functions())
        .chain(array::functions())
        .chain(map::functions())
        .chain(math::functions())
        .chain(conditional::functions())
        .chain(limits::functions())
        .map(Arc::new)
        .collect(),
    aggregates: aggregate::functions()
        .into_iter()
        .chain(map_aggregates::functions())
        .map(Arc::new)
        .collect(),
    windows: window::functions().into_iter().map(Arc::new).collect(),
    analyzer_rules: vec![
        Arc::new(conditional::TryRewrite),
        Arc::new(aggregate::NullFilterIsFalse),
    ],
});

/// The library, built on first use.
pub fn library() -> &'static Library {
    &LIBRARY
}

/// Adds the library to a session state `builder`, after what it holds (so
/// call it after `with_default_features`: Trino's functions replace
/// DataFusion's of the same name). The session zone is the builder's config's;
/// building the state binds the per-zone functions to it.
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let lib = library();
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(lib.scalars.iter().cloned());
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(lib.aggregates.iter().cloned());
    builder
        .window_functions()
        .get_or_insert_with(Vec::new)
        .extend(lib.windows.iter().cloned());
    builder
        .analyzer_rules()
        .get_or_insert_with(Vec::new)
        .extend(lib.analyzer_rules.iter().cloned());
    builder
}

/// Registers the library on an existing context, for a session in
/// `time_zone`: that zone becomes the context's session zone
/// (`execution.time_zone`) unless it already is (a config naming no zone
/// counts as UTC), and the per-zone functions are bound to it. Prefer
/// [`install`] where the context is yet to be built.
pub fn register(ctx: &SessionContext, time_zone: &str) {
    let state = ctx.state_ref();
    let mut state = state.write();
    if session_zone(state.config().options()) != time_zone {
        state.config_mut().options_mut().execution.time_zone = Some(time_zone.to_string());
    }
    let options = Arc::clone(state.config().options());
    let lib = library();
    // The registry's methods cannot fail for a session state.
    for f in &lib.scalars {
        let f = f
            .inner()
            .with_updated_config(&options)
            .map_or_else(|| Arc::clone(f), Arc::new);
        let _ = state.register_udf(f);
    }
    for f in &lib.aggregates {
        let _ = state.register_udaf(Arc::clone(f));
    }
    for f in &lib.windows {
        let _ = state.register_udwf(Arc::clone(f));
    }
    for r in &lib.analyzer_rules {
        state.add_analyzer_rule(Arc::clone(r));
    }
}

fn any(n: usize) -> Signature {
    Signature::new(TypeSignature::Any(n), Volatility::Immutable)
}

fn variadic_any() -> Signature {
    Signature::new(TypeSignature::VariadicAny, Volatility::Immutable)
}

fn cast_to(e: Expr, t: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), t))
}

/// Arguments as strings, row by row (NULL-propagating).
fn text_columns(args: &[ArrayRef]) -> DFResult<Vec<ArrayRef>> {
    args.iter().map(|a| Ok(cast(a, &DataType::Utf8)?)).collect()
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
type EvalFn = dyn Fn(&[ArrayRef], usize, &str) -> DFResult<ArrayRef> + Send + Sync;
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
        Self::eval_in_zone(name, signature, ret, move |args, rows, _| eval(args, rows))
    }

    /// [`Scalar::eval`] for a function that reads the session time zone: the
    /// third argument of `eval` (from the invocation's config).
    pub fn eval_in_zone(
        name: &'static str,
        signature: Signature,
        ret: impl Fn(&[DataType], &[Option<&ScalarValue>]) -> DFResult<DataType> + Send + Sync + 'static,
        eval: impl Fn(&[ArrayRef], usize, &str) -> DFResult<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            name,
            signature,
            ret: Box::new(ret),
            eval: Some(Box::new(eval)),
            rewrite: None,
        })
    }

    /// A function rewritten into other expressions before execution (the
    /// session zone is [`session_zone`] of the context's `config_options`).
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

    /// A function whose return type names the session zone, made by
    /// `build(zone)` for one zone. DataFusion asks for return types without
    /// the session config, so each session gets the instance for its zone
    /// through `with_updated_config`: made once per distinct zone, then
    /// cached for the process (keyed by `name`: one `build` per name). This
    /// is the UTC instance.
    pub fn per_zone(name: &'static str, build: fn(Arc<str>) -> ScalarUDF) -> ScalarUDF {
        PerZone::get(name, build, DEFAULT_ZONE)
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
                cast_to(out, declared)
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
        let out = eval(&arrays, rows, session_zone(&args.config_options))?;
        if scalar && !args.args.is_empty() {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// The instances of the per-zone functions made so far, by name and zone.
type PerZoneCache = HashMap<(&'static str, Arc<str>), ScalarUDF>;

static PER_ZONE: LazyLock<Mutex<PerZoneCache>> = LazyLock::new(Mutex::default);

/// Most per-zone instances kept (every IANA zone and offset a session could
/// name, for the few per-zone functions, fits well within it).
const PER_ZONE_CACHED: usize = 16_384;

/// A function bound to one session zone ([`Scalar::per_zone`]): `inner`
/// (`build(zone)`) does the work.
struct PerZone {
    name: &'static str,
    zone: Arc<str>,
    build: fn(Arc<str>) -> ScalarUDF,
    inner: ScalarUDF,
}

impl PerZone {
    /// The instance of `name` for `zone`, made on first use. Only valid
    /// zones are cached, and at most [`PER_ZONE_CACHED`] instances: clients
    /// choose the zone, so the cache must not grow with what they send.
    fn get(name: &'static str, build: fn(Arc<str>) -> ScalarUDF, zone: &str) -> ScalarUDF {
        let make = |name: &'static str, zone: Arc<str>| {
            ScalarUDF::new_from_impl(Self {
                name,
                zone: zone.clone(),
                build,
                inner: build(zone),
            })
        };
        let valid = zone
            .parse::<datafusion::arrow::array::timezone::Tz>()
            .is_ok();
        let mut cache = PER_ZONE.lock().unwrap_or_else(|e| e.into_inner());
        let key = (name, Arc::from(zone));
        if !valid || (cache.len() >= PER_ZONE_CACHED && !cache.contains_key(&key)) {
            return make(name, key.1);
        }
        cache
            .entry(key)
            .or_insert_with_key(|(name, zone)| make(name, zone.clone()))
            .clone()
    }
}

impl fmt::Debug for PerZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerZone")
            .field("name", &self.name)
            .field("zone", &self.zone)
            .finish()
    }
}

impl PartialEq for PerZone {
    fn eq(&self, other: &Self) -> bool {
        self.zone == other.zone && self.inner == other.inner
    }
}

impl Eq for PerZone {}

impl std::hash::Hash for PerZone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.zone.hash(state);
        self.inner.hash(state);
    }
}

impl ScalarUDFImpl for PerZone {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let zone = session_zone(config);
        (zone != &*self.zone).then(|| Self::get(self.name, self.build, zone))
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DFResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DFResult<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        self.inner.invoke_with_args(args)
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

    /// A context with DataFusion's functions and the library, as the server
    /// builds one: the session zone is `config`'s.
    pub fn context(config: datafusion::prelude::SessionConfig) -> SessionContext {
        let builder = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        SessionContext::new_with_state(super::install(builder).build())
    }

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
        let ctx = context(config);
        extend(&ctx);
        first_row(&ctx, sql).await
    }

    /// Runs `sql` on `ctx` and returns the first row's values as text, and
    /// the column types.
    pub async fn first_row(ctx: &SessionContext, sql: &str) -> (Vec<String>, Vec<String>) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::library;
    use super::test_support::{context, first_row};

    fn in_zone(zone: &str) -> SessionContext {
        let mut config = SessionConfig::new();
        config.options_mut().execution.time_zone = Some(zone.to_string());
        context(config)
    }

    /// The session zone through every path: a rewrite (`current_timezone`),
    /// the per-zone functions (their type names the zone), a constant folded
    /// by the simplifier and a column evaluated by the executor (`date_diff`
    /// of zone-less text, 23 hours across New York's spring DST change),
    /// and `localtimestamp`.
    fn probe(zone: &str) -> String {
        format!(
            "SELECT current_timezone(), CAST(from_unixtime(0) AS VARCHAR), \
             date_diff('day', '2020-03-08 06:30:00', '2020-03-09 05:30:00'), \
             CAST(parse_datetime('2020-01-02 03:04', 'yyyy-MM-dd HH:mm') AS VARCHAR), \
             CAST(from_iso8601_timestamp('2020-05-11T11:15:05') AS VARCHAR), \
             hour(localtimestamp) = hour(at_timezone(now(), '{zone}')), date_diff('day', a, b) \
             FROM (VALUES ('2020-03-08 06:30:00', '2020-03-09 05:30:00')) t(a, b)"
        )
    }

    /// What registering the library for each zone gave before it was built
    /// once (the values of [`probe`]).
    const BY_ZONE: [(&str, [&str; 7]); 3] = [
        (
            "UTC",
            [
                "UTC",
                "1970-01-01T00:00:00Z",
                "0",
                "2020-01-02T03:04:00Z",
                "2020-05-11T11:15:05Z",
                "true",
                "0",
            ],
        ),
        (
            "America/New_York",
            [
                "America/New_York",
                "1969-12-31T19:00:00-05:00",
                "1",
                "2020-01-02T03:04:00-05:00",
                "2020-05-11T11:15:05-04:00",
                "true",
                "1",
            ],
        ),
        (
            "Asia/Tokyo",
            [
                "Asia/Tokyo",
                "1970-01-01T09:00:00+09:00",
                "0",
                "2020-01-02T03:04:00+09:00",
                "2020-05-11T11:15:05+09:00",
                "true",
                "0",
            ],
        ),
    ];

    #[tokio::test]
    async fn one_library_answers_each_sessions_zone() {
        let lib = library();
        let prebuilt = |name: &str| {
            lib.scalars
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .expect(name)
        };
        let registered = |ctx: &SessionContext, name: &str| {
            ctx.state_ref().read().scalar_functions()[name].clone()
        };
        let contexts: Vec<_> = BY_ZONE.iter().map(|(z, _)| in_zone(z)).collect();
        for ((zone, want), ctx) in BY_ZONE.iter().zip(&contexts) {
            // The same instances in every session.
            for name in ["date_diff", "current_timezone", "localtimestamp"] {
                assert!(
                    Arc::ptr_eq(&registered(ctx, name), &prebuilt(name)),
                    "{name}"
                );
            }
            // The per-zone ones: UTC's is the prebuilt one, another zone's is
            // made once and shared by its sessions.
            let from_unixtime = registered(ctx, "from_unixtime");
            assert_eq!(
                Arc::ptr_eq(&from_unixtime, &prebuilt("from_unixtime")),
                *zone == "UTC"
            );
            assert!(Arc::ptr_eq(
                from_unixtime.inner(),
                registered(&in_zone(zone), "from_unixtime").inner()
            ));
            let (v, _) = first_row(ctx, &probe(zone)).await;
            assert_eq!(v, want, "{zone}");
        }
        // A context's zone changed afterwards (DataFusion's SET) is followed.
        let ctx = in_zone("UTC");
        ctx.sql("SET datafusion.execution.time_zone = 'Asia/Tokyo'")
            .await
            .unwrap();
        assert_eq!(first_row(&ctx, &probe("Asia/Tokyo")).await.0, BY_ZONE[2].1);
    }

    #[test]
    fn names_are_unique() {
        // So the order the families are listed in does not matter.
        let mut names: Vec<&str> = library().scalars.iter().map(|f| f.name()).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }

    #[tokio::test]
    async fn register_sets_the_zone_of_an_existing_context() {
        let ctx = SessionContext::new();
        super::register(&ctx, "America/New_York");
        let (v, _) = first_row(&ctx, &probe("America/New_York")).await;
        assert_eq!(v, BY_ZONE[1].1);
        // No zone in the config reads as UTC: nothing to set.
        let ctx = SessionContext::new();
        super::register(&ctx, "UTC");
        assert!(ctx.state().config().options().execution.time_zone.is_none());
        assert_eq!(first_row(&ctx, &probe("UTC")).await.0, BY_ZONE[0].1);
    }
}
