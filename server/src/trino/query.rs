//! One Trino protocol query: planning in the background, then pages pulled by
//! the client one `nextUri` at a time (so a slow client applies backpressure to
//! the DataFusion stream). The last page is kept so a retried GET gets the same
//! page back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::errors::error_json;
use super::json::write_rows;
use super::types::signature;
use contango_common::SessionUpdate;
use contango_common::error::{ContangoError, ErrorKind, Result};
use contango_common::types::TrinoType;
use contango_sql::queries::QueryEntry;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long a GET waits for data before answering with an empty page.
const PAGE_WAIT: Duration = Duration::from_secs(1);
/// A page is closed once its encoded rows reach this size.
const PAGE_BYTES: usize = 1 << 20;
/// Finished queries keep their last page (for a retried GET) this long.
const FINISHED_KEPT: Duration = Duration::from_secs(30);
/// How often the registry looks for abandoned and expired queries.
const REAP_EVERY: Duration = Duration::from_secs(5);

/// A planned statement ready to stream, with what it changes in the session.
pub struct Started {
    /// The result stream.
    pub stream: SendableRecordBatchStream,
    /// Session changes for the response headers.
    pub update: SessionUpdate,
    /// Trino's `updateType`, for statements that change state.
    pub update_type: Option<&'static str>,
}

type Planned = Result<Started>;

enum Phase {
    Planning(JoinHandle<Planned>),
    Running(SendableRecordBatchStream),
    Finished,
    Failed(ContangoError),
}

struct Paging {
    phase: Phase,
    columns: Option<Value>,
    update: Option<SessionUpdate>,
    update_type: Option<&'static str>,
    /// Token of the last page served, and its body.
    token: u64,
    last: Option<Arc<String>>,
    rows: u64,
    bytes: u64,
}

/// A query and its paging state.
pub struct Query {
    /// Trino-style query id (shared with `system.runtime.queries`).
    pub id: String,
    /// Random part of every `nextUri`, so ids alone cannot fetch pages.
    pub slug: String,
    /// Who submitted it.
    pub user: String,
    entry: Arc<QueryEntry>,
    created: Instant,
    last_access: AtomicU64,
    finished: AtomicBool,
    paging: tokio::sync::Mutex<Paging>,
}

/// What a GET returns.
pub enum Page {
    /// JSON body of the page and the session headers to send with it.
    Body(Arc<String>, Vec<(&'static str, String)>),
    /// The token is neither the current nor the next page.
    Gone,
}

impl Query {
    fn touch(&self) {
        self.last_access
            .store(self.created.elapsed().as_secs(), Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        self.created.elapsed() - Duration::from_secs(self.last_access.load(Ordering::Relaxed))
    }

    /// Whether the registry may forget this query now: finished and kept
    /// long enough, or abandoned by its client for `client_timeout`.
    fn expired(&self, client_timeout: Duration) -> bool {
        let keep = if self.finished.load(Ordering::Relaxed) {
            FINISHED_KEPT
        } else {
            client_timeout
        };
        self.idle() >= keep
    }

    /// The first response to the POST: queued, with the first `nextUri`.
    pub fn queued_page(&self, base: &str) -> String {
        json!({
            "id": self.id,
            "infoUri": self.info_uri(base),
            "nextUri": self.page_uri(base, 1),
            "stats": stats("QUEUED", 0, 0, self.created.elapsed(), false),
            "warnings": [],
        })
        .to_string()
    }

    fn info_uri(&self, base: &str) -> String {
        format!("{base}/ui/query.html?{}", self.id)
    }

    fn page_uri(&self, base: &str, token: u64) -> String {
        format!(
            "{base}/v1/statement/executing/{}/{}/{token}",
            self.id, self.slug
        )
    }

    /// Serves page `token`: the last page again, or the next one.
    pub async fn page(&self, base: &str, token: u64) -> Page {
        self.touch();
        let mut p = self.paging.lock().await;
        if token == p.token
            && let Some(last) = &p.last
        {
            return Page::Body(last.clone(), session_headers(p.update.as_ref()));
        }
        if token != p.token + 1 {
            return Page::Gone;
        }
        let body = Arc::new(self.next_page(&mut p, base, token).await);
        match &p.phase {
            Phase::Finished => {
                self.finished.store(true, Ordering::Relaxed);
                self.entry.finish(None);
            }
            Phase::Failed(e) => {
                self.finished.store(true, Ordering::Relaxed);
                self.entry.finish(Some(e.kind()));
            }
            _ => {}
        }
        p.token = token;
        p.last = Some(body.clone());
        Page::Body(body, session_headers(p.update.as_ref()))
    }

    /// Stops the query: planning is aborted, the stream dropped (which stops
    /// DataFusion's tasks), and later pages report `error`.
    pub async fn cancel(&self, error: ContangoError) {
        let mut p = self.paging.lock().await;
        if let Phase::Planning(handle) = &p.phase {
            handle.abort();
        }
        if matches!(p.phase, Phase::Planning(_) | Phase::Running(_)) {
            self.entry.finish(Some(error.kind()));
            p.phase = Phase::Failed(error);
        }
    }

    /// DELETE on a `nextUri`: Trino's USER_CANCELED.
    pub async fn cancel_by_client(&self) {
        self.cancel(ContangoError::new(
            ErrorKind::Cancelled,
            "Query was canceled",
        ))
        .await
    }

    async fn next_page(&self, p: &mut Paging, base: &str, token: u64) -> String {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        if let Phase::Planning(handle) = &mut p.phase {
            match tokio::time::timeout_at(deadline, handle).await {
                Err(_) => return self.render(p, base, token, None, "QUEUED"),
                Ok(Err(join)) => {
                    p.phase =
                        Phase::Failed(ContangoError::internal(format!("planning task: {join}")))
                }
                Ok(Ok(Err(e))) => p.phase = Phase::Failed(e),
                Ok(Ok(Ok(started))) => {
                    p.columns = Some(columns(&started.stream.schema()));
                    p.update = Some(started.update);
                    p.update_type = started.update_type;
                    p.phase = Phase::Running(started.stream);
                    self.entry.running();
                }
            }
        }
        let mut data = String::new();
        let mut n = 0usize;
        if let Phase::Running(stream) = &mut p.phase {
            loop {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Err(_) => break,
                    Ok(None) => {
                        p.phase = Phase::Finished;
                        break;
                    }
                    Ok(Some(Err(e))) => {
                        p.phase = Phase::Failed(e.into());
                        break;
                    }
                    Ok(Some(Ok(batch))) => {
                        match write_rows(&batch, &mut data, n == 0) {
                            Ok(rows) => n += rows,
                            Err(e) => {
                                p.phase = Phase::Failed(e);
                                break;
                            }
                        }
                        if data.len() >= PAGE_BYTES {
                            break;
                        }
                    }
                }
            }
        }
        p.rows += n as u64;
        p.bytes += data.len() as u64;
        self.entry.sent(0, data.len());
        let rows = (n > 0).then_some(data);
        let state = match p.phase {
            Phase::Finished => "FINISHED",
            Phase::Failed(_) => "FAILED",
            _ => "RUNNING",
        };
        self.render(p, base, token, rows, state)
    }

    fn render(
        &self,
        p: &Paging,
        base: &str,
        token: u64,
        rows: Option<String>,
        state: &str,
    ) -> String {
        let done = matches!(p.phase, Phase::Finished | Phase::Failed(_));
        let mut page = json!({
            "id": self.id,
            "infoUri": self.info_uri(base),
            "stats": stats(state, p.rows, p.bytes, self.created.elapsed(), done),
            "warnings": [],
        });
        if !done {
            page["nextUri"] = json!(self.page_uri(base, token + 1));
        }
        if let Some(c) = &p.columns {
            page["columns"] = c.clone();
        }
        if let Some(t) = p.update_type {
            page["updateType"] = json!(t);
        }
        if let Phase::Failed(e) = &p.phase {
            page["error"] = error_json(e);
        }
        let mut body = page.to_string();
        if let Some(rows) = rows {
            // Splice the pre-encoded rows in as `"data": [...]`.
            body.pop();
            body.push_str(",\"data\":[");
            body.push_str(&rows);
            body.push_str("]}");
        }
        body
    }
}

/// Response headers that tell the client how the statement changed its session
/// (values URL-encoded, as Trino sends them).
fn session_headers(update: Option<&SessionUpdate>) -> Vec<(&'static str, String)> {
    let Some(u) = update else {
        return Vec::new();
    };
    let mut h = Vec::new();
    if let Some(c) = &u.set_catalog {
        h.push(("x-trino-set-catalog", encode(c)));
    }
    if let Some(s) = &u.set_schema {
        h.push(("x-trino-set-schema", encode(s)));
    }
    for (k, v) in &u.set_properties {
        h.push((
            "x-trino-set-session",
            format!("{}={}", encode(k), encode(v)),
        ));
    }
    for k in &u.clear_properties {
        h.push(("x-trino-clear-session", encode(k)));
    }
    for (k, v) in &u.added_prepare {
        h.push((
            "x-trino-added-prepare",
            format!("{}={}", encode(k), encode(v)),
        ));
    }
    for k in &u.deallocated_prepare {
        h.push(("x-trino-deallocated-prepare", encode(k)));
    }
    if let Some(t) = &u.started_transaction {
        h.push(("x-trino-started-transaction-id", t.clone()));
    }
    if u.clear_transaction {
        h.push(("x-trino-clear-transaction-id", "true".into()));
    }
    h
}

/// Percent-encoding of everything but unreserved characters, so header values
/// never carry separators, control characters or non-ASCII bytes.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `columns` of a result: name, Trino type name and type signature.
pub fn columns(schema: &SchemaRef) -> Value {
    Value::Array(
        schema
            .fields()
            .iter()
            .map(|f| {
                let t = TrinoType::from_arrow(f.data_type());
                json!({"name": f.name(), "type": t.name(), "typeSignature": signature(&t)})
            })
            .collect(),
    )
}

fn stats(state: &str, rows: u64, bytes: u64, elapsed: Duration, done: bool) -> Value {
    let ms = elapsed.as_millis() as u64;
    json!({
        "state": state,
        "queued": state == "QUEUED",
        "scheduled": state != "QUEUED",
        "nodes": 1,
        "totalSplits": 0,
        "queuedSplits": 0,
        "runningSplits": 0,
        "completedSplits": 0,
        "cpuTimeMillis": 0,
        "wallTimeMillis": ms,
        "queuedTimeMillis": 0,
        "elapsedTimeMillis": ms,
        "processedRows": rows,
        "processedBytes": bytes,
        "physicalInputBytes": 0,
        "peakMemoryBytes": 0,
        "spilledBytes": 0,
        "progressPercentage": if done { 100.0 } else { 0.0 },
    })
}

/// All live queries.
pub struct Queries {
    map: Mutex<HashMap<String, Arc<Query>>>,
    client_timeout: Duration,
}

impl Queries {
    /// An empty registry whose queries are abandoned after `client_timeout`
    /// without a page request.
    pub fn new(client_timeout: Duration) -> Self {
        Self {
            map: Mutex::default(),
            client_timeout,
        }
    }

    /// Forgets finished queries kept long enough and cancels abandoned ones
    /// (Trino's ABANDONED_QUERY): planning aborted, stream dropped, memory
    /// freed, the entry in `system.runtime.queries` marked FAILED.
    pub async fn reap(&self) {
        let expired: Vec<Arc<Query>> = {
            let mut map = self.map.lock();
            let expired = map
                .values()
                .filter(|q| q.expired(self.client_timeout))
                .cloned()
                .collect::<Vec<_>>();
            for q in &expired {
                map.remove(&q.id);
            }
            expired
        };
        for q in expired {
            if !q.finished.load(Ordering::Relaxed) {
                tracing::info!(query = %q.id, user = %q.user, "query abandoned by its client");
                q.cancel(ContangoError::new(
                    ErrorKind::Abandoned,
                    format!(
                        "Query {} was abandoned by the client, as it may have exited or stopped checking for query results",
                        q.id
                    ),
                ))
                .await;
            }
        }
    }

    /// Runs [`Queries::reap`] every few seconds while `queries` lives.
    pub fn reap_in_background(queries: &Arc<Self>) {
        let weak = Arc::downgrade(queries);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(queries) = weak.upgrade() else { break };
                queries.reap().await;
            }
        });
    }

    /// Registers the query of `entry` whose plan is being built by `planning`;
    /// `kill_query` on the entry cancels it like a DELETE.
    pub fn start(&self, entry: Arc<QueryEntry>, planning: JoinHandle<Planned>) -> Arc<Query> {
        let id = entry.id.clone();
        let query = Arc::new(Query {
            id: id.clone(),
            slug: uuid::Uuid::new_v4().simple().to_string(),
            user: entry.user.clone(),
            entry: entry.clone(),
            created: Instant::now(),
            last_access: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            paging: tokio::sync::Mutex::new(Paging {
                phase: Phase::Planning(planning),
                columns: None,
                update: None,
                update_type: None,
                token: 0,
                last: None,
                rows: 0,
                bytes: 0,
            }),
        });
        let weak = Arc::downgrade(&query);
        entry.on_cancel(move |error| {
            if let Some(q) = weak.upgrade() {
                tokio::spawn(async move { q.cancel(error).await });
            }
        });
        self.map.lock().insert(id, query.clone());
        query
    }

    /// The query with `id` whose slug matches.
    pub fn get(&self, id: &str, slug: &str) -> Option<Arc<Query>> {
        self.map.lock().get(id).filter(|q| q.slug == slug).cloned()
    }
}
