//! Trino client REST protocol on the HTTP port: `POST /v1/statement`, paged
//! `GET`/`DELETE` on `nextUri`, and `GET /v1/info`.
//!
//! With auth on, a query's `nextUri` serves pages and accepts a DELETE only
//! for the query's owner (the same credentials as the POST). `nextUri`s are
//! built from `[server] external_url`, else from the address the client
//! connected to; request headers (`Host`, `X-Forwarded-*`) are used only with
//! `[server] trusted_proxy`. A query whose client stops fetching for
//! `[server] client_timeout` is cancelled and forgotten.
//!
//! Queries run through the same [`QueryEngine`](contango_sql::QueryEngine),
//! session model, error model and type map as Flight SQL. The wire format is
//! here: [`json`](mod@json) (values), [`types`] (type signatures), `errors` (the error
//! object).

mod errors;
pub mod json;
mod query;
pub mod types;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contango_common::error::ContangoError;
use serde_json::json;

use crate::app::App;
use crate::auth::Caller;
use crate::config::ServerConfig;
use crate::listener::Connection;
use contango_sql::queries::Track;
use query::{Page, Queries, Started};

/// Largest statement body read at all: 4 bytes per character of the
/// longest statement (`[server] max_statement_length`), at most this. Longer
/// texts that fit are refused by the submission with QUERY_TEXT_TOO_LARGE.
const MAX_STATEMENT_BYTES: usize = 64 << 20;

#[derive(Clone)]
struct TrinoState {
    app: App,
    queries: Arc<Queries>,
    started: Instant,
}

/// Routes of the Trino protocol. Starts the task that cancels and forgets
/// abandoned queries (it ends with the router).
pub fn router(app: App) -> Router {
    let client_timeout = app
        .config
        .client_timeout()
        .unwrap_or(Duration::from_secs(300));
    let queries = Arc::new(Queries::new(client_timeout));
    Queries::reap_in_background(&queries);
    let state = TrinoState {
        app,
        queries,
        started: Instant::now(),
    };
    Router::new()
        .route("/v1/statement", post(submit))
        .route(
            "/v1/statement/executing/{id}/{slug}/{token}",
            get(next_page).delete(cancel),
        )
        .route("/v1/info", get(info))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

fn json_response(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// `http(s)://host:port` for absolute `nextUri`s: the configured external
/// URL; else, behind a trusted proxy, what the proxy says the client
/// addressed; else the address the client connected to.
fn base_url(server: &ServerConfig, headers: &HeaderMap, conn: &Connection) -> String {
    if !server.external_url.is_empty() {
        return server.external_url.trim_end_matches('/').to_string();
    }
    let scheme = if conn.tls { "https" } else { "http" };
    if server.trusted_proxy {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(',').next().unwrap_or("").trim())
                .filter(|h| !h.is_empty())
        };
        let proto = match header("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ => scheme,
        };
        let host = header("x-forwarded-host")
            .or_else(|| header(header::HOST.as_str()))
            .filter(|h| valid_authority(h));
        if let Some(host) = host {
            return format!("{proto}://{host}");
        }
    }
    format!("{scheme}://{}", conn.local)
}

/// `host[:port]` with nothing that could break out of a URL's authority.
fn valid_authority(h: &str) -> bool {
    h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn caller(conn: &Connection) -> Caller {
    Caller {
        addr: Some(conn.peer.ip()),
        secure: conn.tls,
    }
}

/// With auth on, the user of the request must own the query; `None` when
/// it may proceed, else the response refusing it.
fn refuse_non_owner(
    st: &TrinoState,
    headers: &HeaderMap,
    conn: &Connection,
    owner: &str,
) -> Option<Response> {
    if !st.app.auth.enabled() {
        return None;
    }
    match crate::session_headers::request_user(&st.app, headers, &caller(conn)) {
        Err(e) => Some(unauthorized(&e)),
        Ok(user) if user != owner => Some(json_response(
            StatusCode::FORBIDDEN,
            json!({"error": "Access Denied: the query belongs to another user"}).to_string(),
        )),
        Ok(_) => None,
    }
}

/// 401 with a JSON body and a Basic challenge.
fn unauthorized(e: &ContangoError) -> Response {
    let mut r = json_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": e.message()}).to_string(),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Basic realm=\"Contango\"".parse().expect("valid header"),
    );
    r
}

async fn submit(
    State(st): State<TrinoState>,
    Extension(conn): Extension<Connection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (session, from_headers) =
        match crate::session_headers::request_session(&st.app, &headers, &caller(&conn)) {
            Ok(s) => s,
            Err(e) => return unauthorized(&e),
        };
    let timeout = st
        .app
        .config
        .request_timeout()
        .unwrap_or(Duration::from_secs(30));
    let max_bytes = usize::try_from(st.app.config.server.max_statement_length)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .saturating_add(1024)
        .min(MAX_STATEMENT_BYTES);
    let body = match read_statement(body, timeout, max_bytes).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let submission = st.app.engine.submit("trino", &session, &body);
    let entry = submission.entry().clone();
    let engine = st.app.engine.clone();
    let planning = tokio::spawn(async move {
        let planned = submission
            .planning(async {
                from_headers?; // bad session headers fail the query like planning
                engine.plan(submission.session(), submission.sql()).await
            })
            .await?;
        let update = planned.session_update().clone();
        let update_type = planned.update_type();
        Ok(Started {
            // Rows are counted by the tracked stream, bytes (JSON) by the pager.
            stream: submission.execute(planned, Track::RowsOnly).await?,
            update,
            update_type,
        })
    });
    let query = st.queries.start(entry, planning);
    tracing::debug!(query = %query.id, user = %query.user, "trino query submitted");
    json_response(
        StatusCode::OK,
        query.queued_page(&base_url(&st.app.config.server, &headers, &conn)),
    )
}

/// The statement text: at most `max_bytes` of UTF-8, sent
/// within `timeout` (`[server] request_timeout`).
async fn read_statement(
    body: Body,
    timeout: Duration,
    max_bytes: usize,
) -> Result<String, Response> {
    let error = |status: StatusCode, message: String| {
        json_response(status, json!({"error": message}).to_string())
    };
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, max_bytes)).await {
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the statement was not received within {} s",
                    timeout.as_secs_f64()
                ),
            ));
        }
        Ok(Err(_)) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("statements are limited to {max_bytes} bytes"),
            ));
        }
        Ok(Ok(bytes)) => bytes,
    };
    String::from_utf8(bytes.to_vec())
        .map_err(|_| error(StatusCode::BAD_REQUEST, "the statement is not UTF-8".into()))
}

fn gone(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": format!("{what} is unknown or expired")}).to_string(),
    )
}

async fn next_page(
    State(st): State<TrinoState>,
    Extension(conn): Extension<Connection>,
    Path((id, slug, token)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let Some(query) = st.queries.get(&id, &slug) else {
        return gone(&format!("query {id}"));
    };
    if let Some(refused) = refuse_non_owner(&st, &headers, &conn, &query.user) {
        return refused;
    }
    match query
        .page(&base_url(&st.app.config.server, &headers, &conn), token)
        .await
    {
        Page::Body(body, session_headers) => {
            let mut response = json_response(StatusCode::OK, body.as_ref().clone());
            for (name, value) in session_headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Page::Gone => gone(&format!("page {token} of query {id}")),
    }
}

async fn cancel(
    State(st): State<TrinoState>,
    Extension(conn): Extension<Connection>,
    Path((id, slug, _token)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    if let Some(query) = st.queries.get(&id, &slug) {
        if let Some(refused) = refuse_non_owner(&st, &headers, &conn, &query.user) {
            return refused;
        }
        query.cancel_by_client().await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn info(State(st): State<TrinoState>) -> Response {
    let minutes = st.started.elapsed().as_secs_f64() / 60.0;
    json_response(
        StatusCode::OK,
        json!({
            "nodeVersion": {"version": concat!("contango-", env!("CARGO_PKG_VERSION"))},
            "environment": "contango",
            "coordinator": true,
            "starting": false,
            "uptime": format!("{minutes:.2}m"),
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(tls: bool) -> Connection {
        Connection {
            peer: "10.1.2.3:5555".parse().unwrap(),
            local: "192.168.0.7:8080".parse().unwrap(),
            tls,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn next_uri_base_ignores_request_headers_unless_a_proxy_is_trusted() {
        let spoofed = headers(&[
            ("host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let mut server = ServerConfig::default();
        assert_eq!(
            base_url(&server, &spoofed, &conn(false)),
            "http://192.168.0.7:8080"
        );
        assert_eq!(
            base_url(&server, &spoofed, &conn(true)),
            "https://192.168.0.7:8080"
        );

        server.trusted_proxy = true;
        assert_eq!(
            base_url(&server, &spoofed, &conn(false)),
            "https://evil.example"
        );
        let host_only = headers(&[("host", "contango.internal:8443")]);
        assert_eq!(
            base_url(&server, &host_only, &conn(false)),
            "http://contango.internal:8443"
        );
        // Nothing that could break out of the authority is taken.
        let injected = headers(&[("host", "a.example/evil?x=")]);
        assert_eq!(
            base_url(&server, &injected, &conn(false)),
            "http://192.168.0.7:8080"
        );

        server.external_url = "https://contango.example.com/".into();
        assert_eq!(
            base_url(&server, &spoofed, &conn(false)),
            "https://contango.example.com"
        );
    }
}
