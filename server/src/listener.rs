//! The HTTP port's accept loop, with or without TLS: each request carries
//! the facts of its connection ([`Connection`]: peer, local address, TLS)
//! for authentication and `nextUri`s; a client that does not finish its
//! request headers within the request timeout (`[server] request_timeout`),
//! or leaves a kept-alive connection idle that long, is disconnected, so
//! slow or half-open connections cannot pile up; shutdown drains open
//! connections (bounded).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use contango_common::error::Result;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request's connection is: a request extension on every request.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Serves `router` on `listener` (over TLS with `acceptor`) until
/// `shutdown` resolves; `header_timeout` bounds how long a request's headers
/// may take.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let Ok(local) = tcp.local_addr() else { continue };
                let router = router.clone();
                let watcher = graceful.watcher();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        let conn = Connection { peer, local, tls: false };
                        return serve_connection(tcp, conn, router, watcher, header_timeout).await;
                    };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let conn = Connection { peer, local, tls: true };
                            serve_connection(tls, conn, router, watcher, header_timeout).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    Ok(())
}

async fn serve_connection<IO>(
    io: IO,
    conn: Connection,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
    header_timeout: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(conn);
        router.clone().oneshot(request)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(header_timeout));
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(peer = %conn.peer, error = %e, "HTTP connection ended with an error");
    }
}
