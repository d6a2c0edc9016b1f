//! Iceberg catalogs and object stores, exposed to DataFusion.
//!
//! - [`storage`]: Iceberg `Storage` over `object_store` (local disk, S3/MinIO).
//! - [`connect`](mod@connect): opening SQL (SQLite/PostgreSQL, JDBC layout) and REST catalogs.
//! - [`provider`]: a live DataFusion catalog: namespaces and tables are listed
//!   before each statement and table metadata is loaded per query, so commits
//!   by any writer are visible at once.
//! - [`table`]: the table provider: exact filter pushdown, reads in the current schema.
//! - [`writer`]: appending Arrow batches to (partitioned) Iceberg tables.
//! - [`import`]: loading CSV / Parquet / NDJSON files into tables.
//! - [`stream_offsets`]: Kafka positions recorded in snapshot summaries.
//! - [`compact`]: rewriting small files of closed partitions (one replace snapshot).
//! - [`guarded_commit`]: appends that commit only on the snapshot the writer checked.
//! - [`live`]: the uncommitted tail of streamed tables, unioned into scans.

pub mod accelerate;
pub mod compact;
pub mod connect;
pub mod guarded_commit;
pub mod import;
pub mod live;
pub mod metadata_tables;
pub mod native_scan;
pub mod provider;
pub mod storage;
pub mod stream_offsets;
pub mod table;
pub mod table_info;
pub mod time_travel;
pub mod writer;

pub use connect::{CatalogKind, CatalogSettings, connect};
pub use provider::IcebergCatalog;
pub use storage::S3Settings;
