//! Decoding and validating one JSON price message.
//!
//! The decoder walks the JSON object once, keeps only the configured fields
//! (borrowing strings from the payload where they have no escapes) and skips
//! everything else without allocating. Every failure has a stable reason code
//! (`Reject::reason`) stored in the dead-letter table.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::config::{StreamConfig, TimestampFormat};

/// A valid tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick<'a> {
    /// Commodity symbol.
    pub commodity: Cow<'a, str>,
    /// Price.
    pub price: f64,
    /// Volume (NULL when absent and no default).
    pub volume: Option<i64>,
    /// Event time, UTC microseconds.
    pub ts_us: i64,
    /// Venue / source.
    pub source: Cow<'a, str>,
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// Stable code, e.g. `malformed_json`, `missing_field`, `negative_price`.
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

impl Reject {
    fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Every reason code, for metrics with stable label sets.
pub const REASONS: &[&str] = &[
    "empty_message",
    "malformed_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "field_too_long",
    "non_finite_price",
    "negative_price",
    "negative_volume",
    "bad_timestamp",
    "future_timestamp",
    "too_old",
];

/// Decodes and validates messages for one stream.
#[derive(Debug, Clone)]
pub struct Validator {
    names: [String; 5],
    format: TimestampFormat,
    defaults: crate::config::Defaults,
    allow_negative: bool,
    max_future_us: i64,
    max_age_us: i64,
    max_field_bytes: usize,
}

const COMMODITY: usize = 0;
const PRICE: usize = 1;
const VOLUME: usize = 2;
const TIMESTAMP: usize = 3;
const SOURCE: usize = 4;

/// A JSON value of interest, borrowed where possible.
#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool,
    Null,
    Compound,
}

impl Validator {
    /// A validator for `config` (which must have passed `validate`).
    pub fn new(config: &StreamConfig) -> Self {
        let f = &config.fields;
        Self {
            names: [
                f.commodity.clone(),
                f.price.clone(),
                f.volume.clone(),
                f.timestamp.clone(),
                f.source.clone(),
            ],
            format: config.timestamp_format().unwrap_or(TimestampFormat::Auto),
            defaults: config.defaults.clone(),
            allow_negative: config.allow_negative_prices,
            max_future_us: (config.max_future_secs as i64).saturating_mul(1_000_000),
            max_age_us: (config.max_age_secs as i64).saturating_mul(1_000_000),
            max_field_bytes: config.max_field_bytes,
        }
    }

    /// Decodes `payload`, checking it against the rules with `now_us` as the clock.
    pub fn check<'a>(&self, payload: Option<&'a [u8]>, now_us: i64) -> Result<Tick<'a>, Reject> {
        let payload = match payload {
            Some(p) if !p.iter().all(u8::is_ascii_whitespace) => p,
            _ => return Err(Reject::new("empty_message", "the message has no payload")),
        };
        let mut de = serde_json::Deserializer::from_slice(payload);
        let fields = de
            .deserialize_any(RecordVisitor { names: &self.names })
            .and_then(|f| de.end().map(|_| f))
            .map_err(|e| {
                let what = if e.is_data() {
                    "not_an_object"
                } else {
                    "malformed_json"
                };
                Reject::new(what, e.to_string())
            })?;
        let [commodity, price, volume, timestamp, source] = fields;
        let name = |i: usize| self.names[i].as_str();

        let commodity = match commodity {
            Some(Value::Str(s)) if !s.is_empty() => s,
            None | Some(Value::Null) => match &self.defaults.commodity {
                Some(d) => Cow::Owned(d.clone()),
                None => return Err(missing(name(COMMODITY))),
            },
            Some(Value::Str(_)) => {
                return Err(Reject::new(
                    "missing_field",
                    format!("'{}' is empty", name(COMMODITY)),
                ));
            }
            Some(other) => return Err(wrong_type(name(COMMODITY), "a string", &other)),
        };
        if commodity.len() > self.max_field_bytes {
            return Err(too_long(
                name(COMMODITY),
                commodity.len(),
                self.max_field_bytes,
            ));
        }

        let price = match price {
            Some(Value::Float(v)) => v,
            Some(Value::Int(v)) => v as f64,
            None | Some(Value::Null) => return Err(missing(name(PRICE))),
            Some(other) => return Err(wrong_type(name(PRICE), "a number", &other)),
        };
        if !price.is_finite() {
            return Err(Reject::new(
                "non_finite_price",
                format!("price {price} is not finite"),
            ));
        }
        if price <= 0.0 && !self.allow_negative {
            return Err(Reject::new(
                "negative_price",
                format!(
                    "price {price} is not > 0 (set allow_negative_prices for markets that trade below zero)"
                ),
            ));
        }

        let volume = match volume {
            Some(Value::Int(v)) => Some(v),
            Some(Value::Float(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(v as i64),
            None | Some(Value::Null) => self.defaults.volume,
            Some(other) => return Err(wrong_type(name(VOLUME), "an integer", &other)),
        };
        if let Some(v) = volume
            && v < 0
        {
            return Err(Reject::new(
                "negative_volume",
                format!("volume {v} is negative"),
            ));
        }

        let ts_us = match timestamp {
            None | Some(Value::Null) => return Err(missing(name(TIMESTAMP))),
            Some(v) => self.timestamp(name(TIMESTAMP), &v)?,
        };
        if ts_us > now_us.saturating_add(self.max_future_us) {
            return Err(Reject::new(
                "future_timestamp",
                format!(
                    "event time {} is more than {} s ahead of the clock",
                    format_us(ts_us),
                    self.max_future_us / 1_000_000
                ),
            ));
        }
        if self.max_age_us > 0 && ts_us < now_us.saturating_sub(self.max_age_us) {
            return Err(Reject::new(
                "too_old",
                format!(
                    "event time {} is older than the allowed age",
                    format_us(ts_us)
                ),
            ));
        }

        let source = match source {
            Some(Value::Str(s)) => s,
            None | Some(Value::Null) => Cow::Owned(
                self.defaults
                    .source
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            ),
            Some(other) => return Err(wrong_type(name(SOURCE), "a string", &other)),
        };
        if source.len() > self.max_field_bytes {
            return Err(too_long(name(SOURCE), source.len(), self.max_field_bytes));
        }
        Ok(Tick {
            commodity,
            price,
            volume,
            ts_us,
            source,
        })
    }

    fn timestamp(&self, field: &str, v: &Value<'_>) -> Result<i64, Reject> {
        let bad = |d: String| Reject::new("bad_timestamp", d);
        match (v, self.format) {
            (Value::Str(s), TimestampFormat::Auto | TimestampFormat::Iso8601) => parse_iso(s)
                .ok_or_else(|| bad(format!("'{field}' = {s:?} is not an ISO-8601 timestamp"))),
            (Value::Int(_) | Value::Float(_), TimestampFormat::Iso8601) => {
                Err(wrong_type(field, "an ISO-8601 string", v))
            }
            (Value::Int(n), f) => epoch_us(*n as f64, f, Some(*n))
                .ok_or_else(|| bad(format!("'{field}' = {n} is out of range"))),
            (Value::Float(x), f) => {
                epoch_us(*x, f, None).ok_or_else(|| bad(format!("'{field}' = {x} is out of range")))
            }
            (other, _) => Err(wrong_type(field, "a timestamp", other)),
        }
    }
}

fn missing(field: &str) -> Reject {
    Reject::new(
        "missing_field",
        format!("required field '{field}' is missing"),
    )
}

fn too_long(field: &str, len: usize, max: usize) -> Reject {
    Reject::new(
        "field_too_long",
        format!("'{field}' is {len} bytes (at most {max})"),
    )
}

fn wrong_type(field: &str, expected: &str, got: &Value<'_>) -> Reject {
    let got = match got {
        Value::Str(_) => "a string",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Bool => "a boolean",
        Value::Null => "null",
        Value::Compound => "an array or object",
    };
    Reject::new(
        "wrong_type",
        format!("'{field}' must be {expected}, got {got}"),
    )
}

fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| us.to_string())
}

/// RFC 3339 / ISO-8601 with an offset or `Z`; without one, UTC.
fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t.timestamp_micros());
    }
    None
}

/// Epoch number → microseconds; `Auto` picks the unit by magnitude
/// (< 1e11 seconds, < 1e14 ms, < 1e17 µs, else ns).
fn epoch_us(x: f64, format: TimestampFormat, exact: Option<i64>) -> Option<i64> {
    let scale_up = |n: i64, f: i64| n.checked_mul(f);
    let unit = match format {
        TimestampFormat::Auto => {
            let a = x.abs();
            if a < 1e11 {
                TimestampFormat::EpochSeconds
            } else if a < 1e14 {
                TimestampFormat::EpochMillis
            } else if a < 1e17 {
                TimestampFormat::EpochMicros
            } else {
                TimestampFormat::EpochNanos
            }
        }
        f => f,
    };
    let us = match (unit, exact) {
        (TimestampFormat::EpochSeconds, Some(n)) => scale_up(n, 1_000_000)?,
        (TimestampFormat::EpochMillis, Some(n)) => scale_up(n, 1_000)?,
        (TimestampFormat::EpochMicros, Some(n)) => n,
        (TimestampFormat::EpochNanos, Some(n)) => n.div_euclid(1_000),
        (TimestampFormat::EpochSeconds, None) => finite_i64(x * 1e6)?,
        (TimestampFormat::EpochMillis, None) => finite_i64(x * 1e3)?,
        (TimestampFormat::EpochMicros, None) => finite_i64(x)?,
        (TimestampFormat::EpochNanos, None) => finite_i64(x / 1e3)?,
        _ => return None,
    };
    // Years 0001..9999 only.
    (-62_135_596_800_000_000..=253_402_300_799_000_000)
        .contains(&us)
        .then_some(us)
}

fn finite_i64(x: f64) -> Option<i64> {
    (x.is_finite() && x.abs() < 9.2e18).then(|| x.round() as i64)
}

struct RecordVisitor<'n> {
    names: &'n [String; 5],
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = [Option<Value<'de>>; 5];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: [Option<Value<'de>>; 5] = Default::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.names.iter().position(|n| *n == *key) {
                Some(i) => out[i] = Some(map.next_value_seed(ValueSeed)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Compound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_762_000_000_000_000; // 2025-11-01T12:26:40Z

    fn v() -> Validator {
        Validator::new(&StreamConfig::default())
    }

    fn reason(payload: &[u8]) -> &'static str {
        v().check(Some(payload), NOW).unwrap_err().reason
    }

    #[test]
    fn reference_message() {
        let m = br#"{"commodity": "WTI", "price": 71.23, "volume": 100, "timestamp": "2025-11-01T10:00:00.123Z", "source": "ICE", "extra": [1, {"a": 2}]}"#;
        let t = v().check(Some(m), NOW).unwrap();
        assert_eq!(t.commodity, "WTI");
        assert!(matches!(t.commodity, Cow::Borrowed(_)));
        assert_eq!(t.price, 71.23);
        assert_eq!(t.volume, Some(100));
        assert_eq!(t.ts_us, 1_761_991_200_123_000);
        assert_eq!(t.source, "ICE");
    }

    #[test]
    fn timestamps() {
        let ts = |s: &str| {
            let m = format!(r#"{{"commodity":"WTI","price":1,"timestamp":{s}}}"#);
            v().check(Some(m.as_bytes()), NOW).map(|t| t.ts_us)
        };
        let want = 1_761_991_200_000_000;
        assert_eq!(ts("1761991200").unwrap(), want);
        assert_eq!(ts("1761991200000").unwrap(), want);
        assert_eq!(ts("1761991200000000").unwrap(), want);
        assert_eq!(ts("1761991200000000000").unwrap(), want);
        assert_eq!(ts("1761991200.5").unwrap(), want + 500_000);
        assert_eq!(ts("\"2025-11-01T11:00:00+01:00\"").unwrap(), want);
        assert_eq!(ts("\"2025-11-01 10:00:00\"").unwrap(), want);
        assert_eq!(ts("\"yesterday\"").unwrap_err().reason, "bad_timestamp");
        assert_eq!(ts("true").unwrap_err().reason, "wrong_type");
        assert_eq!(
            ts("\"2030-01-01T00:00:00Z\"").unwrap_err().reason,
            "future_timestamp"
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(reason(b""), "empty_message");
        assert_eq!(reason(b"{\"commodity\": \"WTI\", "), "malformed_json");
        assert_eq!(reason(b"\xff\xfe\x00garbage"), "malformed_json");
        assert_eq!(reason(b"[1,2]"), "not_an_object");
        assert_eq!(reason(br#"{"price":1,"timestamp":1}"#), "missing_field");
        assert_eq!(
            reason(br#"{"commodity":"WTI","timestamp":1}"#),
            "missing_field"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":"71.2","timestamp":1}"#),
            "wrong_type"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":NaN,"timestamp":1}"#),
            "malformed_json"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":1e999,"timestamp":1}"#),
            "malformed_json"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":-36.98,"timestamp":1}"#),
            "negative_price"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":0,"timestamp":1}"#),
            "negative_price"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":1,"volume":-1,"timestamp":1}"#),
            "negative_volume"
        );
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":1,"volume":1.5,"timestamp":1}"#),
            "wrong_type"
        );
        assert_eq!(
            reason(br#"{"commodity":7,"price":1,"timestamp":1}"#),
            "wrong_type"
        );
        let long = format!(
            r#"{{"commodity":"{}","price":1,"timestamp":1}}"#,
            "x".repeat(1 << 20)
        );
        assert_eq!(reason(long.as_bytes()), "field_too_long");
        assert_eq!(
            reason(br#"{"commodity":"WTI","price":1,"timestamp":1} trailing"#),
            "malformed_json"
        );
    }

    #[test]
    fn negative_prices_when_allowed_and_defaults() {
        let mut c = StreamConfig {
            allow_negative_prices: true,
            ..StreamConfig::default()
        };
        c.defaults.source = Some("NYMEX".into());
        c.defaults.volume = Some(0);
        c.fields.price = "px".into();
        let t = Validator::new(&c)
            .check(
                Some(br#"{"commodity":"WTI","px":-36.98,"timestamp":"2020-04-20T18:30:00Z"}"#),
                NOW,
            )
            .unwrap();
        assert_eq!(t.price, -36.98);
        assert_eq!(t.source, "NYMEX");
        assert_eq!(t.volume, Some(0));
        let escaped = Validator::new(&c)
            .check(
                Some(br#"{"commodity":"W\u0054I","px":1,"timestamp":1}"#),
                NOW,
            )
            .unwrap();
        assert_eq!(escaped.commodity, "WTI");
    }
}
