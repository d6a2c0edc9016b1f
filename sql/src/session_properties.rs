//! Session properties clients may set (`SET SESSION`, `X-Trino-Session`),
//! each checked against its type and applied to the DataFusion configuration
//! of the statement. Unknown names are refused, as Trino refuses them.

use std::time::Duration;

use datafusion::prelude::SessionConfig;

use contango_common::error::{ContangoError, Result};

/// Type of a property value, in Trino's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// `bigint`, between `min` and `max` (both included).
    Bigint {
        /// Smallest value accepted.
        min: u64,
        /// Largest value accepted.
        max: u64,
    },
    /// `varchar` holding a Trino duration (`10m`, `1.5h`, `500ms`).
    Duration,
    /// `varchar` holding a Trino data size (`512MB`, `2GB`).
    DataSize,
    /// `boolean`.
    Boolean,
    /// `varchar`, one of the listed values.
    Choice(&'static [&'static str]),
}

impl PropertyType {
    /// Trino's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::Bigint { .. } => "bigint",
            PropertyType::Boolean => "boolean",
            PropertyType::Choice(_) | PropertyType::Duration | PropertyType::DataSize => "varchar",
        }
    }
}

/// One session property.
#[derive(Debug, Clone, Copy)]
pub struct PropertyDef {
    /// Name clients use.
    pub name: &'static str,
    /// Value type.
    pub kind: PropertyType,
    /// DataFusion configuration key it sets (empty: Contango reads the
    /// property from the session itself, e.g. `query_max_run_time`).
    pub config_key: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// Largest `batch_size`: beyond it one batch of wide rows no longer fits
/// Arrow's 32-bit offsets and the engine's buffers are allocated up front.
pub const MAX_BATCH_SIZE: u64 = 1 << 20;

/// Largest `task_concurrency` (partitions, hence tasks and buffers, per query).
pub const MAX_TASK_CONCURRENCY: u64 = 1024;

/// `query_max_run_time` when neither the session nor the server sets one
/// (Trino's default: 100 days).
pub const DEFAULT_QUERY_MAX_RUN_TIME: &str = "100.00d";

/// Every supported property.
pub const PROPERTIES: &[PropertyDef] = &[
    PropertyDef {
        name: "batch_size",
        kind: PropertyType::Bigint {
            min: 1,
            max: MAX_BATCH_SIZE,
        },
        config_key: "datafusion.execution.batch_size",
        description: "Rows per batch inside the engine",
    },
    PropertyDef {
        name: "enable_dynamic_filtering",
        kind: PropertyType::Boolean,
        config_key: "datafusion.optimizer.enable_dynamic_filter_pushdown",
        description: "Push join and top-k dynamic filters into scans",
    },
    PropertyDef {
        name: "gpu",
        kind: PropertyType::Choice(&["auto", "on", "off"]),
        config_key: "contango.gpu",
        description: "Run eligible aggregations and anomaly scans on the GPU: auto (when present and the input is large), on, off",
    },
    PropertyDef {
        name: "gpu_memory_limit",
        kind: PropertyType::Bigint {
            min: 1,
            max: 1 << 50,
        },
        config_key: "contango.gpu_memory_limit",
        description: "Most bytes of GPU memory one aggregation may take; beyond it the query finishes on the CPU",
    },
    PropertyDef {
        name: "gpu_min_rows",
        kind: PropertyType::Bigint {
            min: 1,
            max: i64::MAX as u64,
        },
        config_key: "contango.gpu_min_rows",
        description: "Input rows below which gpu = auto stays on the CPU",
    },
    PropertyDef {
        name: "max_recursion_depth",
        kind: PropertyType::Bigint {
            min: 1,
            max: 1_000_000,
        },
        config_key: "",
        description: "Most iterations of a recursive query (Trino's default: 10)",
    },
    PropertyDef {
        name: "prefer_hash_join",
        kind: PropertyType::Boolean,
        config_key: "datafusion.optimizer.prefer_hash_join",
        description: "Prefer hash joins over sort-merge joins",
    },
    PropertyDef {
        name: "repartition_aggregations",
        kind: PropertyType::Boolean,
        config_key: "datafusion.optimizer.repartition_aggregations",
        description: "Run aggregations in parallel partitions",
    },
    PropertyDef {
        name: "query_max_execution_time",
        kind: PropertyType::Duration,
        config_key: "",
        description: "Longest a query may run once admitted, queueing not counted (Trino duration: 30s, 10m, 1h); the server's limit applies when it is shorter",
    },
    PropertyDef {
        name: "query_max_memory",
        kind: PropertyType::DataSize,
        config_key: "",
        description: "Most memory one query may take (Trino data size: 512MB, 2GB); operators that can spill do, others fail with EXCEEDED_LOCAL_MEMORY_LIMIT; the server's limit applies when it is smaller",
    },
    PropertyDef {
        name: "query_max_run_time",
        kind: PropertyType::Duration,
        config_key: "",
        description: "Longest a query may run, from submission to its last row (Trino duration: 30s, 10m, 1h); the server's limit applies when it is shorter",
    },
    PropertyDef {
        name: "results_cache",
        kind: PropertyType::Boolean,
        config_key: "",
        description: "Answer a repeated query from the results cache while the tables it reads are unchanged (false: always run it)",
    },
    PropertyDef {
        name: "task_concurrency",
        kind: PropertyType::Bigint {
            min: 1,
            max: MAX_TASK_CONCURRENCY,
        },
        config_key: "datafusion.execution.target_partitions",
        description: "Parallel partitions per query",
    },
];

/// The definition of `name`, or Trino's error for an unknown property.
pub fn lookup(name: &str) -> Result<&'static PropertyDef> {
    PROPERTIES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ContangoError::invalid_session_property(format!(
                "Session property '{name}' does not exist"
            ))
        })
}

/// The value normalised for its type (`TRUE` → `true`), or an error.
pub fn check(name: &str, value: &str) -> Result<String> {
    let def = lookup(name)?;
    let bad = || {
        ContangoError::invalid_session_property(format!(
            "Session property '{}' must be a {}, got '{value}'",
            def.name,
            def.kind.name()
        ))
    };
    match def.kind {
        PropertyType::Bigint { min, max } => match value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            Ok(_) => Err(ContangoError::invalid_session_property(format!(
                "Session property '{}' must be between {min} and {max}, got '{value}'",
                def.name
            ))),
            _ => Err(bad()),
        },
        PropertyType::Duration => match parse_duration(value) {
            Some(_) => Ok(value.trim().to_string()),
            None => Err(ContangoError::invalid_session_property(format!(
                "Session property '{}' must be a duration such as 30s, 10m or 1.5h, got '{value}'",
                def.name
            ))),
        },
        PropertyType::DataSize => match crate::limits::parse_data_size(value) {
            Some(n) if n > 0 => Ok(value.trim().to_string()),
            _ => Err(ContangoError::invalid_session_property(format!(
                "Session property '{}' must be a data size such as 512MB or 2GB, got '{value}'",
                def.name
            ))),
        },
        PropertyType::Boolean => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(bad()),
        },
        PropertyType::Choice(values) => {
            let v = value.trim().to_ascii_lowercase();
            if values.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(ContangoError::invalid_session_property(format!(
                    "Session property '{}' must be one of {}, got '{value}'",
                    def.name,
                    values.join(", ")
                )))
            }
        }
    }
}

/// A Trino duration (`<number><unit>`, unit one of ns, us, ms, s, m, h,
/// d), or `None` when `text` is not one or is out of range.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = number_and_unit(text)?;
    let seconds = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * seconds).ok()
}

/// `query_max_memory` when neither the session nor the server sets one
/// (Trino's default `query.max-memory`).
pub const DEFAULT_QUERY_MAX_MEMORY: &str = "20GB";

/// `<number><unit>` (Trino's durations and data sizes): the number and the
/// trimmed unit, or `None` when the number does not parse.
pub fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// Default value of a property, as `SHOW SESSION` prints it.
pub fn default_value(def: &PropertyDef) -> String {
    match def.name {
        "results_cache" => return "true".into(),
        "max_recursion_depth" => {
            return crate::recursion_depth::DEFAULT_MAX_RECURSION_DEPTH.to_string();
        }
        _ => {}
    }
    match def.kind {
        PropertyType::Duration => return DEFAULT_QUERY_MAX_RUN_TIME.to_string(),
        PropertyType::DataSize => return DEFAULT_QUERY_MAX_MEMORY.to_string(),
        _ => {}
    }
    let defaults =
        SessionConfig::new().with_option_extension(contango_timeseries::gpu::GpuOptions::default());
    defaults
        .options()
        .entries()
        .into_iter()
        // Extension entries (`contango.*`) are listed without their prefix.
        .find(|e| {
            e.key == def.config_key || def.config_key.strip_prefix("contango.") == Some(&e.key)
        })
        .and_then(|e| e.value)
        .unwrap_or_default()
}

/// Applies every property of the session to `config`.
pub fn apply<'a>(
    mut config: SessionConfig,
    properties: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<SessionConfig> {
    for (name, value) in properties {
        let def = lookup(name)?;
        let value = check(name, value)?;
        if def.config_key.is_empty() {
            continue;
        }
        config
            .options_mut()
            .set(def.config_key, &value)
            .map_err(|e| ContangoError::invalid_session_property(e.strip_backtrace()))?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contango_common::error::ErrorKind;

    #[test]
    fn values_are_checked_and_applied() {
        assert_eq!(check("BATCH_SIZE", " 1024 ").unwrap(), "1024");
        assert_eq!(check("prefer_hash_join", "FALSE").unwrap(), "false");
        for (name, value) in [
            ("batch_size", "0"),
            ("batch_size", "x"),
            ("batch_size", "2147483648"),
            ("task_concurrency", "18446744073709551615"),
            ("gpu_memory_limit", "18446744073709551615"),
            ("query_max_run_time", "10 parsecs"),
            ("query_max_run_time", "-1s"),
            ("prefer_hash_join", "1"),
        ] {
            assert_eq!(
                check(name, value).unwrap_err().kind(),
                ErrorKind::InvalidSessionProperty
            );
        }
        assert!(
            check("batch_size", "2147483648")
                .unwrap_err()
                .message()
                .contains("between 1 and 1048576")
        );
        assert_eq!(check("query_max_run_time", " 10m ").unwrap(), "10m");
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("100.00d"),
            Some(Duration::from_secs(8_640_000))
        );
        assert_eq!(parse_duration("10"), None);
        assert_eq!(
            default_value(lookup("query_max_run_time").unwrap()),
            "100.00d"
        );
        let e = check("nope", "1").unwrap_err();
        assert_eq!(e.message(), "Session property 'nope' does not exist");
        let props = [("batch_size".to_string(), "123".to_string())];
        let config = apply(SessionConfig::new(), props.iter().map(|(a, b)| (a, b))).unwrap();
        assert_eq!(config.batch_size(), 123);
        assert_eq!(default_value(lookup("batch_size").unwrap()), "8192");
        assert_eq!(default_value(lookup("gpu").unwrap()), "auto");
        assert_eq!(default_value(lookup("results_cache").unwrap()), "true");
        assert_eq!(default_value(lookup("max_recursion_depth").unwrap()), "10");
        assert_eq!(check("GPU", " OFF ").unwrap(), "off");
        assert!(
            check("gpu", "sometimes")
                .unwrap_err()
                .message()
                .contains("auto, on, off")
        );
    }
}
