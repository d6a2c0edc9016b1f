//! The HTTP endpoint: `/healthz`, `/metrics` (Prometheus) and the Trino client protocol
//! (`/v1/statement`, `/v1/info`).

use std::future::Future;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use contango_common::error::{ContangoError, Result};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::App;

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let _ = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    });
    let router_app = app.clone();
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(crate::trino::router(app));
    if let Some(acceptor) = crate::tls::acceptor(&app_tls(&router_app))? {
        return crate::tls::serve(listener, router, acceptor, shutdown).await;
    }
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ContangoError::internal(format!("http server: {e}")))
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

/// Prometheus text exposition: queries, streams and the process.
async fn metrics(State(app): State<App>) -> impl axum::response::IntoResponse {
    let mut body = app.engine.queries().metrics().prometheus();
    body.push_str(&app.streams.prometheus());
    if let Some(q) = &app.quality {
        body.push_str(&contango_quality::prometheus::render(q));
    }
    body.push_str(&contango_timeseries::gpu::stats::prometheus());
    body.push_str(&process_metrics());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// When the process started (Unix seconds), set when the HTTP endpoint starts.
static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

/// The standard `process_*` metrics, read from `/proc/self` (Linux).
fn process_metrics() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut gauge = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
        && let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
    {
        gauge(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size.",
            pages * 4096.0,
        );
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
    {
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            f.get(i - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        gauge(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time.",
            (ticks(14) + ticks(15)) / 100.0,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(t) = STARTED.get() {
        gauge(
            "process_start_time_seconds",
            "gauge",
            "Start time, Unix seconds.",
            *t,
        );
    }
    out
}
