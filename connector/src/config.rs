//! `[[streams]]` configuration, also given on the command line as
//! `--stream name=prices,brokers=127.0.0.1:9092,topic=commodity-prices,table=iceberg.market.live_ticks`.

use std::collections::BTreeMap;
use std::fmt;

use contango_common::error::{ContangoError, Result};
use serde::{Deserialize, Serialize};

/// One Kafka → Iceberg stream.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name (metrics label, `system.runtime.streams`).
    pub name: String,
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// One topic (`topics` takes several).
    pub topic: String,
    /// Several topics; rows then carry `_kafka_topic`.
    pub topics: Vec<String>,
    /// Consumer group: Kafka offsets are committed under it for lag
    /// monitoring only; positions come from the table.
    pub group: String,
    /// Target table `catalog.namespace.table` (created when absent,
    /// partitioned by day(ts) and commodity).
    pub table: String,
    /// Dead-letter table; default `<table>_rejected`.
    pub rejected_table: String,
    /// Message format: `json`.
    pub format: String,
    /// JSON field names.
    pub fields: FieldNames,
    /// `auto`, `iso8601`, `epoch_s`, `epoch_ms`, `epoch_us` or `epoch_ns`.
    pub timestamp_format: String,
    /// Values for absent fields.
    pub defaults: Defaults,
    /// Accept prices ≤ 0 (real markets had them: WTI −36.98 on 2020-04-20).
    pub allow_negative_prices: bool,
    /// Reject events more than this far ahead of the clock, seconds.
    pub max_future_secs: u64,
    /// Reject events older than this, seconds (0: no limit, e.g. replays).
    pub max_age_secs: u64,
    /// Longest accepted commodity / source string, bytes.
    pub max_field_bytes: usize,
    /// Commit when this many rows are pending...
    pub batch_rows: usize,
    /// ...or when the oldest pending row is this old, milliseconds.
    pub batch_interval_ms: u64,
    /// Received rows become queryable (hot tail) at least this often, ms.
    pub tail_interval_ms: u64,
    /// Rollup intervals (`1m`, `5m`, `1h`, `1d`); empty disables rollups.
    pub rollups: Vec<String>,
    /// How late (event time behind the newest event) a record may arrive and
    /// still count in its bar, seconds.
    pub lateness_secs: u64,
    /// Where to start when the table records no position: `earliest` | `latest`.
    pub start: String,
    /// Snapshots older than this are expired (0 keeps all), seconds.
    pub snapshot_retention_secs: u64,
    /// Compact closed partitions this often, seconds (0 disables; SQL catalogs only).
    pub compaction_interval_secs: u64,
    /// A closed partition is compacted once it has this many small files.
    pub compaction_min_files: usize,
    /// Files smaller than this (MiB) count as small.
    pub compaction_small_file_mb: u64,
    /// Extra librdkafka properties (security.protocol, sasl.*, ssl.*, ...).
    pub kafka: BTreeMap<String, String>,
}

/// JSON field names of the tick fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FieldNames {
    /// Commodity symbol (required).
    pub commodity: String,
    /// Price (required, number).
    pub price: String,
    /// Volume (integer ≥ 0).
    pub volume: String,
    /// Event time (required).
    pub timestamp: String,
    /// Venue / source.
    pub source: String,
}

/// Values used when a field is absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Commodity when absent (otherwise required).
    pub commodity: Option<String>,
    /// Volume when absent (otherwise NULL).
    pub volume: Option<i64>,
    /// Source when absent (otherwise `unknown`).
    pub source: Option<String>,
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            commodity: "commodity".into(),
            price: "price".into(),
            volume: "volume".into(),
            timestamp: "timestamp".into(),
            source: "source".into(),
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            brokers: "127.0.0.1:9092".into(),
            topic: String::new(),
            topics: Vec::new(),
            group: "contango".into(),
            table: String::new(),
            rejected_table: String::new(),
            format: "json".into(),
            fields: FieldNames::default(),
            timestamp_format: "auto".into(),
            defaults: Defaults::default(),
            allow_negative_prices: false,
            max_future_secs: 300,
            max_age_secs: 0,
            max_field_bytes: 256,
            batch_rows: 100_000,
            batch_interval_ms: 1000,
            tail_interval_ms: 100,
            rollups: vec!["1m".into()],
            lateness_secs: 60,
            start: "earliest".into(),
            snapshot_retention_secs: 0,
            compaction_interval_secs: 300,
            compaction_min_files: 8,
            compaction_small_file_mb: 64,
            kafka: BTreeMap::new(),
        }
    }
}

/// Keys whose values are never printed.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.contains("key") || k.contains("token")
}

impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kafka: BTreeMap<&str, &str> = self
            .kafka
            .iter()
            .map(|(k, v)| {
                let v = if is_secret(k) { "***" } else { v.as_str() };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("StreamConfig")
            .field("name", &self.name)
            .field("brokers", &self.brokers)
            .field("topics", &self.all_topics())
            .field("group", &self.group)
            .field("table", &self.table)
            .field("batch_rows", &self.batch_rows)
            .field("batch_interval_ms", &self.batch_interval_ms)
            .field("rollups", &self.rollups)
            .field("kafka", &kafka)
            .finish_non_exhaustive()
    }
}

/// Timestamp encodings accepted in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// ISO-8601 strings, or epoch numbers with the unit guessed from magnitude.
    Auto,
    /// ISO-8601 / RFC 3339 strings only.
    Iso8601,
    /// Epoch seconds (may be fractional).
    EpochSeconds,
    /// Epoch milliseconds.
    EpochMillis,
    /// Epoch microseconds.
    EpochMicros,
    /// Epoch nanoseconds.
    EpochNanos,
}

impl StreamConfig {
    /// Every topic read, `topic` first.
    pub fn all_topics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in std::iter::once(&self.topic).chain(&self.topics) {
            if !t.is_empty() && !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }

    /// The dead-letter table name.
    pub fn rejected_table(&self) -> String {
        if self.rejected_table.is_empty() {
            format!("{}_rejected", self.table)
        } else {
            self.rejected_table.clone()
        }
    }

    /// The parsed timestamp format.
    pub fn timestamp_format(&self) -> Result<TimestampFormat> {
        Ok(match self.timestamp_format.as_str() {
            "auto" => TimestampFormat::Auto,
            "iso8601" | "iso" | "rfc3339" => TimestampFormat::Iso8601,
            "epoch_s" | "epoch" => TimestampFormat::EpochSeconds,
            "epoch_ms" => TimestampFormat::EpochMillis,
            "epoch_us" => TimestampFormat::EpochMicros,
            "epoch_ns" => TimestampFormat::EpochNanos,
            other => {
                return Err(ContangoError::invalid(format!(
                    "stream '{}': unknown timestamp_format '{other}' \
                     (auto, iso8601, epoch_s, epoch_ms, epoch_us, epoch_ns)",
                    self.name
                )));
            }
        })
    }

    /// Rollup intervals in seconds, ascending.
    pub fn rollup_intervals(&self) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for r in &self.rollups {
            let secs = parse_interval(r).ok_or_else(|| {
                ContangoError::invalid(format!(
                    "stream '{}': rollup interval '{r}' must look like 1m, 5m, 1h or 1d",
                    self.name
                ))
            })?;
            out.push((r.clone(), secs));
        }
        out.sort_by_key(|(_, s)| *s);
        out.dedup_by_key(|(_, s)| *s);
        Ok(out)
    }

    /// Checks the settings that cannot be defaulted.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(ContangoError::invalid(format!(
                "stream '{}': {m}",
                self.name
            )))
        };
        if self.name.is_empty() {
            return Err(ContangoError::invalid("every stream needs a name"));
        }
        if self.brokers.is_empty() {
            return bad("brokers is empty".into());
        }
        if self.all_topics().is_empty() {
            return bad("no topic given (topic=... or topics=[...])".into());
        }
        if let Some(t) = self.all_topics().iter().find(|t| t.contains(':')) {
            return bad(format!("topic '{t}' is not a valid Kafka topic name"));
        }
        if self.table.is_empty() {
            return bad("no target table given (table=catalog.namespace.table)".into());
        }
        if self.format != "json" {
            return bad(format!("format '{}' is not supported (json)", self.format));
        }
        if self.batch_rows == 0 || self.batch_interval_ms == 0 || self.tail_interval_ms == 0 {
            return bad("batch_rows, batch_interval_ms and tail_interval_ms must be > 0".into());
        }
        if !matches!(self.start.as_str(), "earliest" | "latest") {
            return bad(format!("start '{}' must be earliest or latest", self.start));
        }
        self.timestamp_format()?;
        self.rollup_intervals()?;
        Ok(())
    }

    /// Parses the command-line form: comma-separated `key=value` pairs. Lists
    /// use `;` (`topics=a;b`, `rollups=1m;1h`); nested keys use dots
    /// (`fields.price=px`, `defaults.source=ICE`, `kafka.security.protocol=SASL_SSL`).
    pub fn parse_cli(spec: &str) -> Result<Self> {
        let mut root = toml::Table::new();
        for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                ContangoError::invalid(format!(
                    "--stream: '{pair}' is not key=value (e.g. name=prices,topic=commodity-prices)"
                ))
            })?;
            let (key, value) = (key.trim(), value.trim());
            if let Some(k) = key.strip_prefix("kafka.") {
                let kafka = root
                    .entry("kafka")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(t) = kafka {
                    t.insert(k.to_string(), toml::Value::String(value.to_string()));
                }
                continue;
            }
            let typed = match key {
                "topics" | "rollups" => toml::Value::Array(
                    value
                        .split(';')
                        .filter(|v| !v.is_empty())
                        .map(|v| toml::Value::String(v.to_string()))
                        .collect(),
                ),
                "defaults.volume"
                | "max_future_secs"
                | "max_age_secs"
                | "max_field_bytes"
                | "batch_rows"
                | "batch_interval_ms"
                | "tail_interval_ms"
                | "lateness_secs"
                | "snapshot_retention_secs" => {
                    toml::Value::Integer(value.parse().map_err(|_| {
                        ContangoError::invalid(format!("--stream: {key} must be an integer"))
                    })?)
                }
                "allow_negative_prices" => toml::Value::Boolean(value.parse().map_err(|_| {
                    ContangoError::invalid(format!("--stream: {key} must be true or false"))
                })?),
                _ => toml::Value::String(value.to_string()),
            };
            match key.split_once('.') {
                Some((section, field)) => {
                    let entry = root
                        .entry(section)
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    match entry {
                        toml::Value::Table(t) => {
                            t.insert(field.to_string(), typed);
                        }
                        _ => {
                            return Err(ContangoError::invalid(format!(
                                "--stream: '{section}' is not a section"
                            )));
                        }
                    }
                }
                None => {
                    root.insert(key.to_string(), typed);
                }
            }
        }
        let config: StreamConfig = toml::Value::Table(root)
            .try_into()
            .map_err(|e| ContangoError::invalid(format!("--stream '{spec}': {e}")))?;
        Ok(config)
    }
}

/// `30s`, `1m`, `5m`, `1h`, `1d` → seconds.
pub fn parse_interval(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_form() {
        let c = StreamConfig::parse_cli(
            "name=prices,brokers=127.0.0.1:9092,topic=commodity-prices,group=contango,\
             table=iceberg.market.live_ticks,fields.price=px,defaults.volume=0,\
             rollups=1m;1h,batch_rows=5000,kafka.security.protocol=SASL_SSL,\
             kafka.sasl.password=hunter2,allow_negative_prices=true",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.name, "prices");
        assert_eq!(c.all_topics(), vec!["commodity-prices".to_string()]);
        assert_eq!(c.fields.price, "px");
        assert_eq!(c.fields.commodity, "commodity");
        assert_eq!(c.defaults.volume, Some(0));
        assert_eq!(c.batch_rows, 5000);
        assert!(c.allow_negative_prices);
        assert_eq!(
            c.rollup_intervals().unwrap(),
            vec![("1m".into(), 60), ("1h".into(), 3600)]
        );
        assert_eq!(c.kafka["security.protocol"], "SASL_SSL");
        assert_eq!(c.rejected_table(), "iceberg.market.live_ticks_rejected");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(StreamConfig::parse_cli("name=x,batch_rows=many").is_err());
        assert!(StreamConfig::parse_cli("name=x,bogus=1").is_err());
        assert!(StreamConfig::parse_cli("justaword").is_err());
        let no_topic = StreamConfig::parse_cli("name=x,table=iceberg.a.b").unwrap();
        assert!(no_topic.validate().is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1m"), Some(60));
        assert_eq!(parse_interval("15m"), Some(900));
        assert_eq!(parse_interval("1d"), Some(86_400));
        assert_eq!(parse_interval("0m"), None);
        assert_eq!(parse_interval("m"), None);
        assert_eq!(parse_interval("3w"), None);
    }
}
