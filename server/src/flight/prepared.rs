//! Server-side prepared statements: SQL plus the last bound parameter row.
//! A statement nobody uses for [`IDLE_EXPIRY`] is forgotten (its handle then
//! answers NOT_FOUND, like a closed one), and at most [`MAX_PREPARED`] are
//! kept. Parameters sent with DoPut are read batch by batch and refused at
//! the first row beyond the one a query binds, never buffered whole.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use bytes::Bytes;
use contango_common::Session;
use datafusion::common::ScalarValue;
use futures::TryStreamExt;
use parking_lot::Mutex;
use tonic::Status;

/// Most open prepared statements per server; the oldest are dropped beyond it.
pub const MAX_PREPARED: usize = 10_000;
/// A prepared statement unused this long is forgotten.
pub const IDLE_EXPIRY: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Prepared {
    user: String,
    sql: String,
    values: Option<Vec<ScalarValue>>,
    serial: u64,
    used: Instant,
}

/// Length of a handle (a UUID's bytes). A DoGet ticket of a prepared
/// statement may carry more after it (the nonce of a plan made by its
/// GetFlightInfo).
pub(super) const HANDLE_BYTES: usize = std::mem::size_of::<uuid::Bytes>();

/// Prepared statements by handle, owned by the user that created them.
#[derive(Debug, Default)]
pub struct PreparedStatements {
    inner: Mutex<(HashMap<Bytes, Prepared>, u64)>,
}

impl PreparedStatements {
    /// Registers `sql` and returns its handle.
    pub fn create(&self, session: &Session, sql: String) -> Bytes {
        let handle = Bytes::from(uuid::Uuid::new_v4().as_bytes().to_vec());
        let mut guard = self.inner.lock();
        let (map, serial) = &mut *guard;
        *serial += 1;
        map.retain(|_, p| p.used.elapsed() < IDLE_EXPIRY);
        if map.len() >= MAX_PREPARED
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.serial)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            handle.clone(),
            Prepared {
                user: session.user.clone(),
                sql,
                values: None,
                serial: *serial,
                used: Instant::now(),
            },
        );
        handle
    }

    /// SQL and bound values of `handle`.
    pub fn get(
        &self,
        session: &Session,
        handle: &[u8],
    ) -> Result<(String, Option<Vec<ScalarValue>>), Status> {
        let mut guard = self.inner.lock();
        let p = lookup(&mut guard.0, session, handle)?;
        Ok((p.sql.clone(), p.values.clone()))
    }

    /// Replaces the bound parameter values of `handle`.
    pub fn bind(
        &self,
        session: &Session,
        handle: &[u8],
        values: Vec<ScalarValue>,
    ) -> Result<(), Status> {
        let mut guard = self.inner.lock();
        lookup(&mut guard.0, session, handle)?.values = Some(values);
        Ok(())
    }

    /// Forgets `handle`.
    pub fn close(&self, session: &Session, handle: &[u8]) -> Result<(), Status> {
        let mut guard = self.inner.lock();
        lookup(&mut guard.0, session, handle)?;
        guard.0.remove(handle);
        Ok(())
    }
}

/// The live statement of `handle` owned by `session`'s user, marked used.
fn lookup<'a>(
    map: &'a mut HashMap<Bytes, Prepared>,
    session: &Session,
    handle: &[u8],
) -> Result<&'a mut Prepared, Status> {
    let gone = || {
        Status::not_found(
            "unknown or closed prepared statement handle (statements unused for an hour expire)",
        )
    };
    if map
        .get(handle)
        .is_some_and(|p| p.used.elapsed() >= IDLE_EXPIRY)
    {
        map.remove(handle);
        return Err(gone());
    }
    match map.get_mut(handle) {
        Some(p) if p.user == session.user => {
            p.used = Instant::now();
            Ok(p)
        }
        _ => Err(gone()),
    }
}

/// Reads the parameter batch a client sent with DoPut: exactly one row,
/// read batch by batch and refused at the first row too many.
pub async fn read_parameters(stream: PeekableFlightDataStream) -> Result<Vec<ScalarValue>, Status> {
    let mut batches =
        FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from));
    let mut row: Option<Vec<ScalarValue>> = None;
    let mut rows = 0usize;
    while let Some(batch) = batches
        .try_next()
        .await
        .map_err(|e| Status::invalid_argument(format!("malformed parameter data: {e}")))?
    {
        rows += batch.num_rows();
        if rows > 1 {
            return Err(Status::invalid_argument(format!(
                "bind exactly one row of parameters to a query, got at least {rows}"
            )));
        }
        if batch.num_rows() == 1 {
            row = Some(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        ScalarValue::try_from_array(c, 0)
                            .map_err(|e| Status::invalid_argument(format!("parameter value: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
            );
        }
    }
    row.ok_or_else(|| {
        Status::invalid_argument("bind exactly one row of parameters to a query, got 0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_expire_when_unused_and_stay_private() {
        let statements = PreparedStatements::default();
        let alice = Session::new("alice", "c", "s");
        let bob = Session::new("bob", "c", "s");
        let handle = statements.create(&alice, "SELECT 1".into());
        assert_eq!(statements.get(&alice, &handle).unwrap().0, "SELECT 1");
        assert_eq!(
            statements.get(&bob, &handle).unwrap_err().code(),
            tonic::Code::NotFound
        );
        // Unused for longer than IDLE_EXPIRY: gone, and removed.
        let past = Instant::now()
            .checked_sub(IDLE_EXPIRY + Duration::from_secs(1))
            .expect("the clock is past an hour");
        statements.inner.lock().0.get_mut(&handle).unwrap().used = past;
        let e = statements.get(&alice, &handle).unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(
            e.message().contains("unused for an hour"),
            "{}",
            e.message()
        );
        assert!(statements.inner.lock().0.is_empty());
        // Creating a statement sweeps expired ones.
        let old = statements.create(&alice, "SELECT 2".into());
        statements.inner.lock().0.get_mut(&old).unwrap().used = past;
        let _new = statements.create(&alice, "SELECT 3".into());
        assert_eq!(statements.inner.lock().0.len(), 1);
    }
}
