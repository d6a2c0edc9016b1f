//! SQL layer shared by every endpoint: the session model, the error model,
//! the client statement policy and the query engine on DataFusion.

pub mod engine;
pub mod error;
pub mod guard;
pub mod placeholders;
pub mod session;

pub use engine::{CatalogSource, PlannedStatement, QueryEngine};
pub use error::{ContangoError, ErrorKind, Result};
pub use session::Session;
