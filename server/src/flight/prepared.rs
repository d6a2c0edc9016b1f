//! Server-side prepared statements: SQL plus the last bound parameter row.

use std::collections::HashMap;

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
const MAX_PREPARED: usize = 10_000;

#[derive(Debug)]
struct Prepared {
    user: String,
    sql: String,
    values: Option<Vec<ScalarValue>>,
    serial: u64,
}

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
        let guard = self.inner.lock();
        let p = lookup(&guard.0, session, handle)?;
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
        lookup(&guard.0, session, handle)?;
        if let Some(p) = guard.0.get_mut(handle) {
            p.values = Some(values);
        }
        Ok(())
    }

    /// Forgets `handle`.
    pub fn close(&self, session: &Session, handle: &[u8]) -> Result<(), Status> {
        let mut guard = self.inner.lock();
        lookup(&guard.0, session, handle)?;
        guard.0.remove(handle);
        Ok(())
    }
}

fn lookup<'a>(
    map: &'a HashMap<Bytes, Prepared>,
    session: &Session,
    handle: &[u8],
) -> Result<&'a Prepared, Status> {
    match map.get(handle) {
        Some(p) if p.user == session.user => Ok(p),
        _ => Err(Status::not_found(
            "unknown or closed prepared statement handle",
        )),
    }
}

/// Reads the parameter batch a client sent with DoPut: exactly one row.
pub async fn read_parameters(stream: PeekableFlightDataStream) -> Result<Vec<ScalarValue>, Status> {
    let batches: Vec<_> =
        FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(format!("malformed parameter data: {e}")))?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows != 1 {
        return Err(Status::invalid_argument(format!(
            "bind exactly one row of parameters to a query, got {rows}"
        )));
    }
    let batch = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .expect("one row exists");
    batch
        .columns()
        .iter()
        .map(|c| {
            ScalarValue::try_from_array(c, 0)
                .map_err(|e| Status::invalid_argument(format!("parameter value: {e}")))
        })
        .collect()
}
