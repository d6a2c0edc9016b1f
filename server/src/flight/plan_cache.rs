//! Queries submitted and planned by `GetFlightInfo`, kept briefly for the
//! `DoGet` that follows, so a statement is planned (catalog refresh, table
//! load) once, not twice, and is one query from submission to its last
//! batch. A plan nobody fetches ends its query as abandoned when it expires
//! or is evicted. A ticket whose plan is gone (expired, evicted, another
//! server) still carries its SQL and is simply submitted again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contango_sql::{PlannedStatement, Submission};
use parking_lot::Mutex;

/// How long a plan waits for its `DoGet`.
const KEEP: Duration = Duration::from_secs(60);
/// Most plans kept at once.
const CAPACITY: usize = 1024;

struct Entry {
    created: Instant,
    user: String,
    submission: Submission,
    planned: PlannedStatement,
}

/// One-shot plans keyed by a ticket nonce.
#[derive(Default)]
pub struct PlanCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCache")
            .field("plans", &self.entries.lock().len())
            .finish()
    }
}

impl PlanCache {
    /// Keeps the planned `submission` under a new nonce, which it returns.
    pub fn put(&self, submission: Submission, planned: PlannedStatement) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut entries = self.entries.lock();
        entries.retain(|_, e| {
            let fresh = e.created.elapsed() < KEEP;
            if !fresh {
                e.submission.abandon("no DoGet fetched it in time");
            }
            fresh
        });
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
            && let Some(evicted) = entries.remove(&oldest)
        {
            evicted
                .submission
                .abandon("too many plans waiting for their DoGet");
        }
        entries.insert(
            nonce.clone(),
            Entry {
                created: Instant::now(),
                user: submission.session().user.clone(),
                submission,
                planned,
            },
        );
        nonce
    }

    /// Takes the submission and plan under `nonce` if `user` made it and it
    /// is fresh.
    pub fn take(&self, nonce: &str, user: &str) -> Option<(Submission, PlannedStatement)> {
        let mut entries = self.entries.lock();
        match entries.get(nonce) {
            Some(e) if e.user == user && e.created.elapsed() < KEEP => {
                entries.remove(nonce).map(|e| (e.submission, e.planned))
            }
            _ => None,
        }
    }
}
