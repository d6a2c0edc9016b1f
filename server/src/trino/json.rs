//! Arrow values in the JSON encoding of Trino's client protocol (`data` rows).
//!
//! Encodings follow Trino: decimals as strings; `timestamp(p)` as
//! `YYYY-MM-DD HH:MM:SS.fff` with exactly `p` fraction digits, plus ` <zone>` for
//! `with time zone`; dates `YYYY-MM-DD`; `time(p)` likewise; varbinary as Base64;
//! rows as JSON arrays; maps as objects; NaN and ±Infinity as strings. Rows are
//! written straight into one `String` per batch: no per-value allocation on the
//! hot path.

use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Float16Type, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, IntervalUnit, TimeUnit, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};

use contango_common::error::{ContangoError, Result};
use contango_common::types::precision;

/// Appends every row of `batch` to `out` as `[v, ...]`, comma-separated, and
/// returns the number of rows written. `first` says whether `out` holds no row yet.
pub fn write_rows(batch: &RecordBatch, out: &mut String, first: bool) -> Result<usize> {
    let columns = batch
        .columns()
        .iter()
        .map(plain)
        .collect::<Result<Vec<_>>>()?;
    for row in 0..batch.num_rows() {
        if row > 0 || !first {
            out.push(',');
        }
        out.push('[');
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_value(out, c.as_ref(), row)?;
        }
        out.push(']');
    }
    Ok(batch.num_rows())
}

/// Dictionary, run-end and view arrays become their plain equivalent (once per batch).
fn plain(a: &ArrayRef) -> Result<ArrayRef> {
    let target = match a.data_type() {
        DataType::Dictionary(_, v) => Some(v.as_ref().clone()),
        DataType::RunEndEncoded(_, v) => Some(v.data_type().clone()),
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    match target {
        Some(t) => Ok(cast(a, &t)?),
        None => Ok(a.clone()),
    }
}

/// Appends one value in Trino's JSON encoding.
pub fn write_value(out: &mut String, a: &dyn Array, row: usize) -> Result<()> {
    if a.is_null(row) {
        out.push_str("null");
        return Ok(());
    }
    macro_rules! num {
        ($t:ty) => {{
            let _ = write!(out, "{}", a.as_primitive::<$t>().value(row));
        }};
    }
    match a.data_type() {
        DataType::Null => out.push_str("null"),
        DataType::Boolean => out.push_str(if a.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => {
            let _ = write!(out, "\"{}\"", a.as_primitive::<UInt64Type>().value(row));
        }
        DataType::Float16 => float(out, a.as_primitive::<Float16Type>().value(row).to_f64()),
        DataType::Float32 => float(out, a.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => float(out, a.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, _) => {
            let s = a.as_primitive::<Decimal128Type>().value_as_string(row);
            let _ = write!(out, "\"{s}\"");
        }
        DataType::Decimal256(_, _) => {
            let s = a.as_primitive::<Decimal256Type>().value_as_string(row);
            let _ = write!(out, "\"{s}\"");
        }
        DataType::Decimal32(_, _) | DataType::Decimal64(_, _) => {
            let wide = cast(
                &a.slice(row, 1),
                &DataType::Decimal128(38, decimal_scale(a.data_type())),
            )?;
            write_value(out, wide.as_ref(), 0)?;
        }
        DataType::Utf8 => json_string(out, a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => json_string(out, a.as_string::<i64>().value(row)),
        DataType::Binary => base64(out, a.as_binary::<i32>().value(row)),
        DataType::LargeBinary => base64(out, a.as_binary::<i64>().value(row)),
        DataType::FixedSizeBinary(_) => base64(out, a.as_fixed_size_binary().value(row)),
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(row) as i64;
            date(out, days);
        }
        DataType::Date64 => {
            let ms = a.as_primitive::<Date64Type>().value(row);
            date(out, ms.div_euclid(86_400_000));
        }
        DataType::Time32(u) | DataType::Time64(u) => {
            let ns = time_nanos(a, row, u)?;
            out.push('"');
            hms(
                out,
                ns / 1_000_000_000,
                (ns % 1_000_000_000) as u32,
                precision(u),
            );
            out.push('"');
        }
        DataType::Timestamp(u, tz) => timestamp(out, a, row, u, tz.as_deref())?,
        DataType::Interval(IntervalUnit::YearMonth) => {
            let months = a
                .as_primitive::<datafusion::arrow::datatypes::IntervalYearMonthType>()
                .value(row);
            let sign = if months < 0 { "-" } else { "" };
            let m = months.unsigned_abs();
            let _ = write!(out, "\"{sign}{}-{}\"", m / 12, m % 12);
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = a
                .as_primitive::<datafusion::arrow::datatypes::IntervalDayTimeType>()
                .value(row);
            day_second(out, v.days as i64 * 86_400_000 + v.milliseconds as i64);
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = a
                .as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>()
                .value(row);
            day_second(
                out,
                (v.months as i64 * 30 + v.days as i64) * 86_400_000 + v.nanoseconds / 1_000_000,
            );
        }
        DataType::Duration(u) => {
            let v = cast(&a.slice(row, 1), &DataType::Int64)?;
            let raw = v.as_primitive::<Int64Type>().value(0);
            let ms = match u {
                TimeUnit::Second => raw * 1000,
                TimeUnit::Millisecond => raw,
                TimeUnit::Microsecond => raw / 1000,
                TimeUnit::Nanosecond => raw / 1_000_000,
            };
            day_second(out, ms);
        }
        DataType::List(_) => list(out, a.as_list::<i32>().value(row))?,
        DataType::LargeList(_) => list(out, a.as_list::<i64>().value(row))?,
        DataType::FixedSizeList(_, _) => list(out, a.as_fixed_size_list().value(row))?,
        DataType::Struct(_) => {
            let s = a.as_struct();
            out.push('[');
            for (i, c) in s.columns().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, plain(c)?.as_ref(), row)?;
            }
            out.push(']');
        }
        DataType::Map(_, _) => {
            let entries = a.as_map().value(row);
            let keys = plain(entries.column(0))?;
            let values = plain(entries.column(1))?;
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push(',');
                }
                let mut key = String::new();
                write_value(&mut key, keys.as_ref(), i)?;
                match key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                    Some(_) => out.push_str(&key),
                    None => json_string(out, &key),
                }
                out.push(':');
                write_value(out, values.as_ref(), i)?;
            }
            out.push('}');
        }
        other => {
            return Err(ContangoError::invalid(format!(
                "type {other} cannot be sent to Trino clients"
            )));
        }
    }
    Ok(())
}

fn decimal_scale(t: &DataType) -> i8 {
    match t {
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) => *s,
        _ => 0,
    }
}

fn list(out: &mut String, values: ArrayRef) -> Result<()> {
    let values = plain(&values)?;
    out.push('[');
    for i in 0..values.len() {
        if i > 0 {
            out.push(',');
        }
        write_value(out, values.as_ref(), i)?;
    }
    out.push(']');
    Ok(())
}

fn float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn base64(out: &mut String, bytes: &[u8]) {
    out.push('"');
    STANDARD.encode_string(bytes, out);
    out.push('"');
}

/// A JSON string literal with the escapes RFC 8259 requires.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escape);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `days` since 1970-01-01 as Trino writes a date (`java.time.LocalDate`):
/// `yyyy-mm-dd`, years past 9999 with a `+`, before year 0 with a `-`. Exact
/// for every `i32` day count (civil-from-days in integers, no overflow).
fn date(out: &mut String, days: i64) {
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        let _ = write!(out, "\"+{year}-{month:02}-{day:02}\"");
    } else if year < 0 {
        let _ = write!(out, "\"-{:04}-{month:02}-{day:02}\"", -year);
    } else {
        let _ = write!(out, "\"{year:04}-{month:02}-{day:02}\"");
    }
}

/// Proleptic Gregorian (year, month, day) of `days` since 1970-01-01
/// (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn time_nanos(a: &dyn Array, row: usize, u: &TimeUnit) -> Result<i64> {
    let v = cast(&a.slice(row, 1), &DataType::Int64)?;
    let raw = v.as_primitive::<Int64Type>().value(0);
    Ok(match u {
        TimeUnit::Second => raw * 1_000_000_000,
        TimeUnit::Millisecond => raw * 1_000_000,
        TimeUnit::Microsecond => raw * 1_000,
        TimeUnit::Nanosecond => raw,
    })
}

/// `HH:MM:SS[.f…]` for seconds of day and nanoseconds, with `p` fraction digits.
fn hms(out: &mut String, secs: i64, nanos: u32, p: u8) {
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    fraction(out, nanos, p);
}

fn fraction(out: &mut String, nanos: u32, p: u8) {
    if p > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(&digits[..p as usize]);
    }
}

fn timestamp(
    out: &mut String,
    a: &dyn Array,
    row: usize,
    u: &TimeUnit,
    tz: Option<&str>,
) -> Result<()> {
    let v = cast(&a.slice(row, 1), &DataType::Int64)?;
    let raw = v.as_primitive::<Int64Type>().value(0);
    let nanos = match u {
        TimeUnit::Second => raw.checked_mul(1_000_000_000),
        TimeUnit::Millisecond => raw.checked_mul(1_000_000),
        TimeUnit::Microsecond => raw.checked_mul(1_000),
        TimeUnit::Nanosecond => Some(raw),
    };
    let utc = match nanos {
        Some(n) => DateTime::from_timestamp_nanos(n),
        None => {
            let secs = match u {
                TimeUnit::Second => raw,
                TimeUnit::Millisecond => raw.div_euclid(1000),
                _ => raw.div_euclid(1_000_000),
            };
            DateTime::from_timestamp(secs, 0).unwrap_or_default()
        }
    };
    let p = precision(u);
    out.push('"');
    match tz {
        None => local(out, utc.naive_utc(), p),
        Some(zone) => {
            let name = trino_zone(zone);
            let parsed: Tz = zone
                .parse()
                .map_err(|e| ContangoError::invalid(format!("time zone '{zone}': {e}")))?;
            local(
                out,
                parsed.from_utc_datetime(&utc.naive_utc()).naive_local(),
                p,
            );
            out.push(' ');
            out.push_str(&name);
        }
    }
    out.push('"');
    Ok(())
}

fn local(out: &mut String, dt: NaiveDateTime, p: u8) {
    let _ = write!(out, "{:04}-{:02}-{:02} ", dt.year(), dt.month(), dt.day());
    hms(
        out,
        dt.num_seconds_from_midnight() as i64,
        dt.nanosecond() % 1_000_000_000,
        p,
    );
}

/// Trino names the UTC zone `UTC`; other zones keep their id or offset.
fn trino_zone(zone: &str) -> String {
    match zone {
        "+00:00" | "Z" | "UTC" | "Etc/UTC" | "+0000" | "00:00" => "UTC".to_string(),
        other => other.to_string(),
    }
}

/// `D HH:MM:SS.mmm` (Trino's interval day to second).
fn day_second(out: &mut String, millis: i64) {
    let sign = if millis < 0 { "-" } else { "" };
    let m = millis.unsigned_abs();
    let (days, rest) = (m / 86_400_000, m % 86_400_000);
    let _ = write!(
        out,
        "\"{sign}{days} {:02}:{:02}:{:02}.{:03}\"",
        rest / 3_600_000,
        (rest / 60_000) % 60,
        (rest / 1000) % 60,
        rest % 1000
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
        Int64Builder, ListArray, MapBuilder, StringArray, StringBuilder, StructArray,
        Time64MicrosecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampSecondArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn one(a: ArrayRef) -> String {
        let mut out = String::new();
        write_value(&mut out, a.as_ref(), 0).unwrap();
        out
    }

    #[test]
    fn scalars() {
        assert_eq!(one(Arc::new(Int64Array::from(vec![-42]))), "-42");
        assert_eq!(one(Arc::new(BooleanArray::from(vec![true]))), "true");
        assert_eq!(one(Arc::new(Float64Array::from(vec![-36.98]))), "-36.98");
        assert_eq!(one(Arc::new(Float64Array::from(vec![f64::NAN]))), "\"NaN\"");
        assert_eq!(
            one(Arc::new(Float64Array::from(vec![f64::INFINITY]))),
            "\"Infinity\""
        );
        assert_eq!(
            one(Arc::new(Float64Array::from(vec![f64::NEG_INFINITY]))),
            "\"-Infinity\""
        );
        assert_eq!(one(Arc::new(Float64Array::from(vec![1e21]))), "1e21");
        let dec = Decimal128Array::from(vec![12345])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(one(Arc::new(dec)), "\"123.45\"");
        assert_eq!(
            one(Arc::new(StringArray::from(vec!["a\"b\\c\n\u{1}é"]))),
            "\"a\\\"b\\\\c\\n\\u0001é\""
        );
        assert_eq!(
            one(Arc::new(BinaryArray::from(vec![&b"hi!"[..]]))),
            "\"aGkh\""
        );
        assert_eq!(one(Arc::new(Int64Array::from(vec![None::<i64>]))), "null");
    }

    #[test]
    fn dates_times_timestamps() {
        // 2020-04-20 is day 18372 since the epoch.
        assert_eq!(
            one(Arc::new(Date32Array::from(vec![18372]))),
            "\"2020-04-20\""
        );
        let t = Time64MicrosecondArray::from(vec![(13 * 3600 + 5 * 60 + 7) * 1_000_000 + 120]);
        assert_eq!(one(Arc::new(t)), "\"13:05:07.000120\"");
        let ms = 1_587_340_800_123; // 2020-04-20 00:00:00.123 UTC
        assert_eq!(
            one(Arc::new(TimestampMillisecondArray::from(vec![ms]))),
            "\"2020-04-20 00:00:00.123\""
        );
        assert_eq!(
            one(Arc::new(TimestampSecondArray::from(vec![ms / 1000]))),
            "\"2020-04-20 00:00:00\""
        );
        let tz = TimestampMicrosecondArray::from(vec![ms * 1000]).with_timezone("+00:00");
        assert_eq!(one(Arc::new(tz)), "\"2020-04-20 00:00:00.123000 UTC\"");
        let ny = TimestampMillisecondArray::from(vec![ms]).with_timezone("America/New_York");
        assert_eq!(
            one(Arc::new(ny)),
            "\"2020-04-19 20:00:00.123 America/New_York\""
        );
        let before_epoch = TimestampMillisecondArray::from(vec![-1]);
        assert_eq!(one(Arc::new(before_epoch)), "\"1969-12-31 23:59:59.999\"");
    }

    #[test]
    fn dates_far_from_the_epoch_do_not_overflow() {
        // Oracle: java.time.LocalDate.ofEpochDay(n).toString().
        for (days, want) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (2_932_896, "9999-12-31"),
            (2_932_897, "+10000-01-01"),
            (-719_528, "0000-01-01"),
            (-719_529, "-0001-12-31"),
            (-106_752, "1677-09-21"),
            (i32::MAX as i64, "+5881580-07-11"),
            (i32::MIN as i64, "-5877641-06-23"),
        ] {
            let got = one(Arc::new(Date32Array::from(vec![days as i32])));
            assert_eq!(got, format!("\"{want}\""), "day {days}");
        }
        let ms = datafusion::arrow::array::Date64Array::from(vec![2_932_896 * 86_400_000, -1]);
        let mut out = String::new();
        write_rows(
            &RecordBatch::try_from_iter([("d", Arc::new(ms) as ArrayRef)]).unwrap(),
            &mut out,
            true,
        )
        .unwrap();
        assert_eq!(out, "[\"9999-12-31\"],[\"1969-12-31\"]");
    }

    #[test]
    fn nested() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![
            Some(1),
            None,
            Some(3),
        ])]);
        assert_eq!(one(Arc::new(list)), "[1,null,3]");
        let row = StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![7])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
            ),
        ]);
        assert_eq!(one(Arc::new(row)), "[7,\"x\"]");
        let mut m = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        m.keys().append_value("k");
        m.values().append_value(1);
        m.append(true).unwrap();
        assert_eq!(one(Arc::new(m.finish())), "{\"k\":1}");
        let mut m = MapBuilder::new(None, Int64Builder::new(), Int64Builder::new());
        m.keys().append_value(5);
        m.values().append_value(6);
        m.append(true).unwrap();
        assert_eq!(one(Arc::new(m.finish())), "{\"5\":6}");
    }

    #[test]
    fn rows_are_comma_joined_across_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("c", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["WTI", "BRENT"])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let mut out = String::from("[");
        assert_eq!(write_rows(&batch, &mut out, true).unwrap(), 2);
        write_rows(&batch.slice(0, 1), &mut out, false).unwrap();
        out.push(']');
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([["WTI", 1], ["BRENT", null], ["WTI", 1]])
        );
    }
}
