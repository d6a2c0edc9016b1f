//! Arrow Flight SQL endpoint.
//!
//! [`service::FlightSqlImpl`] implements arrow-flight's `FlightSqlService`;
//! [`schema::ContangoFlight`] wraps it to add `GetSchema`, which the generic
//! Flight SQL dispatcher leaves unimplemented.

mod metadata;
mod plan_cache;
mod prepared;
mod schema;
mod service;
mod status;

use std::future::Future;

use arrow_flight::flight_service_server::FlightServiceServer;
use contango_common::error::{ContangoError, Result};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::app::App;
pub use schema::ContangoFlight;
pub use service::FlightSqlImpl;

/// Largest message accepted or sent (parameters, large batches).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Accepted connections with TCP_NODELAY: small replies (FlightInfo, one-row
/// results) must not wait for delayed ACKs (measured: ~90 ms per query without).
fn incoming(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        if let Ok(c) = &conn {
            let _ = c.set_nodelay(true);
        }
        conn
    })
}

fn app_config(app: &App) -> &crate::config::ServerConfig {
    &app.config.server
}

/// Serves Flight SQL on `listener` until `shutdown` resolves (over TLS
/// when `[server] tls_cert` and `tls_key` are set).
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let service = FlightServiceServer::new(ContangoFlight::new(FlightSqlImpl::new(app.clone())))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut builder = tonic::transport::Server::builder();
    let (cert, key) = (&app_config(&app).tls_cert, &app_config(&app).tls_key);
    if !cert.is_empty() && !key.is_empty() {
        // The same certificate as the HTTP port: passwords travel only over TLS.
        let read = |p: &str| {
            std::fs::read(p)
                .map_err(|e| ContangoError::invalid(format!("cannot read TLS file {p}: {e}")))
        };
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| ContangoError::invalid(format!("Flight SQL TLS setup: {e}")))?;
    }
    builder
        .add_service(service)
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
        .map_err(|e| ContangoError::internal(format!("flight server: {e}")))
}
