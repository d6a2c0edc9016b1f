//! Trino's date and time functions: `from_unixtime`, `to_unixtime`,
//! `date_add`, `date_diff`, `date_trunc` (date in, date out), field extraction
//! (`year` ... `second`, and `date_part`, which `EXTRACT` becomes: bigint),
//! MySQL (`date_format`/`date_parse`) and Joda (`format_datetime`/
//! `parse_datetime`) patterns (translated by [`super::format`]), ISO 8601,
//! time-zone changes, `localtimestamp`, `current_timezone()` and
//! `interval_times` (an interval times a number). Wall-clock arithmetic
//! happens in the value's zone (or the session zone for zone-less values), as
//! Trino does.
//!
//! The session zone is read where the function runs: `date_add`/`date_diff`
//! from the invocation's config, `localtimestamp`/`current_timezone()` from
//! the simplifier's. `from_unixtime`, `parse_datetime` and
//! `from_iso8601_timestamp` return a `timestamp with time zone` in the
//! session zone, a type DataFusion asks for without the config, so they are
//! made per zone ([`Scalar::per_zone`]).

use std::str::FromStr;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, TimeZone,
    Timelike, Utc,
};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, ScalarUDF, Signature, TypeSignature, Volatility, lit};

use super::format::{joda_to_chrono, mysql_to_chrono};
use super::{Scalar, any, cast_to, constant_str, invalid_argument, session_zone};

const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Every date/time function.
pub fn functions() -> Vec<ScalarUDF> {
    let mut out = vec![
        Scalar::per_zone("from_unixtime", from_unixtime),
        to_unixtime(),
        date_add(),
        date_diff(),
        date_trunc(),
        date_format(),
        date_parse(),
        format_datetime(),
        Scalar::per_zone("parse_datetime", parse_datetime),
        Scalar::per_zone("from_iso8601_timestamp", from_iso8601_timestamp),
        from_iso8601_date(),
        to_iso8601(),
        at_timezone(),
        with_timezone(),
        localtimestamp(),
        current_timezone(),
        last_day_of_month(),
        date_part(),
        interval_times(),
    ];
    for (name, field) in FIELDS {
        out.push(extract(name, *field));
    }
    out
}

fn parse_zone(zone: &str) -> DFResult<Tz> {
    Tz::from_str(zone).map_err(|_| invalid_argument(format!("Time zone not supported: {zone}")))
}

/// Instants of a timestamp or date array (dates at midnight UTC).
fn instants(array: &ArrayRef) -> DFResult<Vec<Option<DateTime<Utc>>>> {
    let micros = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
        DataType::Timestamp(_, _) => {
            cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
        }
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
        }
        other => {
            return Err(invalid_argument(format!(
                "expected a date or timestamp, got {other}"
            )));
        }
    };
    let micros = micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
    Ok(micros
        .iter()
        .map(|v| v.and_then(DateTime::from_timestamp_micros))
        .collect())
}

/// The zone a value's wall clock is read in: its own, else the session's.
fn zone_of(t: &DataType, session: &str) -> DFResult<Tz> {
    match t {
        DataType::Timestamp(_, Some(z)) => parse_zone(z),
        DataType::Timestamp(_, None) | DataType::Date32 => parse_zone("UTC"),
        _ => parse_zone(session),
    }
}

/// Wall-clock times of a date/timestamp array in its zone.
fn wall_clock(array: &ArrayRef) -> DFResult<Vec<Option<NaiveDateTime>>> {
    let tz = zone_of(array.data_type(), "UTC")?;
    Ok(instants(array)?
        .into_iter()
        .map(|v| v.map(|i| i.with_timezone(&tz).naive_local()))
        .collect())
}

/// The instant of a wall-clock time in `tz` (the earlier one when ambiguous).
fn from_wall(tz: &Tz, t: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => Some(d.with_timezone(&Utc)),
        LocalResult::None => tz
            .from_local_datetime(&(t + Duration::hours(1)))
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
    }
}

/// Rebuilds an array of `t` (date or timestamp) from instants.
fn build(t: &DataType, values: Vec<Option<DateTime<Utc>>>) -> DFResult<ArrayRef> {
    let micros: Vec<Option<i64>> = values
        .iter()
        .map(|v| v.map(|d| d.timestamp_micros()))
        .collect();
    let micros: ArrayRef = Arc::new(datafusion::arrow::array::TimestampMicrosecondArray::from(
        micros,
    ));
    match t {
        DataType::Date32 => Ok(cast(&micros, &DataType::Date32)?),
        DataType::Timestamp(unit, tz) => {
            let plain = cast(&micros, &DataType::Timestamp(*unit, None))?;
            // Re-tag the zone without moving the instants (a cast would read
            // zone-less values as local times).
            let data = plain
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, tz.clone()))
                .build()?;
            Ok(datafusion::arrow::array::make_array(data))
        }
        other => Err(invalid_argument(format!("unsupported type {other}"))),
    }
}

fn strings(array: &ArrayRef) -> DFResult<Vec<Option<String>>> {
    let s = cast(array, &DataType::Utf8)?;
    Ok(s.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn millis_tz(zone: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(zone.into()))
}

fn from_unixtime(session: Arc<str>) -> ScalarUDF {
    let signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Float64]),
            TypeSignature::Exact(vec![DataType::Float64, DataType::Utf8]),
        ],
        Volatility::Immutable,
    );
    let ret_zone = session.clone();
    Scalar::eval(
        "from_unixtime",
        signature,
        move |_, scalars| {
            let zone = scalars.get(1).and_then(|s| constant_str(*s));
            Ok(millis_tz(zone.as_deref().unwrap_or(&ret_zone)))
        },
        move |args, _| {
            let seconds = cast(&args[0], &DataType::Float64)?;
            let seconds = seconds.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let zone = match args.get(1) {
                Some(z) => strings(z)?.into_iter().flatten().next().unwrap_or_default(),
                None => session.to_string(),
            };
            parse_zone(&zone)?;
            let out: TimestampMillisecondArray = seconds
                .iter()
                .map(|s| {
                    s.filter(|s| s.is_finite())
                        .map(|s| (s * 1000.0).round() as i64)
                })
                .collect();
            Ok(Arc::new(out.with_timezone(zone)))
        },
    )
}

fn to_unixtime() -> ScalarUDF {
    Scalar::eval(
        "to_unixtime",
        any(1),
        |_, _| Ok(DataType::Float64),
        |args, _| {
            let out: Float64Array = instants(&args[0])?
                .into_iter()
                .map(|v| v.map(|d| d.timestamp_micros() as f64 / 1e6))
                .collect();
            Ok(Arc::new(out))
        },
    )
}

/// Trino's units, in order of size.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

fn unit(s: &str) -> DFResult<Unit> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Millisecond,
        "second" => Unit::Second,
        "minute" => Unit::Minute,
        "hour" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        other => return Err(invalid_argument(format!("'{other}' is not a valid unit"))),
    })
}

fn add(t: NaiveDateTime, u: Unit, n: i64) -> Option<NaiveDateTime> {
    let months = |m: i64| {
        if m >= 0 {
            t.checked_add_months(Months::new(m as u32))
        } else {
            t.checked_sub_months(Months::new((-m) as u32))
        }
    };
    match u {
        Unit::Millisecond => t.checked_add_signed(Duration::milliseconds(n)),
        Unit::Second => t.checked_add_signed(Duration::seconds(n)),
        Unit::Minute => t.checked_add_signed(Duration::minutes(n)),
        Unit::Hour => t.checked_add_signed(Duration::hours(n)),
        Unit::Day => t.checked_add_signed(Duration::days(n)),
        Unit::Week => t.checked_add_signed(Duration::weeks(n)),
        Unit::Month => months(n),
        Unit::Quarter => months(n * 3),
        Unit::Year => months(n * 12),
    }
}

fn date_add() -> ScalarUDF {
    Scalar::eval_in_zone(
        "date_add",
        any(3),
        |types, _| Ok(types[2].clone()),
        |args, rows, session| {
            let units = strings(&args[0])?;
            let n = cast(&args[1], &DataType::Int64)?;
            let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let t = args[2].data_type().clone();
            let tz = zone_of(&t, session)?;
            let times = instants(&args[2])?;
            let mut out = Vec::with_capacity(rows);
            for i in 0..times.len() {
                let (Some(u), Some(d)) = (&units[i], times[i]) else {
                    out.push(None);
                    continue;
                };
                if n.is_null(i) {
                    out.push(None);
                    continue;
                }
                let u = unit(u)?;
                let sub_day = matches!(
                    u,
                    Unit::Millisecond | Unit::Second | Unit::Minute | Unit::Hour
                );
                let v = if sub_day {
                    // Elapsed time: the same in every zone.
                    add(d.naive_utc(), u, n.value(i)).map(|x| x.and_utc())
                } else {
                    let local = d.with_timezone(&tz).naive_local();
                    add(local, u, n.value(i)).and_then(|x| from_wall(&tz, x))
                };
                out.push(v);
            }
            build(&t, out)
        },
    )
}

/// Whole months from `a` to `b` (Joda's monthsBetween: truncated toward zero).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let mut m = (b.year() as i64 - a.year() as i64) * 12 + (b.month() as i64 - a.month() as i64);
    if m > 0 && add(a, Unit::Month, m).is_some_and(|x| x > b) {
        m -= 1;
    } else if m < 0 && add(a, Unit::Month, m).is_some_and(|x| x < b) {
        m += 1;
    }
    m
}

fn date_diff() -> ScalarUDF {
    Scalar::eval_in_zone(
        "date_diff",
        any(3),
        |_, _| Ok(DataType::Int64),
        |args, _, session| {
            let units = strings(&args[0])?;
            let tz = zone_of(args[1].data_type(), session)?;
            let a = instants(&args[1])?;
            let b = instants(&args[2])?;
            let mut out = Vec::with_capacity(a.len());
            for i in 0..a.len() {
                let (Some(u), Some(x), Some(y)) = (&units[i], a[i], b[i]) else {
                    out.push(None);
                    continue;
                };
                let millis = (y - x).num_milliseconds();
                let (lx, ly) = (
                    x.with_timezone(&tz).naive_local(),
                    y.with_timezone(&tz).naive_local(),
                );
                out.push(Some(match unit(u)? {
                    Unit::Millisecond => millis,
                    Unit::Second => millis / 1000,
                    Unit::Minute => millis / 60_000,
                    Unit::Hour => millis / 3_600_000,
                    Unit::Day => (ly - lx).num_days(),
                    Unit::Week => (ly - lx).num_days() / 7,
                    Unit::Month => months_between(lx, ly),
                    Unit::Quarter => months_between(lx, ly) / 3,
                    Unit::Year => months_between(lx, ly) / 12,
                }));
            }
            Ok(Arc::new(Int64Array::from(out)))
        },
    )
}

/// DataFusion's `date_trunc` return type for a unit of `unit_type` (value
/// `unit` when constant) and a value of type `t`.
fn trunc_type(
    inner: &ScalarUDF,
    unit_type: &DataType,
    unit: Option<&ScalarValue>,
    t: DataType,
) -> DFResult<DataType> {
    let fields = [
        Arc::new(datafusion::arrow::datatypes::Field::new(
            "unit",
            unit_type.clone(),
            true,
        )),
        Arc::new(datafusion::arrow::datatypes::Field::new("x", t, true)),
    ];
    let scalars = [unit, None];
    Ok(inner
        .return_field_from_args(datafusion::logical_expr::ReturnFieldArgs {
            arg_fields: &fields,
            scalar_arguments: &scalars,
        })?
        .data_type()
        .clone())
}

/// `date_trunc` that keeps a DATE a DATE (DataFusion's returns a timestamp).
fn date_trunc() -> ScalarUDF {
    let inner = datafusion::functions::datetime::date_trunc();
    let for_ret = inner.clone();
    Scalar::rewrite(
        "date_trunc",
        any(2),
        move |types, scalars| {
            let inner_ret = |t: DataType| -> DFResult<DataType> {
                trunc_type(&for_ret, &types[0], scalars.first().copied().flatten(), t)
            };
            match &types[1] {
                DataType::Date32 | DataType::Date64 => Ok(DataType::Date32),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                    inner_ret(DataType::Timestamp(TimeUnit::Nanosecond, None))
                }
                t => inner_ret(t.clone()),
            }
        },
        move |mut args, info| {
            let t = info.get_data_type(&args[1])?;
            let call = |args: Vec<Expr>| {
                Expr::ScalarFunction(ScalarFunction::new_udf(inner.clone(), args))
            };
            Ok(match t {
                DataType::Date32 | DataType::Date64 => {
                    let x = args.pop().expect("two arguments");
                    let ts = Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(x),
                        DataType::Timestamp(TimeUnit::Nanosecond, None),
                    ));
                    args.push(ts);
                    Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(call(args)),
                        DataType::Date32,
                    ))
                }
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                    let x = args.pop().expect("two arguments");
                    args.push(Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(x),
                        DataType::Timestamp(TimeUnit::Nanosecond, None),
                    )));
                    call(args)
                }
                // In UTC (or without a zone) second..day truncation is plain
                // arithmetic: date_bin from the epoch, far cheaper than the
                // per-row calendar conversion of date_trunc on zoned values.
                DataType::Timestamp(_, ref tz)
                    if tz
                        .as_deref()
                        .is_none_or(|z| matches!(z, "UTC" | "+00:00" | "Z"))
                        && fixed_unit(&args[0]).is_some() =>
                {
                    let step = fixed_unit(&args[0]).expect("checked");
                    let x = args.pop().expect("two arguments");
                    Expr::ScalarFunction(ScalarFunction::new_udf(
                        datafusion::functions::datetime::date_bin(),
                        vec![
                            Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(step)), None),
                            x,
                        ],
                    ))
                }
                _ => call(args),
            })
        },
    )
}

/// The fixed-length step of a `date_trunc` unit literal (second to day).
fn fixed_unit(unit: &Expr) -> Option<datafusion::arrow::datatypes::IntervalMonthDayNano> {
    use datafusion::arrow::datatypes::IntervalMonthDayNano;
    let Expr::Literal(ScalarValue::Utf8(Some(u)) | ScalarValue::Utf8View(Some(u)), _) = unit else {
        return None;
    };
    let second = 1_000_000_000i64;
    match u.to_ascii_lowercase().as_str() {
        "second" => Some(IntervalMonthDayNano::new(0, 0, second)),
        "minute" => Some(IntervalMonthDayNano::new(0, 0, 60 * second)),
        "hour" => Some(IntervalMonthDayNano::new(0, 0, 3600 * second)),
        "day" => Some(IntervalMonthDayNano::new(0, 1, 0)),
        _ => None,
    }
}

/// Fields extracted as bigint, by Trino name.
#[derive(Debug, Clone, Copy)]
enum Field {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
    YearOfWeek,
}

const FIELDS: &[(&str, Field)] = &[
    ("year", Field::Year),
    ("quarter", Field::Quarter),
    ("month", Field::Month),
    ("week", Field::Week),
    ("week_of_year", Field::Week),
    ("day", Field::Day),
    ("day_of_month", Field::Day),
    ("day_of_week", Field::DayOfWeek),
    ("dow", Field::DayOfWeek),
    ("day_of_year", Field::DayOfYear),
    ("doy", Field::DayOfYear),
    ("hour", Field::Hour),
    ("minute", Field::Minute),
    ("second", Field::Second),
    ("millisecond", Field::Millisecond),
    ("year_of_week", Field::YearOfWeek),
    ("yow", Field::YearOfWeek),
];

fn extract(name: &'static str, field: Field) -> ScalarUDF {
    Scalar::eval(
        name,
        any(1),
        |_, _| Ok(DataType::Int64),
        move |args, _| {
            let out: Int64Array = wall_clock(&args[0])?
                .into_iter()
                .map(|v| {
                    v.map(|t| match field {
                        Field::Year => t.year() as i64,
                        Field::Quarter => (t.month0() / 3 + 1) as i64,
                        Field::Month => t.month() as i64,
                        Field::Week => t.iso_week().week() as i64,
                        Field::Day => t.day() as i64,
                        Field::DayOfWeek => t.weekday().number_from_monday() as i64,
                        Field::DayOfYear => t.ordinal() as i64,
                        Field::Hour => t.hour() as i64,
                        Field::Minute => t.minute() as i64,
                        Field::Second => t.second() as i64,
                        Field::Millisecond => (t.nanosecond() / 1_000_000) as i64,
                        Field::YearOfWeek => t.iso_week().year() as i64,
                    })
                })
                .collect();
            Ok(Arc::new(out))
        },
    )
}

fn format_with(name: &'static str, convert: fn(&str) -> DFResult<String>) -> ScalarUDF {
    Scalar::eval(
        name,
        any(2),
        |_, _| Ok(DataType::Utf8),
        move |args, _| {
            let tz = zone_of(args[0].data_type(), "UTC")?;
            let patterns = strings(&args[1])?;
            let times = instants(&args[0])?;
            let mut out = Vec::with_capacity(times.len());
            let mut cached: Option<(String, String)> = None;
            for (t, p) in times.into_iter().zip(patterns) {
                let (Some(t), Some(p)) = (t, p) else {
                    out.push(None);
                    continue;
                };
                if cached.as_ref().is_none_or(|(raw, _)| *raw != p) {
                    cached = Some((p.clone(), convert(&p)?));
                }
                let format = &cached.as_ref().expect("set above").1;
                out.push(Some(t.with_timezone(&tz).format(format).to_string()));
            }
            Ok(Arc::new(StringArray::from(out)))
        },
    )
}

fn date_format() -> ScalarUDF {
    format_with("date_format", mysql_to_chrono)
}

fn format_datetime() -> ScalarUDF {
    format_with("format_datetime", joda_to_chrono)
}

/// Parses with a chrono format; fields the pattern lacks default as Trino's
/// do (time 00:00:00, day 1). Returns the wall time and the parsed offset.
fn parse_wall(s: &str, format: &str) -> Option<(NaiveDateTime, Option<chrono::FixedOffset>)> {
    use chrono::format::{Parsed, StrftimeItems, parse};
    let mut p = Parsed::new();
    parse(&mut p, s, StrftimeItems::new(format)).ok()?;
    if p.month.is_none() && p.ordinal.is_none() && p.isoweek.is_none() {
        p.set_month(1).ok()?;
    }
    if p.day.is_none() && p.ordinal.is_none() && p.weekday.is_none() {
        p.set_day(1).ok()?;
    }
    if p.hour_div_12.is_none() && p.hour_mod_12.is_none() {
        p.set_hour(0).ok()?;
    } else if p.hour_div_12.is_none() {
        p.set_ampm(false).ok()?;
    }
    if p.minute.is_none() {
        p.set_minute(0).ok()?;
    }
    if p.second.is_none() {
        p.set_second(0).ok()?;
    }
    let offset = p.offset.and_then(chrono::FixedOffset::east_opt);
    let t = p.to_naive_datetime_with_offset(0).ok()?;
    Some((t, offset))
}

fn date_parse() -> ScalarUDF {
    Scalar::eval(
        "date_parse",
        any(2),
        |_, _| Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        |args, _| {
            let values = strings(&args[0])?;
            let patterns = strings(&args[1])?;
            let mut out = Vec::with_capacity(values.len());
            for (v, p) in values.into_iter().zip(patterns) {
                let (Some(v), Some(p)) = (v, p) else {
                    out.push(None);
                    continue;
                };
                let (t, _) = parse_wall(&v, &mysql_to_chrono(&p)?).ok_or_else(|| {
                    invalid_argument(format!("Invalid format: \"{v}\" for pattern \"{p}\""))
                })?;
                out.push(Some(t.and_utc().timestamp_millis()));
            }
            Ok(Arc::new(TimestampMillisecondArray::from(out)))
        },
    )
}

fn parse_datetime(session: Arc<str>) -> ScalarUDF {
    let ret = session.clone();
    Scalar::eval(
        "parse_datetime",
        any(2),
        move |_, _| Ok(millis_tz(&ret)),
        move |args, _| {
            let tz = parse_zone(&session)?;
            let values = strings(&args[0])?;
            let patterns = strings(&args[1])?;
            let mut out = Vec::with_capacity(values.len());
            for (v, p) in values.into_iter().zip(patterns) {
                let (Some(v), Some(p)) = (v, p) else {
                    out.push(None);
                    continue;
                };
                let (t, offset) = parse_wall(&v, &joda_to_chrono(&p)?).ok_or_else(|| {
                    invalid_argument(format!("Invalid format: \"{v}\" for pattern \"{p}\""))
                })?;
                let instant = match offset {
                    Some(o) => (t - Duration::seconds(o.local_minus_utc() as i64)).and_utc(),
                    None => {
                        from_wall(&tz, t).ok_or_else(|| invalid_argument("invalid local time"))?
                    }
                };
                out.push(Some(instant.timestamp_millis()));
            }
            Ok(Arc::new(
                TimestampMillisecondArray::from(out).with_timezone(session.to_string()),
            ))
        },
    )
}

fn from_iso8601_timestamp(session: Arc<str>) -> ScalarUDF {
    let ret = session.clone();
    Scalar::eval(
        "from_iso8601_timestamp",
        any(1),
        move |_, _| Ok(millis_tz(&ret)),
        move |args, _| {
            let tz = parse_zone(&session)?;
            let mut out = Vec::new();
            for v in strings(&args[0])? {
                let Some(v) = v else {
                    out.push(None);
                    continue;
                };
                let instant = if let Ok(d) = DateTime::parse_from_rfc3339(&v) {
                    d.with_timezone(&Utc)
                } else {
                    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]
                        .iter()
                        .find_map(|f| parse_wall(&v, f))
                        .map(|(t, _)| t)
                        .ok_or_else(|| invalid_argument(format!("Invalid format: \"{v}\"")))?;
                    from_wall(&tz, local).ok_or_else(|| invalid_argument("invalid local time"))?
                };
                out.push(Some(instant.timestamp_millis()));
            }
            Ok(Arc::new(
                TimestampMillisecondArray::from(out).with_timezone(session.to_string()),
            ))
        },
    )
}

fn from_iso8601_date() -> ScalarUDF {
    Scalar::eval(
        "from_iso8601_date",
        any(1),
        |_, _| Ok(DataType::Date32),
        |args, _| {
            let mut out = Vec::new();
            for v in strings(&args[0])? {
                out.push(match v {
                    None => None,
                    Some(v) => Some(
                        NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                            .map_err(|_| invalid_argument(format!("Invalid format: \"{v}\"")))?
                            .num_days_from_ce()
                            - EPOCH_DAYS_FROM_CE,
                    ),
                });
            }
            Ok(Arc::new(Date32Array::from(out)))
        },
    )
}

fn to_iso8601() -> ScalarUDF {
    Scalar::eval(
        "to_iso8601",
        any(1),
        |_, _| Ok(DataType::Utf8),
        |args, _| {
            let t = args[0].data_type().clone();
            let times = instants(&args[0])?;
            let out: StringArray = match &t {
                DataType::Date32 | DataType::Date64 => times
                    .iter()
                    .map(|v| v.map(|d| d.format("%Y-%m-%d").to_string()))
                    .collect(),
                DataType::Timestamp(_, None) => times
                    .iter()
                    .map(|v| v.map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()))
                    .collect(),
                DataType::Timestamp(_, Some(z)) => {
                    let tz = parse_zone(z)?;
                    let utc = matches!(z.as_ref(), "UTC" | "+00:00" | "Z" | "Etc/UTC");
                    times
                        .iter()
                        .map(|v| {
                            v.map(|d| {
                                let local = d.with_timezone(&tz);
                                if utc {
                                    local.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                                } else {
                                    local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
                                }
                            })
                        })
                        .collect()
                }
                other => return Err(invalid_argument(format!("to_iso8601 of {other}"))),
            };
            Ok(Arc::new(out))
        },
    )
}

fn zone_argument(scalars: &[Option<&ScalarValue>]) -> DFResult<String> {
    scalars
        .get(1)
        .and_then(|s| constant_str(*s))
        .ok_or_else(|| invalid_argument("the time zone must be a constant string"))
}

/// Return type of `at_timezone` / `with_timezone`: the input's precision in
/// the constant zone argument.
fn zoned_return(types: &[DataType], scalars: &[Option<&ScalarValue>]) -> DFResult<DataType> {
    let zone = zone_argument(scalars)?;
    parse_zone(&zone)?;
    Ok(match &types[0] {
        DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, Some(zone.into())),
        _ => millis_tz(&zone),
    })
}

/// The zone argument's value (constant across the batch).
fn zone_value(array: &ArrayRef) -> DFResult<String> {
    Ok(strings(array)?
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default())
}

fn at_timezone() -> ScalarUDF {
    Scalar::eval("at_timezone", any(2), zoned_return, |args, _| {
        let zone = zone_value(&args[1])?;
        parse_zone(&zone)?;
        let unit = match args[0].data_type() {
            DataType::Timestamp(unit, _) => *unit,
            _ => TimeUnit::Millisecond,
        };
        build(
            &DataType::Timestamp(unit, Some(zone.into())),
            instants(&args[0])?,
        )
    })
}

fn with_timezone() -> ScalarUDF {
    Scalar::eval("with_timezone", any(2), zoned_return, |args, _| {
        let zone = zone_value(&args[1])?;
        let tz = parse_zone(&zone)?;
        let unit = match args[0].data_type() {
            DataType::Timestamp(unit, _) => *unit,
            _ => TimeUnit::Millisecond,
        };
        let values = wall_clock(&args[0])?
            .into_iter()
            .map(|v| v.and_then(|t| from_wall(&tz, t)))
            .collect();
        build(&DataType::Timestamp(unit, Some(zone.into())), values)
    })
}

/// `localtimestamp`: the statement's start as wall-clock time in the session
/// zone (constant within a statement).
fn localtimestamp() -> ScalarUDF {
    Scalar::rewrite(
        "localtimestamp",
        Signature::nullary(Volatility::Stable),
        |_, _| Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        |_, info| {
            let tz = parse_zone(session_zone(info.config_options()))?;
            let now = info
                .query_execution_start_time()
                .ok_or_else(|| DataFusionError::Internal("no statement start time".into()))?;
            let local = now.with_timezone(&tz).naive_local();
            Ok(lit(ScalarValue::TimestampMillisecond(
                Some(local.and_utc().timestamp_millis()),
                None,
            )))
        },
    )
}

/// `last_day_of_month(x)`: the date of the month's last day.
fn last_day_of_month() -> ScalarUDF {
    Scalar::eval(
        "last_day_of_month",
        any(1),
        |_, _| Ok(DataType::Date32),
        |args, _| {
            let out: Date32Array = wall_clock(&args[0])?
                .into_iter()
                .map(|v| {
                    v.and_then(|t| {
                        let first = NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?;
                        let next = first.checked_add_months(Months::new(1))?;
                        Some(next.pred_opt()?.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
                    })
                })
                .collect();
            Ok(Arc::new(out))
        },
    )
}

/// `current_timezone()`: the session zone.
fn current_timezone() -> ScalarUDF {
    Scalar::rewrite(
        "current_timezone",
        Signature::nullary(Volatility::Stable),
        |_, _| Ok(DataType::Utf8),
        |_, info| Ok(lit(session_zone(info.config_options()).to_string())),
    )
}

/// `date_part(field, x)` (what `EXTRACT` becomes) as bigint.
fn date_part() -> ScalarUDF {
    Scalar::rewrite(
        "date_part",
        any(2),
        |_, _| Ok(DataType::Int64),
        |args, _| {
            // Trino's EXTRACT is bigint; DataFusion's date_part is not.
            let inner = datafusion::functions::datetime::date_part();
            Ok(cast_to(
                Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                    inner, args,
                )),
                DataType::Int64,
            ))
        },
    )
}

/// `interval_times('n', 'UNIT', k)`: the interval `n UNIT` times `k` (what the
/// dialect rewrite makes of `INTERVAL 'n' UNIT * k`).
fn interval_times() -> ScalarUDF {
    Scalar::eval(
        "interval_times",
        any(3),
        |_, _| {
            Ok(DataType::Interval(
                datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
            ))
        },
        |args, _| {
            use datafusion::arrow::array::IntervalMonthDayNanoArray;
            use datafusion::arrow::datatypes::IntervalMonthDayNano;
            let counts = cast(&args[0], &DataType::Utf8)?;
            let units = cast(&args[1], &DataType::Utf8)?;
            let k = cast(&args[2], &DataType::Float64)?;
            let (counts, units, k) = (
                counts.as_string::<i32>(),
                units.as_string::<i32>(),
                k.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
            );
            let mut out = Vec::with_capacity(k.len());
            for i in 0..k.len() {
                if counts.is_null(i) || units.is_null(i) || k.is_null(i) {
                    out.push(None);
                    continue;
                }
                let n: f64 = counts.value(i).trim().parse().map_err(|_| {
                    invalid_argument(format!("Invalid interval value '{}'", counts.value(i)))
                })?;
                let total = n * k.value(i);
                let nanos =
                    |per: f64| IntervalMonthDayNano::new(0, 0, (total * per).round() as i64);
                out.push(Some(match units.value(i) {
                    "SECOND" => nanos(1e9),
                    "MINUTE" => nanos(60e9),
                    "HOUR" => nanos(3600e9),
                    "DAY" => IntervalMonthDayNano::new(0, total.round() as i32, 0),
                    "WEEK" => IntervalMonthDayNano::new(0, (total * 7.0).round() as i32, 0),
                    "MONTH" => IntervalMonthDayNano::new(total.round() as i32, 0, 0),
                    "YEAR" => IntervalMonthDayNano::new((total * 12.0).round() as i32, 0, 0),
                    other => {
                        return Err(invalid_argument(format!("Invalid interval unit '{other}'")));
                    }
                }));
            }
            Ok(Arc::new(IntervalMonthDayNanoArray::from(out)))
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{one_row, value};

    #[tokio::test]
    async fn unix_time_round_trips_with_fractions_and_zones() {
        // Trino docs: from_unixtime(unixtime) returns timestamp(3) with time zone.
        let (v, t) = one_row(
            "SELECT from_unixtime(1.5), from_unixtime(0, 'America/New_York')",
            "UTC",
        )
        .await;
        assert_eq!(v, ["1970-01-01T00:00:01.500Z", "1969-12-31T19:00:00-05:00"]);
        assert_eq!(
            t,
            ["timestamp(3) with time zone", "timestamp(3) with time zone"]
        );
        assert_eq!(
            value("SELECT to_unixtime(TIMESTAMP '2020-01-01 00:00:01.25')").await,
            "1577836801.25"
        );
        // Session zone applies to the 1-argument form.
        let (_, t) = one_row("SELECT from_unixtime(0)", "Europe/Paris").await;
        assert_eq!(t, ["timestamp(3) with time zone"]);
        assert_eq!(
            one_row("SELECT CAST(from_unixtime(0) AS VARCHAR)", "Europe/Paris")
                .await
                .0[0],
            "1970-01-01T01:00:00+01:00"
        );
    }

    #[tokio::test]
    async fn date_add_and_diff_follow_trino() {
        // Month-end clamping and leap days (hand-computed).
        assert_eq!(
            value("SELECT date_add('month', 1, DATE '2020-01-31')").await,
            "2020-02-29"
        );
        assert_eq!(
            value("SELECT date_add('day', 1, DATE '2020-02-28')").await,
            "2020-02-29"
        );
        assert_eq!(
            value("SELECT date_add('year', -1, DATE '2020-02-29')").await,
            "2019-02-28"
        );
        assert_eq!(
            value("SELECT date_add('hour', 5, TIMESTAMP '2020-01-01 22:00:00')").await,
            "2020-01-02T03:00:00"
        );
        assert_eq!(
            value("SELECT date_diff('day', DATE '2020-01-01', DATE '2020-03-01')").await,
            "60"
        );
        // Joda's monthsBetween: Jan 31 + 1 month is Feb 29, so one whole month.
        assert_eq!(
            value("SELECT date_diff('month', DATE '2020-01-31', DATE '2020-02-29')").await,
            "1"
        );
        assert_eq!(
            value("SELECT date_diff('month', DATE '2020-01-31', DATE '2020-02-28')").await,
            "0"
        );
        assert_eq!(
            value("SELECT date_diff('month', DATE '2020-01-15', DATE '2020-03-15')").await,
            "2"
        );
        assert_eq!(
            value("SELECT date_diff('year', DATE '2021-03-01', DATE '2020-01-01')").await,
            "-1"
        );
        assert_eq!(
            value("SELECT date_diff('second', TIMESTAMP '2020-01-01 00:00:00', TIMESTAMP '2020-01-01 00:01:30.9')").await,
            "90"
        );
        // A day in New York across the spring DST change is 23 hours, still one day.
        assert_eq!(
            one_row(
                "SELECT CAST(date_add('day', 1, with_timezone(TIMESTAMP '2020-03-07 12:00:00', 'America/New_York')) AS VARCHAR)",
                "UTC"
            )
            .await
            .0[0],
            "2020-03-08T12:00:00-04:00"
        );
    }

    #[tokio::test]
    async fn trunc_and_fields() {
        let (v, t) = one_row("SELECT date_trunc('month', DATE '2020-02-15')", "UTC").await;
        assert_eq!((v[0].as_str(), t[0].as_str()), ("2020-02-01", "date"));
        assert_eq!(
            value("SELECT date_trunc('week', DATE '2020-02-15')").await,
            "2020-02-10"
        );
        let (v, t) = one_row(
            "SELECT year(DATE '2020-05-01'), quarter(DATE '2020-05-01'), day_of_week(DATE '2020-01-05'), \
             day_of_year(DATE '2020-12-31'), hour(TIMESTAMP '2020-01-02 03:04:05'), \
             minute(TIMESTAMP '2020-01-02 03:04:05'), second(TIMESTAMP '2020-01-02 03:04:05'), week(DATE '2021-01-01'), \
             year_of_week(DATE '2021-01-01')",
            "UTC",
        )
        .await;
        assert_eq!(v, ["2020", "2", "7", "366", "3", "4", "5", "53", "2020"]);
        assert!(t.iter().all(|t| t == "bigint"));
        // Second..day in UTC or without a zone go through date_bin: the same
        // values, before the epoch too.
        for (unit, want) in [
            ("day", "1969-12-31T00:00:00"),
            ("hour", "1969-12-31T23:00:00"),
            ("minute", "1969-12-31T23:59:00"),
            ("second", "1969-12-31T23:59:59"),
        ] {
            assert_eq!(
                value(&format!(
                    "SELECT date_trunc('{unit}', TIMESTAMP '1969-12-31 23:59:59.250')"
                ))
                .await,
                want,
                "{unit}"
            );
            let zoned = value(&format!(
                "SELECT date_trunc('{unit}', TIMESTAMP '1969-12-31 23:59:59.250 UTC')"
            ))
            .await;
            assert!(
                zoned.starts_with(want) && !zoned.contains(".25"),
                "{unit} UTC: {zoned}"
            );
        }
        let ny =
            value("SELECT date_trunc('day', TIMESTAMP '2024-03-10 12:30:00 America/New_York')")
                .await;
        assert!(ny.starts_with("2024-03-10T00:00:00"), "{ny}");
    }

    #[tokio::test]
    async fn patterns_and_iso8601() {
        // Trino docs examples.
        assert_eq!(
            value("SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')").await,
            "10-20-2022 05"
        );
        assert_eq!(
            value("SELECT date_parse('2022/10/20/05', '%Y/%m/%d/%H')").await,
            "2022-10-20T05:00:00"
        );
        assert_eq!(
            value(
                "SELECT format_datetime(TIMESTAMP '2020-01-02 03:04:05', 'yyyy-MM-dd HH:mm:ss EEE')"
            )
            .await,
            "2020-01-02 03:04:05 Thu"
        );
        assert_eq!(
            value("SELECT CAST(parse_datetime('2020-01-02 03:04', 'yyyy-MM-dd HH:mm') AS VARCHAR)")
                .await,
            "2020-01-02T03:04:00Z"
        );
        assert_eq!(
            value("SELECT CAST(from_iso8601_timestamp('2020-05-11T11:15:05+02:00') AS VARCHAR)")
                .await,
            "2020-05-11T09:15:05Z"
        );
        assert_eq!(
            value("SELECT from_iso8601_date('2020-05-11')").await,
            "2020-05-11"
        );
        assert_eq!(
            value("SELECT to_iso8601(DATE '2020-05-11')").await,
            "2020-05-11"
        );
        assert_eq!(
            value("SELECT to_iso8601(from_unixtime(0))").await,
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            value("SELECT CAST(at_timezone(from_unixtime(0), 'Asia/Tokyo') AS VARCHAR)").await,
            "1970-01-01T09:00:00+09:00"
        );
        let (v, t) = one_row("SELECT localtimestamp, current_timezone()", "Asia/Tokyo").await;
        assert_eq!(t[0], "timestamp(3)");
        assert_eq!(v[1], "Asia/Tokyo");
    }
}
