//! The `contango` server: configuration, protocol endpoints and the CLI.
//!
//! - [`config`]: `contango.toml` + `CONTANGO_*` variables.
//! - [`app`]: opens the catalog, builds the query engine, runs the endpoints.
//! - [`auth`]: users, Basic credentials and bearer tokens (both endpoints).
//! - [`flight`]: the Arrow Flight SQL endpoint.
//! - [`http`]: the HTTP endpoint (`/healthz`, plus [`trino`]).
//! - [`listener`]: the HTTP port's accept loop (TLS, connection facts, timeouts).
//! - [`trino`]: Trino's client REST protocol (`/v1/statement`).
//! - [`market_load`]: writes the synthetic market into Iceberg (demo, benches).
//! - [`cli`]: `serve`, `demo`, `import`, `sql`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod flight;
pub mod http;
pub mod listener;
pub mod market_load;
pub mod session_headers;
pub mod sql_client;
pub mod tls;
pub mod trino;
