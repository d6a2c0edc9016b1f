//! The Trino language on DataFusion, shared by every endpoint: the lexer and
//! dialect rewrites, the Trino statements DataFusion does not plan (USE, SET
//! SESSION, PREPARE/EXECUTE, EXPLAIN forms, SHOW), the client statement
//! policy, the metadata catalogs (`information_schema`, `system`), and the
//! [`QueryEngine`] that builds each session's context and plans and streams
//! queries. Wire formats live with their endpoints in the server; the
//! function library in `contango-functions` and `contango-timeseries`.

pub mod ast_rewrites;
pub mod dialect;
pub mod engine;
pub mod execution;
pub mod guard;
pub mod lexer;
pub mod limits;
pub mod metadata;
pub mod placeholders;
mod procedures;
pub mod queries;
pub mod recursion_depth;
pub mod recursive_projections;
pub mod results_cache;
pub mod session_properties;
pub mod shape;
pub mod statements;
pub mod submit;
pub mod trino_show;

pub use engine::{PlannedStatement, QueryEngine};
pub use submit::Submission;
