//! Continuous materialization of Kafka price streams into Iceberg, exactly once.
//!
//! - [`config`]: `[[streams]]` / `--stream key=value,...`.
//! - [`record`]: decoding and validating one JSON message (reason codes).
//! - [`chunk`]: table schemas; messages → Arrow chunks (ticks, rejects, offsets).
//! - [`consumer`]: the librdkafka consumer thread (explicit assignment).
//! - [`stream`]: supervisor and committer: the exactly-once protocol.
//! - [`rollup`]: OHLCV bars emitted when they close, correct under lateness.
//! - [`metrics`]: `system.runtime.streams` and Prometheus text.
//! - [`producer`]: replays the synthetic market into a topic (demo, bench).

pub mod chunk;
pub mod config;
pub mod consumer;
pub mod metrics;
pub mod producer;
pub mod record;
pub mod rollup;
pub mod stream;

pub use config::StreamConfig;
pub use metrics::StreamRegistry;
pub use stream::{StreamEnv, Streams};
