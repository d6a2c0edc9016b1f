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

/// Serves Flight SQL on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let service = FlightServiceServer::new(ContangoFlight::new(FlightSqlImpl::new(app)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
        .map_err(|e| ContangoError::internal(format!("flight server: {e}")))
}
