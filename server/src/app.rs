//! Process wiring: open the catalog, build the engine, run the endpoints.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contango_catalog::{CatalogSettings, IcebergCatalog};
use contango_common::error::{ContangoError, Result};
use contango_common::{CatalogSource, Session};
use contango_sql::QueryEngine;
use tokio::net::TcpListener;
use tokio::sync::watch;

use contango_common::stream::{CommitSink, Committed};
use contango_connector::{StreamEnv, StreamRegistry, Streams};
use contango_quality::{QualityCatalog, QualityRunner, QualityShared};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::auth::Authenticator;
use crate::config::Config;

/// Everything the endpoints share.
#[derive(Debug, Clone)]
pub struct App {
    /// Resolved configuration.
    pub config: Arc<Config>,
    /// Catalog settings (resolved defaults).
    pub catalog_settings: Arc<CatalogSettings>,
    /// The Iceberg catalog as registered in the engine.
    pub catalog: IcebergCatalog,
    /// The query core.
    pub engine: QueryEngine,
    /// Credentials and tokens.
    pub auth: Arc<Authenticator>,
    /// Metrics of the Kafka streams (`system.runtime.streams`, `/metrics`).
    pub streams: Arc<StreamRegistry>,
    /// Quality metrics history (`[quality] history`), fed by stream commits.
    pub quality: Option<Arc<QualityRunner>>,
    /// Stream commits, announced to the quality runner.
    commits: Option<CommitSink>,
    /// The receiving end, taken by [`serve`].
    commit_feed: Arc<parking_lot::Mutex<Option<UnboundedReceiver<Committed>>>>,
}

impl App {
    /// Opens the catalog described by `config`.
    pub async fn open(config: Config) -> Result<Self> {
        config.validate()?;
        let settings = config.catalog_settings();
        tracing::info!(catalog = ?settings, "opening catalog");
        let iceberg = contango_catalog::connect(&settings).await?;
        let mut catalog = IcebergCatalog::new(settings.name.clone(), iceberg);
        if config.catalog.native_scan {
            catalog = catalog.with_native_scans(settings.s3.clone());
        }
        // Always: tables may also be accelerated at run time (CALL).
        catalog = catalog.with_accelerations(config.accelerations()?, config.default_host_memory());
        let streams = Arc::new(StreamRegistry::default());
        let source = Arc::new(catalog.clone()) as Arc<dyn CatalogSource>;
        let shared = config
            .quality
            .enabled
            .then(|| QualityShared::new(config.quality.clone(), source.clone()));
        let served = match &shared {
            Some(s) => QualityCatalog::new(s.clone()) as Arc<dyn CatalogSource>,
            None => source,
        };
        let limits = config.limits()?;
        let engine = QueryEngine::new(vec![served])
            .with_runtime_table("streams", streams.table())
            .with_runtime_table("accelerations", catalog.accelerations().table())
            .with_gpu(config.gpu.options())
            .with_limits(limits)
            .with_results_cache(config.results_cache_size()?);
        let (mut quality, mut commits, mut commit_feed) = (None, None, None);
        if let Some(shared) = shared {
            // Rules naming columns that do not exist are refused at start
            // (an unreachable catalog is not: queries report it).
            match engine.refresh().await {
                Ok(()) => {
                    shared
                        .monitored()
                        .await
                        .map_err(|e| ContangoError::invalid(e.to_string()))?;
                }
                Err(e) => {
                    tracing::warn!(error = %e.message(), "quality rules not checked at start")
                }
            }
            if config.quality.history {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                quality = Some(QualityRunner::new(
                    shared,
                    engine.clone(),
                    catalog.catalog().clone(),
                ));
                commits = Some(tx);
                commit_feed = Some(rx);
            }
        }
        let insecure_basic = crate::auth::InsecureBasic::parse(&config.auth.insecure_basic)
            .ok_or_else(|| {
                ContangoError::invalid(format!(
                    "auth.insecure_basic must be 'refuse' or 'loopback', not '{}'",
                    config.auth.insecure_basic
                ))
            })?;
        let auth = Arc::new(
            Authenticator::new(
                config.auth.enabled,
                config.auth.users.clone(),
                Duration::from_secs(config.auth.token_ttl_secs),
            )
            .with_admins(config.auth.admins.iter().cloned())
            .with_insecure_basic(insecure_basic),
        );
        Ok(Self {
            config: Arc::new(config),
            catalog_settings: Arc::new(settings),
            catalog,
            engine,
            auth,
            streams,
            quality,
            commits,
            commit_feed: Arc::new(parking_lot::Mutex::new(commit_feed)),
        })
    }

    /// What the streams share: catalog, hot tails, metrics.
    pub fn stream_env(&self) -> StreamEnv {
        StreamEnv {
            catalog: self.catalog.catalog().clone(),
            catalog_name: self.catalog_settings.name.clone(),
            catalog_settings: self.catalog_settings.clone(),
            live: self.catalog.live_tails().clone(),
            registry: self.streams.clone(),
            commits: self.commits.clone(),
        }
    }

    /// A fresh session for `user` on the configured catalog and default schema.
    pub fn new_session(&self, user: &str) -> Session {
        let mut session = Session::new(
            user,
            self.catalog_settings.name.clone(),
            self.config.catalog.default_schema.clone(),
        );
        session.admin = self.auth.is_admin(user);
        session
    }
}

/// Listening endpoints of a running server.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Flight SQL address.
    pub flight: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
}

/// Binds both endpoints (port 0 picks a free port), starts the configured
/// streams and serves until `shutdown` flips; then stops the streams (each
/// commits what it has received).
pub async fn serve(
    app: App,
    mut shutdown: watch::Receiver<bool>,
    on_bound: impl FnOnce(Bound),
) -> Result<()> {
    let flight = bind(&app.config.server.flight_addr).await?;
    let http = bind(&app.config.server.http_addr).await?;
    let streams = Streams::start(&app.config.streams, &app.stream_env())?;
    let quality_task = match (&app.quality, app.commit_feed.lock().take()) {
        (Some(runner), Some(feed)) => {
            Some(tokio::spawn(runner.clone().run(feed, shutdown.clone())))
        }
        _ => None,
    };
    let bound = Bound {
        flight: flight.local_addr().map_err(io_err)?,
        http: http.local_addr().map_err(io_err)?,
    };
    tracing::info!(flight = %bound.flight, http = %bound.http, "serving");
    on_bound(bound);
    let mut s1 = shutdown.clone();
    let flight_task = tokio::spawn(crate::flight::serve(app.clone(), flight, async move {
        let _ = s1.wait_for(|v| *v).await;
    }));
    let http_task = tokio::spawn(crate::http::serve(app, http, async move {
        let _ = shutdown.wait_for(|v| *v).await;
    }));
    let (a, b) = tokio::join!(flight_task, http_task);
    streams.stop().await;
    if let Some(t) = quality_task {
        let _ = t.await;
    }
    a.map_err(|e| ContangoError::internal(e.to_string()))??;
    b.map_err(|e| ContangoError::internal(e.to_string()))??;
    Ok(())
}

async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ContangoError::unavailable(format!("cannot listen on {addr}: {e}")))
}

fn io_err(e: std::io::Error) -> ContangoError {
    ContangoError::internal(e.to_string())
}
