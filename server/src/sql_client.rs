//! The smallest client: one statement over Flight SQL, printed as a table.

use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::RecordBatch;
use futures::TryStreamExt;
use tonic::transport::Endpoint;

/// Runs `sql` against `addr` (`host:port`), authenticating when `user` is set.
pub async fn run_query(
    addr: &str,
    user: Option<&str>,
    password: Option<&str>,
    sql: &str,
) -> Result<Vec<RecordBatch>, String> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let channel = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("bad address {addr}: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some(user) = user {
        client
            .handshake(user, password.unwrap_or(""))
            .await
            .map_err(|e| format!("authentication failed: {}", message(&e)))?;
    }
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| message(&e))?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint
            .ticket
            .ok_or("server sent an endpoint without a ticket")?;
        let stream = client.do_get(ticket).await.map_err(|e| message(&e))?;
        let mut got: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| e.to_string())?;
        batches.append(&mut got);
    }
    Ok(batches)
}

/// The status message of a Flight error, without the transport noise.
fn message(e: &FlightError) -> String {
    match e {
        FlightError::Tonic(s) => format!("{:?}: {}", s.code(), s.message()),
        other => other.to_string(),
    }
}
