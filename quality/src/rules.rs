//! `[quality]` in the configuration: which tables are monitored and by which
//! rules, the history schedule and the alert strategies' parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[quality]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// The `quality` schema and its views.
    pub enabled: bool,
    /// Monitor every tick-shaped table (`commodity`, `ts`, `price`) not listed.
    pub discover: bool,
    /// Seconds between scheduled history runs (0: none); the first runs one
    /// interval after start.
    pub interval_secs: u64,
    /// Write `quality.metrics_history` (on the schedule and after each stream commit).
    pub history: bool,
    /// Alert strategies over the history.
    pub alerts: AlertConfig,
    /// Rules per table (`[[quality.tables]]`).
    pub tables: Vec<TableRules>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            discover: true,
            interval_secs: 300,
            history: true,
            alerts: AlertConfig::default(),
            tables: Vec::new(),
        }
    }
}

/// `[quality.alerts]`: Deequ's anomaly strategies over `metrics_history`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// RelativeRateOfChange (Size): alert when value / previous − 1 exceeds this.
    pub max_rate_increase: f64,
    /// RelativeRateOfChange (Size): alert when 1 − value / previous exceeds this.
    pub max_rate_decrease: f64,
    /// OnlineNormal (rates): alert beyond mean ± factor · stddev of the previous points.
    pub deviation_factor: f64,
    /// OnlineNormal needs at least this many previous points.
    pub min_history: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            max_rate_increase: 1.0,
            max_rate_decrease: 0.5,
            deviation_factor: 3.0,
            min_history: 5,
        }
    }
}

/// `[[quality.tables]]`: the rules of one table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TableRules {
    /// `schema.table` in the catalog.
    pub table: String,
    /// Event-time column (default `ts`).
    pub time_column: Option<String>,
    /// Uniqueness key (tick default: `commodity, ts, source`, those present).
    pub keys: Option<Vec<String>>,
    /// Freshness limit: now − newest event time (streamed tables: 300 s by default).
    pub max_staleness_secs: Option<u64>,
    /// Volume: an hour with fewer rows is anomalous.
    pub expected_rows_per_hour: Option<f64>,
    /// Apply the tick defaults when the table is tick-shaped (default true).
    pub tick_defaults: Option<bool>,
    /// Turn the tick rule `price > 0` off.
    pub allow_negative_prices: bool,
    /// Bars table for the consistency checks (default `<table>_bars_1m` when it exists).
    pub bars: Option<String>,
    /// Range rules.
    pub ranges: Vec<RangeRule>,
    /// Allowed-value rules.
    pub allowed: Vec<AllowedRule>,
    /// Pattern rules.
    pub patterns: Vec<PatternRule>,
    /// Least completeness per column (default 1.0 for key and time columns, 0.99 for others).
    pub min_completeness: BTreeMap<String, f64>,
}

/// Values of `column` must lie in the range (any combination of bounds).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RangeRule {
    /// The column.
    pub column: String,
    /// Exclusive lower bound.
    pub greater_than: Option<f64>,
    /// Inclusive lower bound.
    pub at_least: Option<f64>,
    /// Exclusive upper bound.
    pub less_than: Option<f64>,
    /// Inclusive upper bound.
    pub at_most: Option<f64>,
}

impl RangeRule {
    /// `price > 0`, `0 <= volume <= 10`.
    pub fn describe(&self) -> String {
        let c = &self.column;
        let lower = match (self.greater_than, self.at_least) {
            (Some(g), _) => Some(format!("{} < ", num(g))),
            (None, Some(a)) => Some(format!("{} <= ", num(a))),
            _ => None,
        };
        let upper = match (self.less_than, self.at_most) {
            (Some(l), _) => Some(format!(" < {}", num(l))),
            (None, Some(a)) => Some(format!(" <= {}", num(a))),
            _ => None,
        };
        match (lower, upper) {
            (Some(l), Some(u)) => format!("{l}{c}{u}"),
            (None, Some(u)) => format!("{c}{u}"),
            (Some(_), None) => match (self.greater_than, self.at_least) {
                (Some(g), _) => format!("{c} > {}", num(g)),
                (_, a) => format!("{c} >= {}", num(a.unwrap_or_default())),
            },
            (None, None) => format!("{c} in range"),
        }
    }
}

/// A number as rules print it: `0`, `2.5`.
pub(crate) fn num(x: f64) -> String {
    format!("{x}")
}

/// Values of `column` must be one of `values`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AllowedRule {
    /// The column.
    pub column: String,
    /// Allowed values (compared as text).
    pub values: Vec<String>,
}

/// Values of `column` must match `regex`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PatternRule {
    /// The column.
    pub column: String,
    /// A regular expression (Rust `regex` syntax).
    pub regex: String,
}

impl QualityConfig {
    /// Checks what can be checked without the catalog: table names, bounds,
    /// regular expressions, thresholds.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tables {
            let parts: Vec<&str> = t.table.split('.').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                return Err(format!(
                    "[[quality.tables]] table '{}' must be schema.table",
                    t.table
                ));
            }
            if !seen.insert(t.table.as_str()) {
                return Err(format!("[[quality.tables]] lists '{}' twice", t.table));
            }
            for r in &t.ranges {
                let bounds = [r.greater_than, r.at_least, r.less_than, r.at_most];
                if bounds.iter().all(Option::is_none) {
                    return Err(format!(
                        "{}: range rule on '{}' has no bound (greater_than, at_least, less_than, at_most)",
                        t.table, r.column
                    ));
                }
                if bounds.iter().flatten().any(|b| !b.is_finite()) {
                    return Err(format!(
                        "{}: range rule on '{}' has a non-finite bound",
                        t.table, r.column
                    ));
                }
            }
            for p in &t.patterns {
                regex::Regex::new(&p.regex).map_err(|e| {
                    format!(
                        "{}: pattern rule on '{}' has an invalid regex: {e}",
                        t.table, p.column
                    )
                })?;
            }
            for a in &t.allowed {
                if a.values.is_empty() {
                    return Err(format!(
                        "{}: allowed rule on '{}' lists no values",
                        t.table, a.column
                    ));
                }
            }
            for (c, v) in &t.min_completeness {
                if !(0.0..=1.0).contains(v) {
                    return Err(format!(
                        "{}: min_completeness of '{c}' must be between 0 and 1",
                        t.table
                    ));
                }
            }
        }
        let a = &self.alerts;
        if !(a.max_rate_increase >= 0.0 && a.max_rate_decrease >= 0.0 && a.deviation_factor > 0.0) {
            return Err("[quality.alerts] rates must be >= 0 and deviation_factor > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let c: QualityConfig = toml::from_str(
            r#"
            interval_secs = 2
            [[tables]]
            table = "eia.wti"
            time_column = "Date"
            keys = ["Date"]
            ranges = [ { column = "Price", greater_than = 0.0 } ]
            min_completeness = { Price = 1.0 }
            "#,
        )
        .unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.tables[0].ranges[0].describe(), "Price > 0");
        let r = RangeRule {
            column: "v".into(),
            at_least: Some(0.0),
            at_most: Some(10.0),
            ..Default::default()
        };
        assert_eq!(r.describe(), "0 <= v <= 10");
        let bad = |s: &str| {
            toml::from_str::<QualityConfig>(s)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert!(bad("[[tables]]\ntable = \"t\"").contains("schema.table"));
        assert!(
            bad("[[tables]]\ntable = \"s.t\"\npatterns = [{ column = \"c\", regex = \"(\" }]")
                .contains("invalid regex")
        );
        assert!(
            bad("[[tables]]\ntable = \"s.t\"\nranges = [{ column = \"c\" }]").contains("no bound")
        );
        assert!(toml::from_str::<QualityConfig>("bogus = 1").is_err());
    }
}
