//! The bottom crate: what every other Contango crate shares, depending on
//! nothing of ours.
//!
//! - [`error`]: the one error model (kinds, client message, source chain).
//! - [`session`]: the one client session model and the changes statements make.
//! - [`catalog`]: the trait a catalog implements to be queried, and table
//!   information as plain data.
//! - [`types`]: the one Arrow ↔ Trino type map.
//! - [`stream`]: what Kafka streams record (offsets, lineage columns, commits).
//! - [`columns`]: small Arrow and plan helpers the operators share.
//! - [`metrics`]: the one Prometheus registry every metric is registered in.
//! - [`stop`]: a query's stop signal, seen by long-running function calls.

pub mod catalog;
pub mod columns;
pub mod error;
pub mod metrics;
pub mod session;
pub mod stop;
pub mod stream;
pub mod types;

pub use catalog::{AccelerationRequest, CatalogSource, TableInfo};
pub use error::{ContangoError, ErrorKind, Result};
pub use session::{Session, SessionUpdate};
