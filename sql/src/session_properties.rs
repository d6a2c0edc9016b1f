//! Session properties clients may set (`SET SESSION`, `X-Trino-Session`),
//! each checked against its type and applied to the DataFusion configuration
//! of the statement. Unknown names are refused, as Trino refuses them.

use datafusion::prelude::SessionConfig;

use contango_common::error::{ContangoError, Result};

/// Type of a property value, in Trino's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// `bigint` (a positive integer here).
    Bigint,
    /// `boolean`.
    Boolean,
    /// `varchar`, one of the listed values.
    Choice(&'static [&'static str]),
}

impl PropertyType {
    /// Trino's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::Bigint => "bigint",
            PropertyType::Boolean => "boolean",
            PropertyType::Choice(_) => "varchar",
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
    /// DataFusion configuration key it sets.
    pub config_key: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// Every supported property.
pub const PROPERTIES: &[PropertyDef] = &[
    PropertyDef {
        name: "batch_size",
        kind: PropertyType::Bigint,
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
        kind: PropertyType::Bigint,
        config_key: "contango.gpu_memory_limit",
        description: "Most bytes of GPU memory one aggregation may take; beyond it the query finishes on the CPU",
    },
    PropertyDef {
        name: "gpu_min_rows",
        kind: PropertyType::Bigint,
        config_key: "contango.gpu_min_rows",
        description: "Input rows below which gpu = auto stays on the CPU",
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
        name: "task_concurrency",
        kind: PropertyType::Bigint,
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
        PropertyType::Bigint => match value.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n.to_string()),
            _ => Err(bad()),
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

/// Default value of a property, as `SHOW SESSION` prints it.
pub fn default_value(def: &PropertyDef) -> String {
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
            ("prefer_hash_join", "1"),
        ] {
            assert_eq!(
                check(name, value).unwrap_err().kind(),
                ErrorKind::InvalidSessionProperty
            );
        }
        let e = check("nope", "1").unwrap_err();
        assert_eq!(e.message(), "Session property 'nope' does not exist");
        let props = [("batch_size".to_string(), "123".to_string())];
        let config = apply(SessionConfig::new(), props.iter().map(|(a, b)| (a, b))).unwrap();
        assert_eq!(config.batch_size(), 123);
        assert_eq!(default_value(lookup("batch_size").unwrap()), "8192");
        assert_eq!(default_value(lookup("gpu").unwrap()), "auto");
        assert_eq!(check("GPU", " OFF ").unwrap(), "off");
        assert!(
            check("gpu", "sometimes")
                .unwrap_err()
                .message()
                .contains("auto, on, off")
        );
    }
}
