//! Server configuration: `contango.toml`, overridden by `CONTANGO_*` environment
//! variables, overridden by command-line flags.
//!
//! Every key has an environment variable named after its path:
//! `[catalog] uri` is `CONTANGO_CATALOG_URI`, `data_dir` is `CONTANGO_DATA_DIR`.
//! `[auth] users` (a table of user = password) is `CONTANGO_AUTH_USERS="alice=pw,bob=pw2"`.
//! S3 credentials also fall back to the standard `AWS_*` variables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use contango_catalog::{CatalogKind, CatalogSettings, S3Settings};
use contango_common::error::{ContangoError, Result};
use contango_connector::StreamConfig;
use serde::{Deserialize, Serialize};

/// Whole configuration file.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded catalog and warehouse live.
    pub data_dir: PathBuf,
    /// Listening addresses.
    pub server: ServerConfig,
    /// The Iceberg catalog.
    pub catalog: CatalogConfig,
    /// S3-compatible object store for `s3://` warehouses.
    pub s3: S3Config,
    /// Authentication for both endpoints.
    pub auth: AuthConfig,
    /// GPU placement (`[gpu]`).
    pub gpu: GpuConfig,
    /// Data quality: views, rules, history (`[quality]`).
    pub quality: contango_quality::QualityConfig,
    /// Kafka → Iceberg streams (`[[streams]]`).
    pub streams: Vec<StreamConfig>,
    /// Tables held in memory (`[[accelerate]]`).
    pub accelerate: Vec<AccelerateConfig>,
}

/// `[[accelerate]]`: a table held in memory, refreshed from its snapshots
/// (see [`contango_catalog::accelerate`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AccelerateConfig {
    /// `catalog.namespace.table` (or `namespace.table`).
    pub table: String,
    /// Columns to hold (empty: all). Queries needing other columns read Iceberg.
    pub columns: Vec<String>,
    /// Sort (cluster) key, e.g. `["commodity", "ts"]`: filters on it read few chunks.
    pub sort: Vec<String>,
    /// Most host memory the copy may take (a data size: `4GB`); empty: a
    /// quarter of the machine's memory. A table that does not fit is read
    /// from Iceberg.
    pub host_memory: String,
    /// Hold only the most recent rows (a Trino duration: `90d`); empty:
    /// every row. Older rows are read from Iceberg.
    pub window: String,
    /// The timestamp or date column of `window`.
    pub window_column: String,
}

/// `[gpu]`: where eligible aggregations and anomaly scans run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    /// `auto` (GPU when present and the input has at least `min_rows` rows),
    /// `on` (GPU operators always; CPU reference kernels without a GPU), `off`.
    pub mode: String,
    /// Input rows below which `auto` stays on the CPU.
    pub min_rows: u64,
    /// Rows per chunk sent to the device (bounds device memory).
    pub chunk_rows: u64,
    /// Most device bytes one aggregation may take (0: what the device has free).
    pub memory_limit: u64,
}

impl Default for GpuConfig {
    fn default() -> Self {
        let d = contango_timeseries::gpu::GpuOptions::default();
        Self {
            mode: d.gpu,
            min_rows: d.gpu_min_rows,
            chunk_rows: d.gpu_chunk_rows,
            memory_limit: d.gpu_memory_limit,
        }
    }
}

impl GpuConfig {
    /// The session defaults these settings give.
    pub fn options(&self) -> contango_timeseries::gpu::GpuOptions {
        let mode = contango_timeseries::gpu::GpuMode::parse(&self.mode)
            .unwrap_or(contango_timeseries::gpu::GpuMode::Auto);
        let mut o = contango_timeseries::gpu::GpuOptions::new(mode, self.min_rows, self.chunk_rows);
        o.gpu_memory_limit = self.memory_limit;
        o
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Arrow Flight SQL address.
    pub flight_addr: String,
    /// HTTP address (`/healthz`, Trino protocol).
    pub http_addr: String,
    /// PEM certificate chain: when set (with `tls_key`), the HTTP port speaks
    /// HTTPS only (the Trino clients send passwords only over HTTPS).
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
    /// Longest any query may run (a Trino duration: `30s`, `10m`, `1h`);
    /// empty for no server limit. Sessions may ask for less with
    /// `SET SESSION query_max_run_time`, never for more.
    pub query_max_run_time: String,
    /// Longest any query may run once admitted (queueing not counted); empty
    /// for no server limit. Sessions may ask for less.
    pub query_max_execution_time: String,
    /// Most memory one query may take (a Trino data size: `2GB`, `512MB`);
    /// empty: half the machine's memory. Sessions may ask for less.
    pub query_max_memory: String,
    /// Queries that plan and run at once.
    pub max_running_queries: u64,
    /// Queries that may wait for a slot; beyond them QUERY_QUEUE_FULL.
    pub max_queued_queries: u64,
    /// Longest statement text, in characters (QUERY_TEXT_TOO_LARGE).
    pub max_statement_length: u64,
    /// Memory of the results cache (a data size: `256MB`; `0`: no cache):
    /// repeated queries over unchanged tables are answered from it.
    pub results_cache_size: String,
    /// Base URL clients reach the HTTP port at (`https://contango.example.com`),
    /// used for every `nextUri`. Empty: the address of the listener the
    /// request arrived on.
    pub external_url: String,
    /// Trust `X-Forwarded-Proto`, `X-Forwarded-Host` and `Host` for `nextUri`s
    /// (only behind a proxy that sets them). Ignored when `external_url` is set.
    pub trusted_proxy: bool,
    /// A Trino query whose client stops fetching pages for this long is
    /// cancelled and forgotten (Trino's `query.client.timeout`).
    pub client_timeout: String,
    /// How long an HTTP client may take to send a request's headers, and
    /// then its body; also how long a kept-alive connection may stay idle.
    pub request_timeout: String,
}

/// `[catalog]`
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Name clients see (`iceberg.<namespace>.<table>`).
    pub name: String,
    /// `sql` or `rest`.
    #[serde(rename = "type")]
    pub kind: String,
    /// SQL: `sqlite://PATH` or `postgres://...`; REST: base URL. Empty: `<data_dir>/catalog.db`.
    pub uri: String,
    /// `s3://bucket/prefix` or a local path. Empty: `<data_dir>/warehouse`.
    pub warehouse: String,
    /// REST bearer token.
    pub token: String,
    /// REST OAuth2 credential `client_id:secret`.
    pub credential: String,
    /// Schema used for unqualified table names.
    pub default_schema: String,
    /// Plan scans as DataFusion's parallel Parquet scan where exact (see
    /// `contango_catalog::native_scan`); `false` reads every table through
    /// iceberg-datafusion's single-stream reader.
    pub native_scan: bool,
}

/// `[s3]`
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL (MinIO: `http://127.0.0.1:9000`). Fallback `AWS_ENDPOINT_URL`.
    pub endpoint: String,
    /// Region. Fallback `AWS_REGION`, then `us-east-1`.
    pub region: String,
    /// Access key. Fallback `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// Secret key. Fallback `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// Allow plain HTTP endpoints.
    pub allow_http: bool,
    /// Path-style requests (MinIO's default deployment).
    pub path_style: bool,
}

/// `[auth]`
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require credentials on every endpoint.
    pub enabled: bool,
    /// user = password.
    pub users: BTreeMap<String, String>,
    /// Lifetime of bearer tokens issued by the Flight SQL handshake, seconds.
    pub token_ttl_secs: u64,
    /// Users in the administrator role: they see every user's queries in
    /// `system.runtime.queries` and may kill them.
    pub admins: Vec<String>,
    /// Basic credentials on connections without TLS: `refuse` (default) or
    /// `loopback` (accepted from clients on this machine only).
    pub insecure_basic: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("contango-data"),
            server: ServerConfig::default(),
            catalog: CatalogConfig::default(),
            s3: S3Config::default(),
            auth: AuthConfig::default(),
            gpu: GpuConfig::default(),
            quality: contango_quality::QualityConfig::default(),
            streams: Vec::new(),
            accelerate: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            flight_addr: "127.0.0.1:50051".into(),
            http_addr: "127.0.0.1:8080".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            query_max_run_time: String::new(),
            query_max_execution_time: String::new(),
            query_max_memory: String::new(),
            max_running_queries: contango_sql::limits::DEFAULT_MAX_RUNNING as u64,
            max_queued_queries: contango_sql::limits::DEFAULT_MAX_QUEUED as u64,
            max_statement_length: contango_sql::limits::DEFAULT_MAX_STATEMENT_LENGTH as u64,
            results_cache_size: "256MB".into(),
            external_url: String::new(),
            trusted_proxy: false,
            client_timeout: "5m".into(),
            request_timeout: "30s".into(),
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            name: "iceberg".into(),
            kind: "sql".into(),
            uri: String::new(),
            warehouse: String::new(),
            token: String::new(),
            credential: String::new(),
            default_schema: "market".into(),
            native_scan: true,
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
            path_style: true,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            users: BTreeMap::new(),
            token_ttl_secs: 86_400,
            admins: Vec::new(),
            insecure_basic: "refuse".into(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("server", &self.server)
            .field("catalog", &self.catalog_settings())
            .field("auth.enabled", &self.auth.enabled)
            .field("auth.users", &self.auth.users.keys().collect::<Vec<_>>())
            .field("gpu", &self.gpu)
            .field("quality", &self.quality)
            .field("streams", &self.streams)
            .field("accelerate", &self.accelerate)
            .finish()
    }
}

impl Config {
    /// Loads `path` (if given), then applies `CONTANGO_*` variables from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut value = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ContangoError::invalid(format!("cannot read config {}: {e}", p.display()))
                })?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ContangoError::invalid(format!("config {}: {e}", p.display())))?
            }
            None => toml::Table::new(),
        };
        let defaults = toml::Table::try_from(Config::default()).expect("defaults serialize");
        let env: BTreeMap<String, String> = env.into_iter().collect();
        apply_env(&mut value, &defaults, "CONTANGO", &env)?;
        value
            .try_into::<Config>()
            .map_err(|e| ContangoError::invalid(format!("invalid configuration: {e}")))
    }

    /// A loopback configuration on free ports over `data_dir` (tests, benchmarks).
    pub fn ephemeral(data_dir: &Path, users: BTreeMap<String, String>) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            server: ServerConfig {
                flight_addr: "127.0.0.1:0".into(),
                http_addr: "127.0.0.1:0".into(),
                ..ServerConfig::default()
            },
            auth: AuthConfig {
                enabled: !users.is_empty(),
                users,
                insecure_basic: "loopback".into(),
                ..AuthConfig::default()
            },
            ..Config::default()
        }
    }

    /// Catalog settings with defaults resolved against `data_dir` and `AWS_*` fallbacks.
    pub fn catalog_settings(&self) -> CatalogSettings {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let aws = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let uri = non_empty(&self.catalog.uri).unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                absolute(&self.data_dir).join("catalog.db").display()
            )
        });
        let warehouse = non_empty(&self.catalog.warehouse).unwrap_or_else(|| {
            absolute(&self.data_dir)
                .join("warehouse")
                .display()
                .to_string()
        });
        let endpoint = non_empty(&self.s3.endpoint).or_else(|| aws("AWS_ENDPOINT_URL"));
        CatalogSettings {
            name: self.catalog.name.clone(),
            kind: if self.catalog.kind.eq_ignore_ascii_case("rest") {
                CatalogKind::Rest
            } else {
                CatalogKind::Sql
            },
            uri,
            warehouse,
            token: non_empty(&self.catalog.token),
            credential: non_empty(&self.catalog.credential),
            s3: S3Settings {
                allow_http: self.s3.allow_http
                    || endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://")),
                endpoint,
                region: non_empty(&self.s3.region).or_else(|| aws("AWS_REGION")),
                access_key_id: non_empty(&self.s3.access_key_id)
                    .or_else(|| aws("AWS_ACCESS_KEY_ID")),
                secret_access_key: non_empty(&self.s3.secret_access_key)
                    .or_else(|| aws("AWS_SECRET_ACCESS_KEY")),
                session_token: aws("AWS_SESSION_TOKEN"),
                path_style: self.s3.path_style,
            },
        }
    }

    /// `server.client_timeout` as a duration.
    pub fn client_timeout(&self) -> Result<std::time::Duration> {
        duration_key("server.client_timeout", &self.server.client_timeout)
    }

    /// The query limits of `[server]` (see [`contango_sql::limits`]).
    pub fn limits(&self) -> Result<contango_sql::limits::Limits> {
        let optional_duration = |key: &str, text: &str| -> Result<Option<std::time::Duration>> {
            match text.trim() {
                "" => Ok(None),
                t => duration_key(key, t).map(Some),
            }
        };
        let max_memory = match self.server.query_max_memory.trim() {
            "" => total_memory().map(|m| m / 2),
            text => Some(
                contango_sql::limits::parse_data_size(text)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ContangoError::invalid(format!(
                            "server.query_max_memory must be a data size such as 2GB or 512MB, got '{text}'"
                        ))
                    })?,
            ),
        };
        if self.server.max_running_queries == 0 {
            return Err(ContangoError::invalid(
                "server.max_running_queries must be at least 1",
            ));
        }
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(contango_sql::limits::Limits {
            max_run_time: optional_duration(
                "server.query_max_run_time",
                &self.server.query_max_run_time,
            )?,
            max_execution_time: optional_duration(
                "server.query_max_execution_time",
                &self.server.query_max_execution_time,
            )?,
            max_memory,
            max_running: size(self.server.max_running_queries),
            max_queued: size(self.server.max_queued_queries),
            max_statement_length: size(self.server.max_statement_length),
        })
    }

    /// `server.results_cache_size` in bytes (0: no results cache).
    pub fn results_cache_size(&self) -> Result<usize> {
        let text = self.server.results_cache_size.trim();
        if text == "0" {
            return Ok(0);
        }
        contango_sql::limits::parse_data_size(text)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .ok_or_else(|| {
                ContangoError::invalid(format!(
                    "server.results_cache_size must be a data size such as 256MB, or 0, got '{text}'"
                ))
            })
    }

    /// The `[[accelerate]]` entries, checked: tables of this catalog, each
    /// once, read as `CALL system.runtime.accelerate` reads its arguments.
    pub fn accelerations(&self) -> Result<Vec<contango_catalog::accelerate::Spec>> {
        let mut specs: Vec<contango_catalog::accelerate::Spec> = Vec::new();
        for entry in &self.accelerate {
            let table =
                contango_catalog::writer::parse_table_name(&entry.table, &self.catalog.name)
                    .map_err(|e| {
                        ContangoError::invalid(format!("accelerate.table: {}", e.message()))
                    })?;
            if specs.iter().any(|s| s.table == table) {
                return Err(ContangoError::invalid(format!(
                    "accelerate: table '{}' is listed twice",
                    entry.table
                )));
            }
            let text = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
            let request = contango_sql::statements::AccelerateOptions {
                sort: entry.sort.clone(),
                columns: entry.columns.clone(),
                window: text(&entry.window),
                window_column: text(&entry.window_column),
                host_memory: text(&entry.host_memory),
            }
            .request()
            .map_err(|e| {
                ContangoError::invalid(format!("accelerate '{}': {}", entry.table, e.message()))
            })?;
            specs.push(contango_catalog::accelerate::Spec::from_request(
                table,
                request,
                self.default_host_memory(),
            ));
        }
        Ok(specs)
    }

    /// The host-memory budget of an accelerated table that names none: a
    /// quarter of the machine's memory (4 GiB where it is not known).
    pub fn default_host_memory(&self) -> usize {
        total_memory().map_or(4 << 30, |m| usize::try_from(m / 4).unwrap_or(usize::MAX))
    }

    /// `server.request_timeout` as a duration.
    pub fn request_timeout(&self) -> Result<std::time::Duration> {
        duration_key("server.request_timeout", &self.server.request_timeout)
    }

    /// Rejects configurations that cannot work.
    pub fn validate(&self) -> Result<()> {
        if !matches!(
            self.catalog.kind.to_ascii_lowercase().as_str(),
            "sql" | "rest"
        ) {
            return Err(ContangoError::invalid(format!(
                "catalog.type must be 'sql' or 'rest', not '{}'",
                self.catalog.kind
            )));
        }
        if self.catalog.kind.eq_ignore_ascii_case("rest") && self.catalog.uri.is_empty() {
            return Err(ContangoError::invalid(
                "catalog.uri is required for a REST catalog",
            ));
        }
        if self.auth.enabled && self.auth.users.is_empty() {
            return Err(ContangoError::invalid(
                "auth is enabled but no users are configured: add [auth.users] or set auth.enabled = false",
            ));
        }
        if crate::auth::InsecureBasic::parse(&self.auth.insecure_basic).is_none() {
            return Err(ContangoError::invalid(format!(
                "auth.insecure_basic must be 'refuse' or 'loopback', not '{}'",
                self.auth.insecure_basic
            )));
        }
        let url = &self.server.external_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ContangoError::invalid(format!(
                "server.external_url must start with http:// or https://, not '{}'",
                self.server.external_url
            )));
        }
        self.client_timeout()?;
        self.request_timeout()?;
        self.limits()?;
        self.results_cache_size()?;
        if contango_timeseries::gpu::GpuMode::parse(&self.gpu.mode).is_none() {
            return Err(ContangoError::invalid(format!(
                "gpu.mode must be 'auto', 'on' or 'off', not '{}'",
                self.gpu.mode
            )));
        }
        for s in &self.streams {
            s.validate()?;
        }
        self.accelerations()?;
        self.quality.validate().map_err(ContangoError::invalid)?;
        Ok(())
    }
}

/// The machine's memory in bytes (Linux `/proc/meminfo`), if known.
fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn duration_key(key: &str, text: &str) -> Result<std::time::Duration> {
    contango_sql::session_properties::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ContangoError::invalid(format!(
                "{key} must be a duration such as 30s or 5m, got '{text}'"
            ))
        })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Walks the default config's keys; a set `PREFIX_PATH_KEY` variable replaces the value.
fn apply_env(
    value: &mut toml::Table,
    defaults: &toml::Table,
    prefix: &str,
    env: &BTreeMap<String, String>,
) -> Result<()> {
    for (key, default) in defaults {
        let var = format!("{prefix}_{}", key.to_ascii_uppercase());
        match default {
            toml::Value::Table(inner) if key == "users" => {
                let _ = inner;
                if let Some(raw) = env.get(&var) {
                    let mut users = toml::Table::new();
                    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
                        let (u, p) = pair.split_once('=').ok_or_else(|| {
                            ContangoError::invalid(format!("{var}: expected user=password pairs"))
                        })?;
                        users.insert(u.trim().to_string(), toml::Value::String(p.to_string()));
                    }
                    value.insert(key.clone(), toml::Value::Table(users));
                }
            }
            toml::Value::Table(inner) => {
                let entry = value
                    .entry(key.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(table) = entry else {
                    return Err(ContangoError::invalid(format!(
                        "config key '{key}' must be a table"
                    )));
                };
                apply_env(table, inner, &var, env)?;
            }
            // `[[streams]]` come from the file or `--stream`.
            toml::Value::Array(_) if key == "streams" => {}
            // `CONTANGO_ACCELERATE=iceberg.market.ticks,...`: those tables
            // with the default layout (all columns, no sort key).
            toml::Value::Array(_) if key == "accelerate" => {
                if let Some(raw) = env.get(&var) {
                    let entries = raw
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|name| {
                            let mut entry = toml::Table::new();
                            entry.insert("table".into(), toml::Value::String(name.to_string()));
                            toml::Value::Table(entry)
                        })
                        .collect();
                    value.insert(key.clone(), toml::Value::Array(entries));
                }
            }
            // Lists of names: comma-separated.
            toml::Value::Array(_) => {
                if let Some(raw) = env.get(&var) {
                    let items = raw
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect();
                    value.insert(key.clone(), toml::Value::Array(items));
                }
            }
            scalar => {
                if let Some(raw) = env.get(&var) {
                    let parsed = match scalar {
                        toml::Value::Boolean(_) => toml::Value::Boolean(parse_bool(&var, raw)?),
                        toml::Value::Integer(_) => {
                            toml::Value::Integer(raw.parse().map_err(|_| {
                                ContangoError::invalid(format!(
                                    "{var}: expected an integer, got '{raw}'"
                                ))
                            })?)
                        }
                        toml::Value::Float(_) => match raw.trim().parse::<f64>() {
                            Ok(f) if f.is_finite() => toml::Value::Float(f),
                            _ => {
                                return Err(ContangoError::invalid(format!(
                                    "{var}: expected a number, got '{raw}'"
                                )));
                            }
                        },
                        _ => toml::Value::String(raw.clone()),
                    };
                    value.insert(key.clone(), parsed);
                }
            }
        }
    }
    Ok(())
}

fn parse_bool(var: &str, raw: &str) -> Result<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ContangoError::invalid(format!(
            "{var}: expected true/false, got '{raw}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/x\"\n[server]\nflight_addr = \"127.0.0.1:1\"\n[auth.users]\nalice = \"pw\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("CONTANGO_SERVER_FLIGHT_ADDR", "127.0.0.1:2"),
                ("CONTANGO_AUTH_ENABLED", "false"),
                ("CONTANGO_S3_PATH_STYLE", "no"),
                ("CONTANGO_CATALOG_NAME", "lake"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
        assert_eq!(c.server.flight_addr, "127.0.0.1:2");
        assert_eq!(c.server.http_addr, "127.0.0.1:8080");
        assert!(!c.auth.enabled);
        assert!(!c.s3.path_style);
        assert_eq!(c.catalog.name, "lake");
        assert_eq!(c.auth.users["alice"], "pw");
    }

    #[test]
    fn users_from_env_and_bad_values() {
        let c = Config::load(None, env(&[("CONTANGO_AUTH_USERS", "a=1,b=x=y")])).unwrap();
        assert_eq!(c.auth.users["a"], "1");
        assert_eq!(c.auth.users["b"], "x=y");
        let e = Config::load(None, env(&[("CONTANGO_AUTH_ENABLED", "maybe")])).unwrap_err();
        assert!(e.message().contains("CONTANGO_AUTH_ENABLED"));
        let e = Config::load(None, env(&[("CONTANGO_AUTH_TOKEN_TTL_SECS", "x")])).unwrap_err();
        assert!(e.message().contains("integer"));
    }

    #[test]
    fn results_cache_size_from_env_zero_and_bad_values() {
        let load = |v: &str| {
            Config::load(
                None,
                env(&[
                    ("CONTANGO_SERVER_RESULTS_CACHE_SIZE", v),
                    ("CONTANGO_AUTH_ENABLED", "false"),
                ]),
            )
            .unwrap()
        };
        assert_eq!(Config::default().results_cache_size().unwrap(), 256 << 20);
        assert_eq!(load("64MB").results_cache_size().unwrap(), 64 << 20);
        assert_eq!(load("0").results_cache_size().unwrap(), 0);
        let e = load("plenty").validate().unwrap_err();
        assert!(
            e.message().contains("server.results_cache_size"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn accelerate_entries_from_the_file_and_env_and_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[accelerate]]\ntable = \"iceberg.market.ticks\"\nsort = [\"commodity\", \"ts\"]\n\
             host_memory = \"2GB\"\nwindow = \"90d\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), env(&[("CONTANGO_AUTH_ENABLED", "false")])).unwrap();
        let specs = c.accelerations().unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].table.to_string(), "market.ticks");
        assert_eq!(specs[0].layout.sort, ["commodity", "ts"]);
        assert_eq!(specs[0].host_memory, 2 << 30);
        let window = specs[0].layout.window.as_ref().unwrap();
        assert_eq!(
            (window.column.as_str(), window.span.as_secs()),
            ("ts", 90 * 86_400)
        );
        // The environment names tables (default layout), replacing the file's list.
        let c = Config::load(
            Some(&path),
            env(&[
                ("CONTANGO_ACCELERATE", "iceberg.eia.wti, market.defects"),
                ("CONTANGO_AUTH_ENABLED", "false"),
            ]),
        )
        .unwrap();
        let names: Vec<String> = c
            .accelerations()
            .unwrap()
            .iter()
            .map(|s| s.table.to_string())
            .collect();
        assert_eq!(names, ["eia.wti", "market.defects"]);
        for (bad, says) in [
            ("table = \"other.market.ticks\"", "unknown catalog 'other'"),
            ("table = \"ticks\"", "must be iceberg.<namespace>.<table>"),
            (
                "table = \"market.t\"\nhost_memory = \"lots\"",
                "must be a data size",
            ),
            (
                "table = \"market.t\"\nwindow = \"soon\"",
                "must be a duration",
            ),
        ] {
            std::fs::write(&path, format!("[[accelerate]]\n{bad}\n")).unwrap();
            let e = Config::load(Some(&path), env(&[("CONTANGO_AUTH_ENABLED", "false")]))
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(e.message().contains(says), "{bad}: {}", e.message());
        }
        std::fs::write(
            &path,
            "[[accelerate]]\ntable = \"market.t\"\n[[accelerate]]\ntable = \"iceberg.market.t\"\n",
        )
        .unwrap();
        let e = Config::load(Some(&path), env(&[("CONTANGO_AUTH_ENABLED", "false")]))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.message().contains("listed twice"), "{}", e.message());
    }

    #[test]
    fn gpu_settings_from_env_and_bad_mode() {
        let ok = env(&[
            ("CONTANGO_GPU_MODE", "off"),
            ("CONTANGO_GPU_MIN_ROWS", "5000"),
            ("CONTANGO_AUTH_ENABLED", "false"),
        ]);
        let c = Config::load(None, ok).unwrap();
        c.validate().unwrap();
        let o = c.gpu.options();
        assert_eq!((o.gpu.as_str(), o.gpu_min_rows), ("off", 5000));
        assert_eq!(Config::default().gpu.mode, "auto");
        let bad = env(&[
            ("CONTANGO_GPU_MODE", "sometimes"),
            ("CONTANGO_AUTH_ENABLED", "false"),
        ]);
        let e = Config::load(None, bad).unwrap().validate().unwrap_err();
        assert!(
            e.message()
                .contains("gpu.mode must be 'auto', 'on' or 'off'"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn floats_and_lists_from_env() {
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let float_keys = float_paths(&defaults, "CONTANGO");
        assert!(!float_keys.is_empty(), "the configuration has float keys");
        for var in &float_keys {
            let mut value = toml::Table::new();
            apply_env(
                &mut value,
                &defaults,
                "CONTANGO",
                &[(var.clone(), "0.25".to_string())].into(),
            )
            .unwrap();
            let text = toml::to_string(&value).unwrap();
            assert!(text.contains("0.25"), "{var}: {text}");
            let e = apply_env(
                &mut value,
                &defaults,
                "CONTANGO",
                &[(var.clone(), "lots".to_string())].into(),
            )
            .unwrap_err();
            assert!(e.message().contains("expected a number"), "{}", e.message());
        }
        let c = Config::load(
            None,
            env(&[
                ("CONTANGO_AUTH_ADMINS", "root, ops"),
                ("CONTANGO_AUTH_INSECURE_BASIC", "loopback"),
            ]),
        )
        .unwrap();
        assert_eq!(c.auth.admins, vec!["root".to_string(), "ops".to_string()]);
        assert_eq!(c.auth.insecure_basic, "loopback");
    }

    fn float_paths(table: &toml::Table, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in table {
            let var = format!("{prefix}_{}", k.to_ascii_uppercase());
            match v {
                toml::Value::Float(_) => out.push(var),
                toml::Value::Table(t) => out.extend(float_paths(t, &var)),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn auth_and_server_settings_are_validated() {
        let mut c = Config::default();
        c.auth.enabled = false;
        c.validate().unwrap();
        c.auth.insecure_basic = "always".into();
        assert!(
            c.validate()
                .unwrap_err()
                .message()
                .contains("insecure_basic")
        );
        c.auth.insecure_basic = "loopback".into();
        c.server.external_url = "contango:8080".into();
        assert!(c.validate().unwrap_err().message().contains("external_url"));
        c.server.external_url = "https://contango.example.com".into();
        c.server.client_timeout = "soon".into();
        assert!(
            c.validate()
                .unwrap_err()
                .message()
                .contains("client_timeout")
        );
    }

    #[test]
    fn unknown_keys_and_missing_users_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nflight_adr = \"x\"\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err());
        let c = Config::load(None, env(&[])).unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = Config::default();
        c.auth.users.insert("alice".into(), "s3cret-pw".into());
        c.s3.secret_access_key = "AWSSECRET".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("AWSSECRET"),
            "{shown}"
        );
    }
}
