//! Plans made by `GetFlightInfo`, kept briefly for the `DoGet` that follows,
//! so a statement is planned (catalog refresh, table load) once, not twice.
//! A ticket whose plan is gone (expired, evicted, another server) still
//! carries its SQL and is simply planned again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contango_sql::PlannedStatement;
use parking_lot::Mutex;

/// How long a plan waits for its `DoGet`.
const KEEP: Duration = Duration::from_secs(60);
/// Most plans kept at once.
const CAPACITY: usize = 1024;

struct Entry {
    created: Instant,
    user: String,
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
    /// Keeps `planned` for `user` under a new nonce, which it returns.
    pub fn put(&self, user: &str, planned: PlannedStatement) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.created.elapsed() < KEEP);
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            nonce.clone(),
            Entry {
                created: Instant::now(),
                user: user.to_string(),
                planned,
            },
        );
        nonce
    }

    /// Takes the plan under `nonce` if `user` made it and it is fresh.
    pub fn take(&self, nonce: &str, user: &str) -> Option<PlannedStatement> {
        let mut entries = self.entries.lock();
        match entries.get(nonce) {
            Some(e) if e.user == user && e.created.elapsed() < KEEP => {
                entries.remove(nonce).map(|e| e.planned)
            }
            _ => None,
        }
    }
}
