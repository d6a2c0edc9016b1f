//! Size checks for the functions whose result size comes from an argument
//! (`repeat`, `lpad`, `rpad`, `array_repeat`, `array_resize`, `sequence`,
//! `generate_series`, `range`): before DataFusion's implementation allocates,
//! the size of the result is computed from the arguments and refused with
//! EXCEEDED_FUNCTION_MEMORY_LIMIT when one call (one batch) would build more
//! than [`MAX_RESULT_BYTES`] or [`MAX_RESULT_ELEMENTS`]. Without the check,
//! `repeat('x', 2147483647)` or `array_repeat(sequence(1, 100000), 100000)`
//! abort the whole process on a failed allocation.
//!
//! `flatten` needs no check: its result holds the values of its input, which
//! already exist. Constant folding calls these wrappers too, so the check
//! also guards planning.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use contango_common::error::{ContangoError, ErrorKind};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type, IntervalUnit, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

/// Most bytes one call of a size-taking function may produce.
pub const MAX_RESULT_BYTES: f64 = (1u64 << 28) as f64;

/// Most array elements one call of an array-building function may produce.
pub const MAX_RESULT_ELEMENTS: f64 = (1u64 << 25) as f64;

/// How a function's result size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rule {
    /// `repeat(s, n)`: bytes of `s` times `n`.
    RepeatString,
    /// `lpad/rpad(s, n [, fill])`: `n` characters of up to 4 bytes.
    Pad,
    /// `array_repeat(x, n)`: `n` copies of `x`.
    RepeatElement,
    /// `array_resize(a, n [, v])`: `n` elements.
    Resize,
    /// `sequence/generate_series/range(start, stop [, step])`.
    Series,
    /// `regexp_like/match/replace/count/instr(s, pattern, ...)`: the
    /// matcher's memory (see [`crate::pattern_cost`]).
    Pattern,
}

/// A DataFusion function with its result size checked first.
#[derive(Debug)]
struct Checked {
    inner: Arc<ScalarUDF>,
    rule: Rule,
}

impl PartialEq for Checked {
    fn eq(&self, other: &Self) -> bool {
        self.rule == other.rule && self.inner.name() == other.inner.name()
    }
}

impl Eq for Checked {}

impl Hash for Checked {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rule.hash(state);
        self.inner.name().hash(state);
    }
}

/// The checked functions, replacing DataFusion's of the same names.
pub fn functions() -> Vec<ScalarUDF> {
    use datafusion::functions_nested::{range, repeat, resize};
    vec![
        checked(datafusion::functions::string::repeat(), Rule::RepeatString),
        checked(datafusion::functions::unicode::lpad(), Rule::Pad),
        checked(datafusion::functions::unicode::rpad(), Rule::Pad),
        checked(repeat::array_repeat_udf(), Rule::RepeatElement),
        checked(resize::array_resize_udf(), Rule::Resize),
        checked(range::range_udf(), Rule::Series),
        gen_series(),
        checked(datafusion::functions::regex::regexp_like(), Rule::Pattern),
        checked(datafusion::functions::regex::regexp_count(), Rule::Pattern),
        checked(datafusion::functions::regex::regexp_instr(), Rule::Pattern),
    ]
}

/// DataFusion's `regexp_replace` with its pattern checked, for Trino's
/// `regexp_replace` (which takes the registry name) to call.
pub fn checked_regexp_replace() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(checked(
            datafusion::functions::regex::regexp_replace(),
            Rule::Pattern,
        ))
    });
    Arc::clone(&UDF)
}

/// DataFusion's `regexp_match` with its pattern checked, for
/// `regexp_extract`.
pub fn checked_regexp_match() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        Arc::new(checked(
            datafusion::functions::regex::regexp_match(),
            Rule::Pattern,
        ))
    });
    Arc::clone(&UDF)
}

/// `generate_series`, checked (what `sequence` is rewritten to).
pub fn gen_series() -> ScalarUDF {
    checked(
        datafusion::functions_nested::range::gen_series_udf(),
        Rule::Series,
    )
}

fn checked(inner: Arc<ScalarUDF>, rule: Rule) -> ScalarUDF {
    ScalarUDF::new_from_impl(Checked { inner, rule })
}

fn too_large(name: &str, what: &str, size: f64, limit: f64) -> DataFusionError {
    DataFusionError::External(Box::new(ContangoError::new(
        ErrorKind::ExceededFunctionMemoryLimit,
        format!(
            "{name}: the result would hold {size:.0} {what}, more than the {limit:.0} one call may build"
        ),
    )))
}

/// The values of `value` over `rows` rows as f64 (NULL as 0), or `None` for
/// a type that does not convert.
fn numbers(value: &ColumnarValue, rows: usize) -> Option<Vec<f64>> {
    let array = value.to_array(rows).ok()?;
    let array = cast(&array, &DataType::Float64).ok()?;
    Some(
        array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect(),
    )
}

/// Byte length of each string of `value` (its average size when the type
/// has no lengths).
fn byte_lengths(value: &ColumnarValue, rows: usize) -> Vec<f64> {
    let array = match value.to_array(rows) {
        Ok(a) => a,
        Err(_) => return vec![0.0; rows],
    };
    match length(&array)
        .ok()
        .and_then(|l| cast(&l, &DataType::Float64).ok())
    {
        Some(l) => l
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect(),
        None => vec![average_size(&array); rows],
    }
}

fn average_size(array: &ArrayRef) -> f64 {
    array.get_array_memory_size() as f64 / array.len().max(1) as f64
}

/// Memory of one value of `value` (per row for a column).
fn value_sizes(value: &ColumnarValue, rows: usize) -> Vec<f64> {
    match value {
        ColumnarValue::Scalar(s) => vec![s.size() as f64; rows],
        ColumnarValue::Array(a) => match a.data_type() {
            DataType::List(_) => {
                let list = a.as_list::<i32>();
                let per = average_size(list.values()) / list.values().len().max(1) as f64;
                (0..list.len())
                    .map(|i| list.value_length(i).max(0) as f64 * per + 8.0)
                    .collect()
            }
            _ => vec![average_size(a); rows],
        },
    }
}

/// A position on one axis (integers as is, dates and timestamps in
/// nanoseconds), so a series' length is `(stop - start) / step + 1`.
fn positions(value: &ColumnarValue, rows: usize) -> Option<Vec<f64>> {
    let scale = match value.data_type() {
        DataType::Date32 => 86_400e9,
        DataType::Date64 => 1e6,
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => 1e9,
            TimeUnit::Millisecond => 1e6,
            TimeUnit::Microsecond => 1e3,
            TimeUnit::Nanosecond => 1.0,
        },
        t if t.is_integer() => 1.0,
        _ => return None,
    };
    let as_int = match value.data_type() {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
            let array = value.to_array(rows).ok()?;
            let array = cast(&array, &DataType::Int64).ok()?;
            ColumnarValue::Array(array)
        }
        _ => value.clone(),
    };
    Some(
        numbers(&as_int, rows)?
            .into_iter()
            .map(|v| v * scale)
            .collect(),
    )
}

/// A series step in the unit of [`positions`].
fn steps(value: &ColumnarValue, rows: usize) -> Option<Vec<f64>> {
    const DAY: f64 = 86_400e9;
    let interval = |s: &ScalarValue| -> Option<f64> {
        Some(match s {
            ScalarValue::IntervalYearMonth(Some(m)) => *m as f64 * 30.0 * DAY,
            ScalarValue::IntervalDayTime(Some(v)) => {
                v.days as f64 * DAY + v.milliseconds as f64 * 1e6
            }
            ScalarValue::IntervalMonthDayNano(Some(v)) => {
                v.months as f64 * 30.0 * DAY + v.days as f64 * DAY + v.nanoseconds as f64
            }
            _ => return None,
        })
    };
    match value.data_type() {
        DataType::Interval(
            IntervalUnit::YearMonth | IntervalUnit::DayTime | IntervalUnit::MonthDayNano,
        ) => {
            let array = value.to_array(rows).ok()?;
            (0..rows)
                .map(|i| {
                    ScalarValue::try_from_array(&array, i)
                        .ok()
                        .and_then(|s| interval(&s))
                })
                .collect()
        }
        t if t.is_integer() => numbers(value, rows),
        _ => None,
    }
}

impl Checked {
    /// Refuses the call when its result would be too large.
    fn check(&self, args: &[ColumnarValue], rows: usize) -> DFResult<()> {
        let name = self.inner.name();
        let rows = rows.max(1);
        let count = |i: usize| args.get(i).and_then(|v| numbers(v, rows));
        match self.rule {
            Rule::RepeatString | Rule::Pad => {
                let Some(counts) = count(1) else {
                    return Ok(());
                };
                let unit = match self.rule {
                    Rule::RepeatString => byte_lengths(&args[0], rows),
                    _ => vec![4.0; rows],
                };
                let bytes: f64 = counts.iter().zip(&unit).map(|(n, b)| n.max(0.0) * b).sum();
                if bytes > MAX_RESULT_BYTES {
                    return Err(too_large(name, "bytes", bytes, MAX_RESULT_BYTES));
                }
            }
            Rule::RepeatElement | Rule::Resize => {
                let Some(counts) = count(1) else {
                    return Ok(());
                };
                let elements: f64 = counts.iter().map(|n| n.max(0.0)).sum();
                if elements > MAX_RESULT_ELEMENTS {
                    return Err(too_large(name, "elements", elements, MAX_RESULT_ELEMENTS));
                }
                if self.rule == Rule::RepeatElement {
                    let sizes = value_sizes(&args[0], rows);
                    let bytes: f64 = counts.iter().zip(&sizes).map(|(n, b)| n.max(0.0) * b).sum();
                    if bytes > MAX_RESULT_BYTES {
                        return Err(too_large(name, "bytes", bytes, MAX_RESULT_BYTES));
                    }
                }
            }
            Rule::Series => {
                let (start, stop) = match args {
                    [stop] => (None, positions(stop, rows)),
                    [start, stop, ..] => (positions(start, rows), positions(stop, rows)),
                    [] => return Ok(()),
                };
                let Some(stop) = stop else {
                    return Ok(());
                };
                let start = start.unwrap_or_else(|| vec![0.0; rows]);
                let step = match args.get(2) {
                    Some(s) => match steps(s, rows) {
                        Some(s) => s,
                        None => return Ok(()),
                    },
                    None => vec![1.0; rows],
                };
                let elements: f64 = (0..rows)
                    .map(|i| {
                        let span = stop[i] - start[i];
                        if step[i] == 0.0 || span * step[i] < 0.0 {
                            0.0
                        } else {
                            (span / step[i]).floor() + 1.0
                        }
                    })
                    .sum();
                if elements > MAX_RESULT_ELEMENTS {
                    return Err(too_large(name, "elements", elements, MAX_RESULT_ELEMENTS));
                }
            }
            Rule::Pattern => {
                let Some(patterns) = args.get(1) else {
                    return Ok(());
                };
                match patterns {
                    ColumnarValue::Scalar(s) => {
                        if let Some(Some(p)) = s.try_as_str() {
                            crate::pattern_cost::check(name, p)?;
                        }
                    }
                    ColumnarValue::Array(a) => {
                        let Ok(a) = cast(a, &DataType::Utf8) else {
                            return Ok(());
                        };
                        let mut last: Option<&str> = None;
                        for p in a.as_string::<i32>().iter().flatten() {
                            if last != Some(p) {
                                crate::pattern_cost::check(name, p)?;
                                last = Some(p);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Text a pattern function matches per call of the kernel: between slices,
/// a killed query stops ([`contango_common::stop`]).
const SLICE_BYTES: usize = 1 << 20;

impl Checked {
    /// Runs the kernel over slices of about [`SLICE_BYTES`] of input text,
    /// checking the query's stop signal between them, so a cancel or a time
    /// limit ends a long regular-expression evaluation after the slice at
    /// hand rather than after the whole batch.
    fn sliced(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let rows = args.number_rows;
        let text_bytes: usize = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Array(array) => array.get_buffer_memory_size(),
                ColumnarValue::Scalar(_) => 0,
            })
            .sum();
        if rows <= 1 || text_bytes <= SLICE_BYTES {
            return self.inner.invoke_with_args(args);
        }
        let per_slice = (rows * SLICE_BYTES / text_bytes).clamp(1, rows);
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(rows.div_ceil(per_slice));
        let mut offset = 0;
        while offset < rows {
            if contango_common::stop::QueryStop::stopped(&args.config_options) {
                return Err(DataFusionError::External(Box::new(ContangoError::new(
                    ErrorKind::Invalid,
                    format!("{} stopped: the query was killed", self.inner.name()),
                ))));
            }
            let len = per_slice.min(rows - offset);
            let slice = ScalarFunctionArgs {
                args: args
                    .args
                    .iter()
                    .map(|a| match a {
                        ColumnarValue::Array(array) => {
                            ColumnarValue::Array(array.slice(offset, len))
                        }
                        scalar => scalar.clone(),
                    })
                    .collect(),
                arg_fields: args.arg_fields.clone(),
                number_rows: len,
                return_field: args.return_field.clone(),
                config_options: args.config_options.clone(),
            };
            parts.push(self.inner.invoke_with_args(slice)?.into_array(len)?);
            offset += len;
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        Ok(ColumnarValue::Array(datafusion::arrow::compute::concat(
            &parts,
        )?))
    }
}

impl ScalarUDFImpl for Checked {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> DFResult<String> {
        self.inner.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DFResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        self.check(&args.args, args.number_rows)?;
        if self.rule == Rule::Pattern {
            return self.sliced(args);
        }
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DFResult<ExprSimplifyResult> {
        if self.rule == Rule::Pattern {
            // `regexp_like` simplifies to the `~` operator, which this
            // wrapper no longer sees: a literal pattern is checked here, and
            // any other stays a call (checked when it runs).
            match args.get(1) {
                Some(Expr::Literal(value, _)) => {
                    if let Some(Some(p)) = value.try_as_str() {
                        crate::pattern_cost::check(self.inner.name(), p)?;
                    }
                }
                _ => return Ok(ExprSimplifyResult::Original(args)),
            }
        }
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    async fn one(sql: &str) -> String {
        one_row(sql, "UTC").await.0.remove(0)
    }

    async fn error(sql: &str) -> String {
        let ctx = context(datafusion::prelude::SessionConfig::new());
        let outcome = match ctx.sql(sql).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let e = outcome.expect_err(sql);
        let e = contango_common::error::ContangoError::from_datafusion(&e);
        assert_eq!(
            e.kind().trino_error_name(),
            "EXCEEDED_FUNCTION_MEMORY_LIMIT",
            "{sql}: {e}"
        );
        e.message().to_string()
    }

    /// 3,000 rows of `ab` × 600 and their number: 3.6 MB of text, several slices.
    const LONG_TEXT: &str = "SELECT sum(regexp_count(s, 'ab')) AS n, \
        sum(CASE WHEN regexp_count(s, 'b[0-9]+$') = 1 THEN 1 ELSE 0 END) AS ends \
        FROM (SELECT repeat('ab', 600) || CAST(value AS VARCHAR) AS s FROM generate_series(1, 3000))";

    #[tokio::test]
    async fn pattern_functions_run_in_slices_with_the_same_result() {
        // 600 matches per row, and every row ends in its number.
        assert_eq!(
            one_row(LONG_TEXT, "UTC").await.0,
            vec!["1800000".to_string(), "3000".to_string()]
        );
    }

    #[tokio::test]
    async fn a_killed_query_stops_between_slices() {
        let stop = contango_common::stop::QueryStop::default();
        let config = datafusion::prelude::SessionConfig::new().with_option_extension(stop.clone());
        let ctx = context(config);
        stop.stop();
        let e = ctx
            .sql(LONG_TEXT)
            .await
            .unwrap()
            .collect()
            .await
            .expect_err("stopped");
        assert!(e.to_string().contains("the query was killed"), "{e}");
    }

    #[tokio::test]
    async fn results_beyond_the_limit_are_refused_before_allocating() {
        for sql in [
            "SELECT repeat('x', 2147483647)",
            "SELECT lpad('x', 2147483647, 'y')",
            "SELECT rpad('x', 2147483647, 'y')",
            "SELECT sequence(1, 1000000000)",
            "SELECT sequence(-1000000000, 1, 1)",
            "SELECT generate_series(1, 1000000000000)",
            "SELECT range(1000000000)",
            "SELECT array_repeat('x', 1000000000)",
            "SELECT array_resize(ARRAY[1], 2000000000)",
            "SELECT flatten(array_repeat(sequence(1, 100000), 100000))",
            "SELECT sequence(TIMESTAMP '2000-01-01 00:00:00', TIMESTAMP '2030-01-01 00:00:00', INTERVAL '1' SECOND)",
        ] {
            let message = error(sql).await;
            assert!(message.contains("more than"), "{sql}: {message}");
        }
    }

    #[tokio::test]
    async fn results_within_the_limit_are_unchanged() {
        assert_eq!(one("SELECT repeat('ab', 3)").await, "ababab",);
        assert_eq!(one("SELECT lpad('7', 3, '0')").await, "007");
        assert_eq!(
            one("SELECT cardinality(sequence(1, 100000))").await,
            "100000"
        );
        assert_eq!(one("SELECT sequence(5, 1, -2)").await, "[5, 3, 1]");
        assert_eq!(one("SELECT array_repeat(1, 3)").await, "[1, 1, 1]");
        assert_eq!(
            one("SELECT array_resize(ARRAY[1], 3, 0)").await,
            "[1, 0, 0]"
        );
        assert_eq!(
            one("SELECT cardinality(sequence(DATE '2020-01-01', DATE '2020-12-31', INTERVAL '1' DAY))")
                .await,
            "366"
        );
    }

    fn capturing_alternatives(n: usize) -> String {
        let branches: Vec<String> = (0..n)
            .map(|i| format!("(a|b){{{}}}x{i}", i % 40 + 1))
            .collect();
        format!("({})", branches.join("|"))
    }

    #[tokio::test]
    async fn patterns_whose_matcher_is_too_large_are_refused() {
        // 2,000 capturing branches made the regex crate's PikeVM take 8 GB
        // and 24 s on a 20-character string.
        let p = capturing_alternatives(2000);
        for sql in [
            format!("SELECT regexp_replace(repeat('ab', 1000), '{p}', 'z')"),
            format!("SELECT regexp_like(repeat('ab', 1000), '{p}')"),
            format!("SELECT regexp_extract(repeat('ab', 1000), '{p}')"),
            format!("SELECT regexp_count(repeat('ab', 1000), '{p}')"),
            format!("SELECT regexp_extract_all(repeat('ab', 1000), '{p}')"),
            format!("SELECT regexp_split('ab', '{p}')"),
            format!("SELECT regexp_position('ab', '{p}')"),
            // The pattern from a column: checked when the call runs.
            format!("SELECT regexp_like(s, p) FROM (VALUES ('ab', '{p}')) AS t(s, p)"),
        ] {
            let message = error(&sql).await;
            assert!(message.contains("regular expression may need"), "{message}");
        }
    }

    #[tokio::test]
    async fn everyday_patterns_still_match() {
        // Trino docs: regexp_like, regexp_count.
        assert_eq!(
            one("SELECT regexp_like('1a 2b 14m', '\\d+b')").await,
            "true"
        );
        assert_eq!(
            one("SELECT regexp_count('1a 2b 14m', '\\s*[a-z]+\\s*')").await,
            "3"
        );
        let p = capturing_alternatives(50);
        assert_eq!(
            one(&format!(
                "SELECT length(regexp_replace(repeat('ab', 1000), '{p}', 'z'))"
            ))
            .await,
            "2000"
        );
        assert_eq!(
            one("SELECT regexp_like(s, p) FROM (VALUES ('WTI', '^W')) AS t(s, p)").await,
            "true"
        );
    }
}
