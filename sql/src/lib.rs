//! SQL layer shared by every endpoint: the session model, the error model,
//! the client statement policy, the query engine on DataFusion, and the one
//! Arrow ↔ Trino type map with Trino's JSON value encoding.

pub mod ast_rewrites;
pub mod columns;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod functions;
pub mod gpu;
pub mod guard;
pub mod lexer;
pub mod metadata;
pub mod placeholders;
pub mod queries;
pub mod session;
pub mod session_properties;
pub mod statements;
pub mod table_info;
pub mod trino_json;
pub mod trino_show;
pub mod trino_types;

pub use engine::{CatalogSource, PlannedStatement, QueryEngine};
pub use error::{ContangoError, ErrorKind, Result};
pub use session::{Session, SessionUpdate};
pub use table_info::TableInfo;
