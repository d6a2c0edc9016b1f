//! A query's stop signal, carried to function evaluation.
//!
//! Killing a query (a cancel, a time limit) drops its result stream, which
//! stops DataFusion's tasks at their next await point, but a function call
//! evaluating a batch runs to its end first. Functions whose one call can
//! run long (regular expressions over long text) check this signal between
//! slices of their input and stop early. It travels in the statement's
//! DataFusion config as an extension, so every task of the query sees it.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::error::{DataFusionError, Result as DFResult};

/// Set once, when the query is killed; shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct QueryStop(Arc<AtomicBool>);

impl QueryStop {
    /// Signals every holder to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Whether the query running with `config` was stopped (false when the
    /// config carries no signal, e.g. constant folding at planning).
    pub fn stopped(config: &ConfigOptions) -> bool {
        config
            .extensions
            .get::<QueryStop>()
            .is_some_and(QueryStop::is_stopped)
    }
}

/// A signal is not part of what a session is: sessions compare equal
/// whatever their signals.
impl PartialEq for QueryStop {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for QueryStop {}

impl ExtensionOptions for QueryStop {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DFResult<()> {
        Err(DataFusionError::Configuration(format!(
            "{}.{key} cannot be set",
            Self::PREFIX
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

impl ConfigExtension for QueryStop {
    const PREFIX: &'static str = "contango_query";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_signal_through_the_config() {
        let stop = QueryStop::default();
        let mut config = ConfigOptions::new();
        assert!(!QueryStop::stopped(&config));
        config.extensions.insert(stop.clone());
        let copied = config.clone();
        assert!(!QueryStop::stopped(&copied));
        stop.stop();
        assert!(QueryStop::stopped(&copied));
        assert!(config.set("contango_query.x", "1").is_err());
    }
}
