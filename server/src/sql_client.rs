//! The smallest client: one statement over Flight SQL, printed as a table.

use arrow_flight::HandshakeRequest;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::RecordBatch;
use futures::TryStreamExt;
use tonic::transport::{Channel, Endpoint};

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
    let mut client = FlightSqlServiceClient::new(channel.clone());
    if let Some(user) = user {
        let token = handshake(channel, user, password.unwrap_or("")).await?;
        client.set_token(token);
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
        let mut got: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| message(&e))?;
        batches.append(&mut got);
    }
    Ok(batches)
}

/// Basic-credential handshake; returns the bearer token from the response header.
async fn handshake(channel: Channel, user: &str, password: &str) -> Result<String, String> {
    use base64::Engine;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut request = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest::default()]));
    let value = format!("Basic {creds}")
        .parse()
        .map_err(|_| "user name or password is not valid in a header".to_string())?;
    request.metadata_mut().insert("authorization", value);
    let response = FlightServiceClient::new(channel)
        .handshake(request)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
    let header = response
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("the server returned no bearer token")?;
    Ok(header.strip_prefix("Bearer ").unwrap_or(header).to_string())
}

/// The status message of a Flight error, without the transport noise.
fn message(e: &FlightError) -> String {
    match e {
        FlightError::Tonic(s) => format!("{:?}: {}", s.code(), s.message()),
        other => other.to_string(),
    }
}
