//! Commodity time-series analytics and the GPU operators that run them, in
//! one crate so a function and its device path live together:
//!
//! - [`commodity`]: `vwap`, `open_price`/`close_price` ([`open_close`]),
//!   `time_bucket`, `log_return`, `zscore`, `mad_zscore` (the CPU path);
//! - [`anomalies`]: the `anomalies(table, method, window, threshold)` table
//!   function, with the result's filters pushed into its input and a `ts`
//!   lower bound turned into the history its rows need ([`history`]);
//! - [`asof`]: the `asof_join(left, right, on, ts, join)` table function;
//! - [`gpu`]: GPU placement (`gpu = auto|on|off`), the GPU DataFusion
//!   operators, their CPU fallback and counters.
//!
//! Kernels and their CPU references live in `contango-gpu-kernels`, which
//! knows buffers, not plans. *Invariant:* every operator here returns what the
//! DataFusion plan it replaces returns, on the GPU or the CPU.

pub mod anomalies;
pub mod asof;
pub mod commodity;
pub mod gpu;
pub mod history;
pub mod open_close;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

/// Registers the commodity functions and table functions on `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in commodity::scalars() {
        ctx.register_udf(f);
    }
    for f in commodity::aggregates() {
        ctx.register_udaf(f);
    }
    for f in commodity::windows() {
        ctx.register_udwf(f);
    }
    ctx.register_udtf("anomalies", Arc::new(anomalies::Anomalies));
    ctx.register_udtf("asof_join", Arc::new(asof::AsofJoin::default()));
}

/// The Trino function library and this crate's functions, on a test context.
#[cfg(test)]
pub(crate) fn register_all(ctx: &SessionContext, time_zone: &str) {
    contango_functions::register(ctx, time_zone);
    register(ctx);
}
