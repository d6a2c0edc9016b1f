//! `ContangoFlight`: the Flight service with `GetSchema` added.

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{Any, Command};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    IpcMessage, PollInfo, SchemaAsIpc, SchemaResult, Ticket,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::service::FlightSqlImpl;

/// IPC-encoded schema bytes, as Flight SQL results carry them.
pub fn ipc_schema(schema: &SchemaRef) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

/// Delegates every RPC to [`FlightSqlImpl`] and answers `GetSchema` itself.
#[derive(Debug, Clone)]
pub struct ContangoFlight {
    inner: Arc<FlightSqlImpl>,
}

impl ContangoFlight {
    /// Wraps the Flight SQL service.
    pub fn new(inner: FlightSqlImpl) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    async fn schema_of(&self, request: Request<FlightDescriptor>) -> Result<SchemaRef, Status> {
        let session = self.inner.session(&request)?;
        let any = Any::decode(&*request.get_ref().cmd)
            .map_err(|e| Status::invalid_argument(format!("malformed descriptor: {e}")))?;
        let command = Command::try_from(any)
            .map_err(|e| Status::invalid_argument(format!("unknown command: {e}")))?;
        Ok(match command {
            Command::CommandStatementQuery(q) => {
                self.inner.describe(&session, &q.query).await?.schema()
            }
            Command::CommandPreparedStatementQuery(p) => {
                let (sql, _) = self
                    .inner
                    .prepared
                    .get(&session, &p.prepared_statement_handle)?;
                self.inner.describe(&session, &sql).await?.schema()
            }
            Command::CommandGetCatalogs(c) => c.into_builder().schema(),
            Command::CommandGetDbSchemas(c) => c.into_builder().schema(),
            Command::CommandGetTables(c) => c.into_builder().schema(),
            Command::CommandGetTableTypes(c) => c.into_builder().schema(),
            Command::CommandGetSqlInfo(c) => {
                c.into_builder(self.inner.metadata.sql_info()).schema()
            }
            other => {
                return Err(Status::unimplemented(format!(
                    "GetSchema is not supported for {}",
                    other.type_url()
                )));
            }
        })
    }
}

type Inner = FlightSqlImpl;

#[tonic::async_trait]
impl FlightService for ContangoFlight {
    type HandshakeStream = <Inner as FlightService>::HandshakeStream;
    type ListFlightsStream = <Inner as FlightService>::ListFlightsStream;
    type DoGetStream = <Inner as FlightService>::DoGetStream;
    type DoPutStream = <Inner as FlightService>::DoPutStream;
    type DoActionStream = <Inner as FlightService>::DoActionStream;
    type ListActionsStream = <Inner as FlightService>::ListActionsStream;
    type DoExchangeStream = <Inner as FlightService>::DoExchangeStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        FlightService::handshake(&*self.inner, request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        FlightService::list_flights(&*self.inner, request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        FlightService::get_flight_info(&*self.inner, request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        FlightService::poll_flight_info(&*self.inner, request).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let schema = self.schema_of(request).await?;
        Ok(Response::new(SchemaResult {
            schema: ipc_schema(&schema)?,
        }))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        FlightService::do_get(&*self.inner, request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        FlightService::do_put(&*self.inner, request).await
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        FlightService::do_action(&*self.inner, request).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        FlightService::list_actions(&*self.inner, request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        FlightService::do_exchange(&*self.inner, request).await
    }
}
