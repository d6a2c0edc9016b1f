//! Server-wide limits on queries, as Trino has them, and the admission gate
//! every query passes before it is planned (the one submission path,
//! [`crate::submit`]):
//!
//! - `max_running` queries plan and run at once; up to `max_queued` more wait
//!   (state QUEUED) and any further one fails at once with QUERY_QUEUE_FULL.
//!   A query holds its slot until it ends (finished, failed, killed,
//!   cancelled or abandoned).
//! - `max_statement_length` characters of SQL (QUERY_TEXT_TOO_LARGE).
//! - `query_max_run_time` (from submission) and `query_max_execution_time`
//!   (from admission), EXCEEDED_TIME_LIMIT; sessions may ask for less.
//! - `query_max_memory` per query on its own DataFusion memory pool
//!   (operators that can spill do, the others fail with
//!   EXCEEDED_LOCAL_MEMORY_LIMIT); sessions may ask for less.
//!
//! Each limit that stops a query is counted in
//! `contango_query_limit_exceeded_total{limit}`; the gate's occupancy is
//! `contango_queries_running` and `contango_queries_queued`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use contango_common::error::{ContangoError, ErrorKind, Result};
use prometheus::{IntCounterVec, IntGauge, Opts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Trino's default `query.max-length`.
pub const DEFAULT_MAX_STATEMENT_LENGTH: usize = 1_000_000;
/// Default number of queries that plan and run at once.
pub const DEFAULT_MAX_RUNNING: usize = 32;
/// Default number of queries that may wait for a slot.
pub const DEFAULT_MAX_QUEUED: usize = 1000;

/// The server's limits (`[limits]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest a query may run, from submission.
    pub max_run_time: Option<Duration>,
    /// Longest a query may run once admitted (queueing not counted).
    pub max_execution_time: Option<Duration>,
    /// Most bytes of the memory pool one query may take.
    pub max_memory: Option<u64>,
    /// Queries planning or running at once.
    pub max_running: usize,
    /// Queries waiting for a slot.
    pub max_queued: usize,
    /// Longest statement text, in characters.
    pub max_statement_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_run_time: None,
            max_execution_time: None,
            max_memory: None,
            max_running: DEFAULT_MAX_RUNNING,
            max_queued: DEFAULT_MAX_QUEUED,
            max_statement_length: DEFAULT_MAX_STATEMENT_LENGTH,
        }
    }
}

/// The gate: `max_running` slots, `max_queued` waiting places.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_running: usize,
    max_queued: usize,
}

impl Admission {
    /// A gate with `max_running` slots (at least 1) and `max_queued` places.
    pub fn new(max_running: usize, max_queued: usize) -> Self {
        let max_running = max_running.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(max_running)),
            waiting: AtomicUsize::new(0),
            max_running,
            max_queued,
        }
    }

    /// A slot, at once or after waiting in the queue; QUERY_QUEUE_FULL when
    /// the queue is full. Dropping the future leaves the queue.
    pub async fn admit(self: &Arc<Self>) -> Result<Slot> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot::new(self, permit));
        }
        let place = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(self);
        if place >= self.max_queued {
            return Err(ContangoError::new(
                ErrorKind::QueryQueueFull,
                format!(
                    "Too many queued queries: {} running and {} waiting (the server allows {} and {})",
                    self.max_running, place, self.max_running, self.max_queued
                ),
            ));
        }
        self.publish();
        self.wait_for_slot().await
    }

    /// A slot for a query already planned, which waits for one however
    /// long the queue: refusing it now would fail a query the server has
    /// accepted.
    pub async fn admit_planned(self: &Arc<Self>) -> Result<Slot> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot::new(self, permit));
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(self);
        self.publish();
        self.wait_for_slot().await
    }

    /// Waits (counted as queued by the caller) for the next free slot.
    async fn wait_for_slot(self: &Arc<Self>) -> Result<Slot> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ContangoError::internal("the admission gate is closed"))?;
        Ok(Slot::new(self, permit))
    }

    /// Queries holding a slot.
    pub fn running(&self) -> usize {
        self.max_running - self.slots.available_permits()
    }

    /// Queries waiting for a slot.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::SeqCst).min(self.max_queued)
    }

    fn publish(&self) {
        GAUGES.0.set(self.running() as i64);
        GAUGES.1.set(self.queued() as i64);
    }
}

/// A query's place among the running ones, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<Admission>,
}

impl Slot {
    fn new(gate: &Arc<Admission>, permit: OwnedSemaphorePermit) -> Self {
        gate.publish();
        Self {
            permit: Some(permit),
            gate: gate.clone(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.gate.publish();
    }
}

/// Leaves the queue when the wait ends (admitted, refused or dropped).
struct Leave<'a>(&'a Admission);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.publish();
    }
}

static GAUGES: LazyLock<(IntGauge, IntGauge)> = LazyLock::new(|| {
    use contango_common::metrics::register;
    (
        register(
            IntGauge::new(
                "contango_queries_running",
                "Queries holding a slot (planning or running).",
            )
            .expect("valid gauge"),
        ),
        register(
            IntGauge::new("contango_queries_queued", "Queries waiting for a slot.")
                .expect("valid gauge"),
        ),
    )
});

static EXCEEDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    contango_common::metrics::register(
        IntCounterVec::new(
            Opts::new(
                "contango_query_limit_exceeded_total",
                "Queries stopped or refused by a limit, by limit.",
            ),
            &["limit"],
        )
        .expect("valid counter"),
    )
});

/// The limit an error kind reports, if it is one.
pub fn limit_of(kind: ErrorKind) -> Option<&'static str> {
    Some(match kind {
        ErrorKind::ExceededTimeLimit => "query_max_run_time",
        ErrorKind::ExceededMemoryLimit => "query_max_memory",
        ErrorKind::ExceededFunctionMemoryLimit => "function_memory",
        ErrorKind::QueryQueueFull => "max_queued_queries",
        ErrorKind::QueryTextTooLarge => "max_statement_length",
        _ => return None,
    })
}

/// Counts a query stopped by the limit behind `kind` (no-op for other kinds).
pub fn count_exceeded(kind: ErrorKind) {
    if let Some(limit) = limit_of(kind) {
        EXCEEDED.with_label_values(&[limit]).inc();
    }
}

/// Exports the limit families (at 0) before the first query.
pub fn register_metrics() {
    LazyLock::force(&GAUGES);
    for kind in [
        ErrorKind::ExceededTimeLimit,
        ErrorKind::ExceededMemoryLimit,
        ErrorKind::ExceededFunctionMemoryLimit,
        ErrorKind::QueryQueueFull,
        ErrorKind::QueryTextTooLarge,
    ] {
        if let Some(limit) = limit_of(kind) {
            EXCEEDED.with_label_values(&[limit]);
        }
    }
}

/// A Trino data size (`512MB`, `1.5GB`, `100kB`, `42B`; units of 1024), or
/// `None`.
pub fn parse_data_size(text: &str) -> Option<u64> {
    let (number, unit) = crate::session_properties::number_and_unit(text)?;
    let scale: f64 = match unit {
        "B" | "" => 1.0,
        "kB" | "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024f64.powi(4),
        "PB" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = number * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes.round() as u64)
}

/// Bytes as Trino prints a data size (`1.50GB`, `512MB`, `100B`).
pub fn format_data_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0}{}", units[unit])
    } else {
        format!("{value:.2}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sizes() {
        assert_eq!(parse_data_size("512MB"), Some(512 << 20));
        assert_eq!(parse_data_size("1.5GB"), Some(3 << 29));
        assert_eq!(parse_data_size("42B"), Some(42));
        assert_eq!(parse_data_size("100kB"), Some(102_400));
        assert_eq!(parse_data_size("lots"), None);
        assert_eq!(parse_data_size("1XB"), None);
        assert_eq!(format_data_size(3 << 29), "1.50GB");
        assert_eq!(format_data_size(512 << 20), "512MB");
        assert_eq!(format_data_size(100), "100B");
    }

    #[tokio::test]
    async fn the_gate_queues_then_refuses() {
        let gate = Arc::new(Admission::new(1, 1));
        let first = gate.admit().await.unwrap();
        assert_eq!(gate.running(), 1);
        let g = gate.clone();
        let waiting = tokio::spawn(async move { g.admit().await.map(|_| ()) });
        while gate.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let e = gate.admit().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QueryQueueFull);
        assert!(
            e.message().contains("Too many queued queries"),
            "{}",
            e.message()
        );
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!((gate.running(), gate.queued()), (0, 0));
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_queue() {
        let gate = Arc::new(Admission::new(1, 1));
        let _first = gate.admit().await.unwrap();
        let g = gate.clone();
        let waiting = tokio::spawn(async move { g.admit().await.map(|_| ()) });
        while gate.queued() == 0 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(gate.queued(), 0);
    }
}
