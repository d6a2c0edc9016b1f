//! The one submission path of every endpoint. A query is registered when it
//! is submitted ([`QueryEngine::submit`], state QUEUED), before anything is
//! planned, so `system.runtime.queries`, `kill_query` and the query metrics
//! see it from its first moment on either endpoint; planning
//! ([`Submission::plan`], state PLANNING) can be killed, and its failure ends
//! the query as FAILED with its error kind counted; execution
//! ([`Submission::execute`], state RUNNING) returns the tracked result stream,
//! which ends the query when it ends, fails, is killed or is dropped.
//!
//! Lifecycle: QUEUED → PLANNING → RUNNING → FINISHED | FAILED (a kill is
//! FAILED with `ADMINISTRATIVELY_KILLED`, a client's cancel `USER_CANCELED`).

use std::future::Future;
use std::sync::Arc;

use contango_common::Session;
use contango_common::error::{ContangoError, ErrorKind, Result};
use datafusion::execution::SendableRecordBatchStream;
use futures::channel::oneshot;
use parking_lot::Mutex;

use crate::engine::{PlannedStatement, QueryEngine};
use crate::queries::{QueryEntry, Track, track};

/// A submitted query: its registry entry, and the session and SQL it runs.
#[derive(Debug)]
pub struct Submission {
    engine: QueryEngine,
    entry: Arc<QueryEntry>,
    session: Session,
    sql: String,
}

impl QueryEngine {
    /// Registers `sql` from `session` on `endpoint` (state QUEUED). Nothing
    /// is planned yet: [`Submission::plan`] and [`Submission::execute`] follow.
    pub fn submit(&self, endpoint: &'static str, session: &Session, sql: &str) -> Submission {
        let max_length = self.limits().max_statement_length;
        // An oversized text is registered cut to the limit, and fails.
        let cut = sql.char_indices().nth(max_length).map(|(at, _)| at);
        let registered = cut.map_or(sql, |at| &sql[..at]);
        let entry = self.queries().register(
            endpoint,
            &session.user,
            session.source.as_deref(),
            registered,
        );
        if let Some(at) = cut {
            let length = max_length + sql[at..].chars().count();
            entry.finish_with(&ContangoError::new(
                ErrorKind::QueryTextTooLarge,
                format!("Query text length ({length}) exceeds the maximum length ({max_length})"),
            ));
        } else if let Some(limit) = self.run_time_limit(session) {
            entry.limit_run_time(limit);
        }
        let mut session = session.clone();
        session.stop = entry.stop.clone();
        Submission {
            engine: self.clone(),
            entry,
            session,
            sql: sql.to_string(),
        }
    }

    /// Plans `sql` only to describe it (a prepared statement's result and
    /// parameters) without running it: no query is registered unless
    /// planning fails, and then a FAILED query is, so a statement that does
    /// not plan counts as a failed query wherever a client first plans it.
    pub async fn describe(
        &self,
        endpoint: &'static str,
        session: &Session,
        sql: &str,
    ) -> Result<PlannedStatement> {
        let planned = self.plan(session, sql).await;
        if let Err(e) = &planned {
            self.submit(endpoint, session, sql).entry().finish_with(e);
        }
        planned
    }
}

impl Submission {
    /// The query's registry entry (its id is the query id clients see).
    pub fn entry(&self) -> &Arc<QueryEntry> {
        &self.entry
    }

    /// The session the query runs in.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The submitted SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Plans the submitted SQL (state PLANNING).
    pub async fn plan(&self) -> Result<PlannedStatement> {
        let planning = self.engine.plan(&self.session, &self.sql);
        self.planning(planning).await
    }

    /// Runs `planning` (e.g. binding a prepared statement's parameters) as
    /// this query's planning step: `kill_query` interrupts it, and its error
    /// ends the query as FAILED. The query holds an admission slot while it
    /// plans and gives it back when planning ends: a query planned but not
    /// yet fetched (a Trino client that never polls, a Flight ticket never
    /// redeemed) does not keep others from running.
    pub async fn planning<T>(&self, planning: impl Future<Output = Result<T>>) -> Result<T> {
        let outcome = self
            .interruptible(async {
                self.admit().await?;
                if let Some(limit) = self.engine.execution_time_limit(&self.session) {
                    self.entry.limit_execution_time(limit);
                }
                self.entry.planning();
                planning.await
            })
            .await;
        self.entry.release_slot();
        if let Err(e) = &outcome {
            self.entry.finish_with(e);
        }
        outcome
    }

    /// Waits for an admission slot (or refuses with QUERY_QUEUE_FULL) and
    /// holds it in the query's entry.
    async fn admit(&self) -> Result<()> {
        let slot = self.engine.admission().admit().await?;
        self.entry.hold_slot(slot);
        Ok(())
    }

    /// Waits for a slot to run the planned query (never refused).
    async fn admit_planned(&self) -> Result<()> {
        let slot = self.engine.admission().admit_planned().await?;
        self.entry.hold_slot(slot);
        Ok(())
    }

    /// `work`, ended early with the error of `kill_query` (or of a time
    /// limit) when one comes first.
    async fn interruptible<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let (killed_tx, killed_rx) = oneshot::channel::<ContangoError>();
        let killed_tx = Mutex::new(Some(killed_tx));
        self.entry.on_cancel(move |error| {
            if let Some(tx) = killed_tx.lock().take() {
                let _ = tx.send(error);
            }
        });
        if let Some(error) = self.entry.ended_with() {
            return Err(error); // refused or killed while queued
        }
        let work = std::pin::pin!(work);
        match futures::future::select(work, killed_rx).await {
            futures::future::Either::Left((outcome, _)) => outcome,
            futures::future::Either::Right((Ok(error), _)) => Err(error),
            futures::future::Either::Right((Err(_), work)) => work.await,
        }
    }

    /// Executes `planned` (state RUNNING) once an admission slot is free,
    /// holding it until the query has computed its last batch (what is
    /// left, a bounded buffer waiting for the client, takes no slot): the
    /// result stream is tracked, so `kill_query` ends it and its end is
    /// recorded. `bytes` says what the query metrics count as bytes sent.
    ///
    /// A query whose result the results cache holds is answered from it
    /// (without a slot); a cacheable one that runs is kept when it finishes
    /// (see [`crate::results_cache`]).
    pub async fn execute(
        &self,
        planned: PlannedStatement,
        bytes: Track,
    ) -> Result<SendableRecordBatchStream> {
        let cache = self
            .engine
            .results_cache()
            .filter(|_| crate::results_cache::enabled(&self.session))
            .cloned();
        let key = cache.as_ref().and_then(|_| {
            crate::results_cache::key(
                planned.logical_plan(),
                &self.session,
                self.engine.catalogs(),
            )
        });
        if let (Some(cache), Some(key)) = (&cache, &key)
            && let Some(hit) = cache.get(key)
        {
            if let Some(error) = self.entry.ended_with() {
                return Err(error); // killed before it ran
            }
            return Ok(track(self.entry.clone(), hit.stream(), bytes));
        }
        let started = self
            .interruptible(async {
                self.admit_planned().await?;
                let entry = self.entry.clone();
                planned.execute_then(move || entry.release_slot()).await
            })
            .await;
        let started = match (cache, key) {
            (Some(cache), Some(key)) => started.map(|stream| cache.recording(key, stream)),
            _ => started,
        };
        match started {
            Ok(stream) => Ok(track(self.entry.clone(), stream, bytes)),
            Err(e) => {
                self.entry.finish_with(&e);
                Err(e)
            }
        }
    }

    /// Ends a query that was planned but will never run (its client went
    /// away before fetching it).
    pub fn abandon(&self, why: &str) {
        self.entry.finish_with(&ContangoError::new(
            ErrorKind::Abandoned,
            format!("Query {} abandoned: {why}", self.entry.id),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    fn engine() -> QueryEngine {
        QueryEngine::new(Vec::new())
    }

    fn session() -> Session {
        Session::new("alice", "system", "runtime")
    }

    #[tokio::test]
    async fn a_query_is_registered_before_planning_and_ends_with_its_stream() {
        let engine = engine();
        let submitted = engine.submit("test", &session(), "SELECT 1 AS x");
        assert_eq!(submitted.entry().state(), "QUEUED");
        assert_eq!(engine.queries().list().len(), 1);
        let planned = submitted.plan().await.unwrap();
        assert_eq!(submitted.entry().state(), "PLANNING");
        let mut stream = submitted.execute(planned, Track::Arrow).await.unwrap();
        assert_eq!(submitted.entry().state(), "RUNNING");
        while let Some(batch) = stream.next().await {
            batch.unwrap();
        }
        assert_eq!(submitted.entry().state(), "FINISHED");
    }

    #[tokio::test]
    async fn a_planned_query_holds_no_slot_until_it_executes() {
        // One slot, no queue: a query planned but never fetched must not
        // keep the next one out (a Trino client that stops after POST).
        let engine = engine().with_limits(crate::limits::Limits {
            max_running: 1,
            max_queued: 0,
            ..Default::default()
        });
        let idle = engine.submit("test", &session(), "SELECT 1 AS x");
        let idle_plan = idle.plan().await.unwrap();
        let next = engine.submit("test", &session(), "SELECT 2 AS x");
        let planned = next.plan().await.unwrap();
        let mut stream = next.execute(planned, Track::Arrow).await.unwrap();
        // While that one runs, the slot is taken: a third is refused.
        // Once its one batch is computed and buffered, it takes no slot
        // either, though its client has read nothing yet.
        let mut released = false;
        for _ in 0..200 {
            if engine.admission().running() == 0 {
                released = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            released,
            "the slot is given back once the result is computed"
        );
        let mut idle_stream = idle.execute(idle_plan, Track::Arrow).await.unwrap();
        assert_eq!(idle_stream.next().await.unwrap().unwrap().num_rows(), 1);
        assert_eq!(stream.next().await.unwrap().unwrap().num_rows(), 1);
        assert!(stream.next().await.is_none());
        assert_eq!(next.entry().state(), "FINISHED");
    }

    #[tokio::test]
    async fn a_planning_failure_ends_the_query_as_failed_with_its_kind() {
        let engine = engine();
        let submitted = engine.submit("test", &session(), "SELEC 1");
        let e = submitted.plan().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert_eq!(submitted.entry().state(), "FAILED");
        assert_eq!(submitted.entry().error(), Some(ErrorKind::Syntax));
    }

    #[tokio::test]
    async fn describing_registers_only_failures() {
        let engine = engine();
        engine
            .describe("test", &session(), "SELECT 1")
            .await
            .unwrap();
        assert!(engine.queries().list().is_empty());
        let e = engine
            .describe("test", &session(), "SELEC 1")
            .await
            .unwrap_err();
        let queries = engine.queries().list();
        assert_eq!(queries.len(), 1);
        assert_eq!(queries[0].state(), "FAILED");
        assert_eq!(queries[0].error(), Some(e.kind()));
    }

    #[tokio::test]
    async fn kill_query_interrupts_planning() {
        let engine = engine();
        let submitted = engine.submit("test", &session(), "SELECT 1");
        let id = submitted.entry().id.clone();
        let never = futures::future::pending::<Result<()>>();
        let killer = {
            let engine = engine.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                engine
                    .queries()
                    .kill(&Session::new("alice", "c", "s"), &id, Some("enough"))
                    .unwrap();
            }
        };
        assert!(!submitted.session.stop.is_stopped());
        let (outcome, ()) = tokio::join!(submitted.planning(never), killer);
        let e = outcome.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Killed);
        // Function calls of the query see the kill (contango_common::stop).
        assert!(submitted.session.stop.is_stopped());
        assert!(e.message().contains("enough"), "{}", e.message());
        assert_eq!(submitted.entry().state(), "FAILED");
    }

    #[tokio::test]
    async fn query_max_run_time_ends_a_query_that_runs_too_long() {
        let engine = engine();
        let mut session = session();
        session
            .properties
            .insert("query_max_run_time".into(), "200ms".into());
        let submitted = engine.submit("test", &session, "SELECT 1");
        let never = futures::future::pending::<Result<()>>();
        let e = submitted.planning(never).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ExceededTimeLimit);
        assert_eq!(e.kind().trino_error_name(), "EXCEEDED_TIME_LIMIT");
        assert!(e.message().contains("200.00ms"), "{}", e.message());
        assert_eq!(
            submitted.entry().error(),
            Some(ErrorKind::ExceededTimeLimit)
        );
        assert!(submitted.session.stop.is_stopped());
        // The server's limit wins when it is shorter, and a query that ends
        // in time is not touched.
        let engine =
            QueryEngine::new(Vec::new()).with_max_run_time(Some(Duration::from_millis(100)));
        assert_eq!(
            engine.run_time_limit(&session),
            Some(Duration::from_millis(100))
        );
        let quick = engine.submit(
            "test",
            &Session::new("bob", "system", "runtime"),
            "SELECT 1",
        );
        let planned = quick.plan().await.unwrap();
        let mut stream = quick.execute(planned, Track::Arrow).await.unwrap();
        while let Some(batch) = stream.next().await {
            batch.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(quick.entry().state(), "FINISHED");
    }

    #[tokio::test]
    async fn a_query_killed_while_queued_is_not_planned() {
        let engine = engine();
        let submitted = engine.submit("test", &session(), "SELECT 1");
        let id = submitted.entry().id.clone();
        engine
            .queries()
            .kill(&Session::new("alice", "c", "s"), &id, None)
            .unwrap();
        let e = submitted.plan().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Killed);
    }
}
