//! Which tables are monitored, with their rules resolved against the
//! tables' columns: the configured tables plus, with `discover`, every
//! tick-shaped table (`commodity`, `ts`, `price`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::CatalogProvider;
use datafusion::error::{DataFusionError, Result as DFResult};

use crate::rules::{QualityConfig, RangeRule, TableRules};

/// The schema the views live in.
pub const QUALITY_SCHEMA: &str = "quality";
/// Columns of streamed tables that carry Kafka lineage (not monitored).
const LINEAGE_PREFIX: &str = "_kafka";
/// Default freshness limit of streamed tables.
const STREAMED_STALENESS_SECS: f64 = 300.0;
/// Timestamps further than this in the future violate `not in the future`.
pub const FUTURE_TOLERANCE_SECS: u64 = 60;

/// What a validity rule checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleType {
    /// Bounds on a number.
    Range,
    /// No NaN or ±Infinity.
    Finite,
    /// No event time beyond now + [`FUTURE_TOLERANCE_SECS`].
    Future,
    /// One of a set of values.
    Allowed,
    /// Matches a regular expression.
    Pattern,
}

impl RuleType {
    /// Name in `validity.rule_type`.
    pub fn name(self) -> &'static str {
        match self {
            RuleType::Range => "range",
            RuleType::Finite => "finite",
            RuleType::Future => "future",
            RuleType::Allowed => "allowed",
            RuleType::Pattern => "pattern",
        }
    }
}

/// One resolved validity check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Column checked.
    pub column: String,
    /// Its type.
    pub data_type: DataType,
    /// Name shown in the views (`price > 0`).
    pub name: String,
    /// Kind.
    pub rule: RuleType,
    /// Bounds (range rules).
    pub range: Option<RangeRule>,
    /// Allowed values.
    pub values: Vec<String>,
    /// Pattern.
    pub regex: Option<String>,
}

impl Check {
    /// A check of `rule` named `name` on `column` (no bounds, values or pattern).
    fn new(column: &str, data_type: &DataType, rule: RuleType, name: String) -> Self {
        Self {
            column: column.to_string(),
            data_type: data_type.clone(),
            name,
            rule,
            range: None,
            values: vec![],
            regex: None,
        }
    }

    /// A range check (named as the rule reads).
    fn range(data_type: &DataType, range: RangeRule) -> Self {
        Self {
            range: Some(range.clone()),
            ..Self::new(&range.column, data_type, RuleType::Range, range.describe())
        }
    }
}

/// A monitored table and its resolved rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitored {
    /// Namespace.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Columns (lineage columns left out), with their least completeness.
    pub columns: Vec<(String, DataType, f64)>,
    /// Event-time column, when the table has one.
    pub time_column: Option<String>,
    /// Uniqueness key (empty: no uniqueness check).
    pub keys: Vec<String>,
    /// Validity checks.
    pub checks: Vec<Check>,
    /// Freshness limit.
    pub max_staleness_secs: Option<f64>,
    /// Volume floor.
    pub expected_rows_per_hour: Option<f64>,
    /// Bars table (same catalog, `schema.table`) and its interval in seconds.
    pub bars: Option<(String, String, i64)>,
    /// Late-records table of a stream (`<table>_late`), excluded from bar counts.
    pub late: Option<String>,
    /// Written by a Kafka stream (has `_kafka_offset`).
    pub streamed: bool,
    /// Has `_kafka_topic` (a stream of several topics).
    pub multi_topic: bool,
}

impl Monitored {
    /// `schema.table`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// A column of `schema` named `name` (exactly, else the one case-insensitive match).
fn find<'a>(schema: &'a SchemaRef, name: &str) -> Option<&'a str> {
    let fields = schema.fields();
    if let Some(f) = fields.iter().find(|f| f.name() == name) {
        return Some(f.name().as_str());
    }
    let mut matches = fields
        .iter()
        .filter(|f| f.name().eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some(f), None) => Some(f.name().as_str()),
        _ => None,
    }
}

/// Whether a table looks like ticks: `commodity`, `ts`, `price`.
pub fn tick_shaped(schema: &SchemaRef) -> bool {
    ["commodity", "ts", "price"]
        .iter()
        .all(|c| find(schema, c).is_some())
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric()
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

fn plan_error(m: String) -> DataFusionError {
    DataFusionError::Plan(m)
}

/// Parses the interval label of `<table>_bars_<label>` (`1m`, `5m`, `1h`, `30s`, `1d`).
pub fn bar_seconds(name: &str) -> Option<i64> {
    let label = name.rsplit_once("_bars_")?.1;
    let (n, unit) = label.split_at(label.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(n * scale)
}

/// Resolves `rules` against a table's schema. `names` lists the tables of
/// the same schema (to find bars and late tables).
pub fn resolve(
    rules: &TableRules,
    schema_name: &str,
    table_name: &str,
    schema: &SchemaRef,
    names: &[String],
) -> DFResult<Monitored> {
    let full = format!("{schema_name}.{table_name}");
    let column = |c: &str, what: &str| -> DFResult<(String, DataType)> {
        let name = find(schema, c).ok_or_else(|| {
            plan_error(format!(
                "quality rules of {full}: {what} column '{c}' does not exist (columns: {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let dt = schema.field_with_name(name)?.data_type().clone();
        Ok((name.to_string(), dt))
    };
    let ticks = rules.tick_defaults.unwrap_or(true) && tick_shaped(schema);
    let time_column = match &rules.time_column {
        Some(c) => Some(column(c, "time")?.0),
        None => find(schema, "ts").map(str::to_string),
    };
    let keys: Vec<String> = match &rules.keys {
        Some(k) => k
            .iter()
            .map(|c| column(c, "key").map(|(n, _)| n))
            .collect::<DFResult<_>>()?,
        None if ticks => ["commodity", "ts", "source"]
            .iter()
            .filter_map(|c| find(schema, c).map(str::to_string))
            .collect(),
        None => Vec::new(),
    };
    let mut checks = Vec::new();
    let mut push = |c: Check| {
        if !checks.contains(&c) {
            checks.push(c);
        }
    };
    if ticks {
        let (price, pt) = column("price", "price")?;
        if is_float(&pt) {
            push(Check::new(
                &price,
                &pt,
                RuleType::Finite,
                format!("{price} is finite"),
            ));
        }
        if !rules.allow_negative_prices && is_number(&pt) {
            push(Check::range(
                &pt,
                RangeRule {
                    column: price,
                    greater_than: Some(0.0),
                    ..Default::default()
                },
            ));
        }
        if let Some(v) = find(schema, "volume") {
            let vt = schema.field_with_name(v)?.data_type().clone();
            if is_number(&vt) {
                push(Check::range(
                    &vt,
                    RangeRule {
                        column: v.to_string(),
                        at_least: Some(0.0),
                        ..Default::default()
                    },
                ));
            }
        }
    }
    for r in &rules.ranges {
        let (c, t) = column(&r.column, "range rule")?;
        if !is_number(&t) {
            return Err(plan_error(format!(
                "quality rules of {full}: range rule on '{c}' needs a numeric column ({t})"
            )));
        }
        if is_float(&t) {
            push(Check::new(
                &c,
                &t,
                RuleType::Finite,
                format!("{c} is finite"),
            ));
        }
        push(Check::range(
            &t,
            RangeRule {
                column: c,
                ..r.clone()
            },
        ));
    }
    for a in &rules.allowed {
        let (c, t) = column(&a.column, "allowed rule")?;
        push(Check {
            values: a.values.clone(),
            ..Check::new(&c, &t, RuleType::Allowed, format!("{c} in allowed set"))
        });
    }
    for p in &rules.patterns {
        let (c, t) = column(&p.column, "pattern rule")?;
        push(Check {
            regex: Some(p.regex.clone()),
            ..Check::new(
                &c,
                &t,
                RuleType::Pattern,
                format!("{c} matches {}", p.regex),
            )
        });
    }
    if let Some(tc) = &time_column {
        let t = schema.field_with_name(tc)?.data_type().clone();
        if is_time(&t) {
            push(Check::new(
                tc,
                &t,
                RuleType::Future,
                format!("{tc} not in the future"),
            ));
        }
    }
    for c in rules.min_completeness.keys() {
        column(c, "min_completeness")?;
    }
    let streamed = schema.field_with_name("_kafka_offset").is_ok();
    let multi_topic = schema.field_with_name("_kafka_topic").is_ok();
    let columns = schema
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with(LINEAGE_PREFIX))
        .map(|f| {
            let name = f.name().clone();
            let min = rules
                .min_completeness
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(&name))
                .map(|(_, v)| *v)
                .unwrap_or(
                    if keys.contains(&name) || time_column.as_deref() == Some(&name) {
                        1.0
                    } else {
                        0.99
                    },
                );
            (name, f.data_type().clone(), min)
        })
        .collect();
    let bars = match &rules.bars {
        Some(b) => {
            let (s, t) = b.split_once('.').ok_or_else(|| {
                plan_error(format!(
                    "quality rules of {full}: bars '{b}' must be schema.table"
                ))
            })?;
            let secs = bar_seconds(t).ok_or_else(|| {
                plan_error(format!(
                    "quality rules of {full}: bars table '{b}' must be named <table>_bars_<interval> (e.g. _bars_1m)"
                ))
            })?;
            Some((s.to_string(), t.to_string(), secs))
        }
        None => {
            let default = format!("{table_name}_bars_1m");
            names
                .contains(&default)
                .then(|| (schema_name.to_string(), default, 60))
        }
    };
    let late = format!("{table_name}_late");
    let late = (streamed && names.contains(&late)).then_some(late);
    Ok(Monitored {
        schema: schema_name.to_string(),
        table: table_name.to_string(),
        columns,
        time_column,
        keys,
        checks,
        max_staleness_secs: rules
            .max_staleness_secs
            .map(|s| s as f64)
            .or(streamed.then_some(STREAMED_STALENESS_SECS)),
        expected_rows_per_hour: rules.expected_rows_per_hour,
        bars,
        late,
        streamed,
        multi_topic,
    })
}

/// Tables a stream writes beside its ticks (never monitored by discovery).
fn auxiliary(name: &str) -> bool {
    name.ends_with("_rejected") || name.ends_with("_late") || name.contains("_bars_")
}

/// The monitored tables of `catalog`: configured ones that exist, then
/// discovered tick-shaped ones. A configured table that does not exist (yet)
/// is skipped; a rule naming a missing column is an error.
pub async fn monitored(
    config: &QualityConfig,
    catalog: &Arc<dyn CatalogProvider>,
) -> DFResult<Vec<Monitored>> {
    let mut out = Vec::new();
    let mut schemas = catalog.schema_names();
    schemas.sort();
    for s in schemas {
        if s == QUALITY_SCHEMA || s == "information_schema" {
            continue;
        }
        let Some(schema) = catalog.schema(&s) else {
            continue;
        };
        let mut names = schema.table_names();
        names.sort();
        for t in &names {
            if let Some(m) = resolve_listed(config, &schema, &s, t, &names).await? {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// `schema.table` when it is monitored (see [`monitored`]).
pub async fn monitored_table(
    config: &QualityConfig,
    catalog: &Arc<dyn CatalogProvider>,
    schema_name: &str,
    table: &str,
) -> DFResult<Option<Monitored>> {
    let Some(schema) = catalog.schema(schema_name) else {
        return Ok(None);
    };
    let names = schema.table_names();
    resolve_listed(config, &schema, schema_name, table, &names).await
}

async fn resolve_listed(
    config: &QualityConfig,
    schema: &Arc<dyn datafusion::catalog::SchemaProvider>,
    s: &str,
    t: &str,
    names: &[String],
) -> DFResult<Option<Monitored>> {
    let full = format!("{s}.{t}");
    let rules = config.tables.iter().find(|r| r.table == full);
    if rules.is_none() && (!config.discover || auxiliary(t)) {
        return Ok(None);
    }
    // A table that cannot be read now (missing metadata, unreachable
    // storage) is left out, not an error for every other table.
    let provider = match schema.table(t).await {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(table = %full, error = %e, "quality: table not readable; not monitored now");
            return Ok(None);
        }
    };
    let arrow = provider.schema();
    let default_rules;
    let rules = match rules {
        Some(r) => r,
        None if tick_shaped(&arrow) => {
            default_rules = TableRules {
                table: full,
                ..Default::default()
            };
            &default_rules
        }
        None => return Ok(None),
    };
    resolve(rules, s, t, &arrow, names).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};

    fn ticks() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("commodity", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("price", DataType::Float64, true),
            Field::new("volume", DataType::Int64, true),
            Field::new("source", DataType::Utf8, false),
            Field::new("_kafka_partition", DataType::Int32, false),
            Field::new("_kafka_offset", DataType::Int64, false),
        ]))
    }

    #[test]
    fn tick_defaults() {
        let names = vec![
            "live".to_string(),
            "live_bars_1m".into(),
            "live_late".into(),
        ];
        let m = resolve(&TableRules::default(), "market", "live", &ticks(), &names).unwrap();
        let checks: Vec<&str> = m.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            checks,
            [
                "price is finite",
                "price > 0",
                "volume >= 0",
                "ts not in the future"
            ]
        );
        assert_eq!(m.keys, ["commodity", "ts", "source"]);
        assert_eq!(m.columns.len(), 5, "lineage columns are not monitored");
        assert_eq!(m.columns[2].2, 0.99);
        assert_eq!(m.columns[1].2, 1.0);
        assert_eq!(m.bars, Some(("market".into(), "live_bars_1m".into(), 60)));
        assert_eq!(m.late.as_deref(), Some("live_late"));
        assert_eq!(m.max_staleness_secs, Some(300.0));
        assert_eq!(bar_seconds("x_bars_5m"), Some(300));
        assert_eq!(bar_seconds("x_bars_1h"), Some(3600));
        assert_eq!(bar_seconds("x_bars"), None);
    }

    #[test]
    fn configured_rules_name_real_columns() {
        let rules = TableRules {
            table: "market.live".into(),
            ranges: vec![RangeRule {
                column: "Prise".into(),
                greater_than: Some(0.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = resolve(&rules, "market", "live", &ticks(), &[]).unwrap_err();
        assert!(e.to_string().contains("'Prise' does not exist"), "{e}");
        let rules = TableRules {
            allow_negative_prices: true,
            keys: Some(vec!["COMMODITY".into(), "ts".into()]),
            ..Default::default()
        };
        let m = resolve(&rules, "market", "live", &ticks(), &[]).unwrap();
        assert!(!m.checks.iter().any(|c| c.name == "price > 0"));
        assert_eq!(
            m.keys,
            ["commodity", "ts"],
            "names match case-insensitively"
        );
    }
}
