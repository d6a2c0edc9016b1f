//! Trino client REST protocol on the HTTP port: `POST /v1/statement`, paged
//! `GET`/`DELETE` on `nextUri`, and `GET /v1/info`.
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
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contango_common::error::ContangoError;
use serde_json::json;

use crate::app::App;
use contango_sql::queries::Track;
use query::{Page, Queries, Started};

/// Largest accepted statement body.
const MAX_STATEMENT_BYTES: usize = 1 << 20;

#[derive(Clone)]
struct TrinoState {
    app: App,
    queries: Arc<Queries>,
    started: Instant,
}

/// Routes of the Trino protocol.
pub fn router(app: App) -> Router {
    let state = TrinoState {
        app,
        queries: Arc::default(),
        started: Instant::now(),
    };
    Router::new()
        .route("/v1/statement", post(submit))
        .route(
            "/v1/statement/executing/{id}/{slug}/{token}",
            get(next_page).delete(cancel),
        )
        .route("/v1/info", get(info))
        .layer(DefaultBodyLimit::max(MAX_STATEMENT_BYTES))
        .with_state(state)
}

fn json_response(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// `http(s)://host:port` as the client addressed us, for absolute `nextUri`s
/// (https when the port speaks TLS or a proxy says it terminated TLS).
fn base_url(app: &App, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let tls = !app.config.server.tls_cert.is_empty();
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .or(tls.then_some("https"))
        .unwrap_or("http");
    format!("{proto}://{host}")
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

async fn submit(State(st): State<TrinoState>, headers: HeaderMap, body: String) -> Response {
    let (session, from_headers) = match crate::session_headers::request_session(&st.app, &headers) {
        Ok(s) => s,
        Err(e) => return unauthorized(&e),
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
        query.queued_page(&base_url(&st.app, &headers)),
    )
}

fn gone(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": format!("{what} is unknown or expired")}).to_string(),
    )
}

async fn next_page(
    State(st): State<TrinoState>,
    Path((id, slug, token)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let Some(query) = st.queries.get(&id, &slug) else {
        return gone(&format!("query {id}"));
    };
    match query.page(&base_url(&st.app, &headers), token).await {
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
    Path((id, slug, _token)): Path<(String, String, u64)>,
) -> impl IntoResponse {
    if let Some(query) = st.queries.get(&id, &slug) {
        query.cancel_by_client().await;
    }
    StatusCode::NO_CONTENT
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
