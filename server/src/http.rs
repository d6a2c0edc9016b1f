//! The HTTP endpoint: `/healthz`, `/metrics` (Prometheus) and the Trino client protocol
//! (`/v1/statement`, `/v1/info`).

use std::future::Future;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use contango_common::error::Result;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::App;

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Families read from live state: exported from the first scrape on.
    contango_timeseries::gpu::stats::register();
    contango_sql::limits::register_metrics();
    if let Some(q) = &app.quality {
        contango_quality::prometheus::publish(q);
    }
    let router_app = app.clone();
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(crate::trino::router(app));
    let acceptor = crate::tls::acceptor(&app_tls(&router_app))?;
    let timeout = router_app.config.request_timeout()?;
    crate::listener::serve(listener, router, acceptor, timeout, shutdown).await
}

fn app_tls(app: &App) -> (String, String) {
    (
        app.config.server.tls_cert.clone(),
        app.config.server.tls_key.clone(),
    )
}

/// 200 when the catalog answers, 503 otherwise.
async fn healthz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    match app.engine.refresh().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": e.message()})),
        ),
    }
}

/// Prometheus text exposition of the process-wide registry: queries,
/// streams, quality, GPU and the process (the crate's process collector).
async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            contango_common::metrics::CONTENT_TYPE,
        )],
        contango_common::metrics::render(),
    )
}
