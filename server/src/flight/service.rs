//! The Flight SQL service: statements, prepared statements, handshake.

use std::pin::Pin;
use std::sync::Arc;

use crate::auth::Caller;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use contango_common::Session;
use contango_common::error::ContangoError;
use contango_sql::queries::Track;
use contango_sql::{PlannedStatement, Submission};
use datafusion::arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::metadata::Metadata;
use super::plan_cache::PlanCache;
use super::prepared::PreparedStatements;
use super::status::{status, to_status};
use crate::app::App;

/// Prefix of statement tickets (the SQL follows).
/// Statement tickets: prefix, plan-cache nonce, `:`, the SQL.
const STATEMENT_TICKET: &[u8] = b"contango.sql.v2:";

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Flight SQL over the shared query engine.
#[derive(Debug, Clone)]
pub struct FlightSqlImpl {
    pub(super) app: App,
    pub(super) prepared: Arc<PreparedStatements>,
    pub(super) metadata: Arc<Metadata>,
    plans: Arc<PlanCache>,
}

impl FlightSqlImpl {
    /// A service over `app`.
    pub fn new(app: App) -> Self {
        Self {
            metadata: Arc::new(Metadata::new(app.clone())),
            prepared: Arc::new(PreparedStatements::default()),
            plans: Arc::default(),
            app,
        }
    }

    /// The session of the caller (see [`crate::session_headers`]): gRPC
    /// metadata read as HTTP headers.
    pub(super) fn session<T>(&self, request: &Request<T>) -> Result<Session, Status> {
        let headers = request.metadata().clone().into_headers();
        let (session, applied) =
            crate::session_headers::request_session(&self.app, &headers, &self.caller(request))
                .map_err(|e| to_status(&e))?;
        applied.map_err(|e| to_status(&e))?;
        Ok(session)
    }

    /// Where a request comes from: the peer's address, and TLS when the
    /// port is configured for it (then every connection is TLS).
    pub(super) fn caller<T>(&self, request: &Request<T>) -> Caller {
        let addr = request.remote_addr().map(|a| a.ip());
        if self.app.config.server.tls_cert.is_empty() {
            Caller::plain(addr)
        } else {
            Caller::tls(addr)
        }
    }

    /// Plans `sql` only to describe its result and parameters (creating and
    /// describing prepared statements): no query is submitted unless it
    /// fails to plan (see [`contango_sql::QueryEngine::describe`]).
    pub(super) async fn describe(
        &self,
        session: &Session,
        sql: &str,
    ) -> Result<PlannedStatement, Status> {
        self.app
            .engine
            .describe("flight", session, sql)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, sql, "planning failed");
                to_status(&e)
            })
    }

    /// Submits `sql` as a Flight SQL query and plans it.
    pub(super) async fn submit(
        &self,
        session: &Session,
        sql: &str,
    ) -> Result<(Submission, PlannedStatement), Status> {
        let submission = self.app.engine.submit("flight", session, sql);
        match submission.plan().await {
            Ok(planned) => Ok((submission, planned)),
            Err(e) => {
                tracing::debug!(error = %e, sql, "planning failed");
                Err(to_status(&e))
            }
        }
    }

    /// FlightInfo with exactly one endpoint and no locations.
    pub(super) fn flight_info(
        schema: &SchemaRef,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor);
        Ok(info)
    }

    /// FlightInfo for a metadata command: authorize, then a ticket that is the command.
    fn metadata_info(
        &self,
        schema: SchemaRef,
        command: arrow_flight::sql::Any,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let info = Self::flight_info(&schema, command.encode_to_vec(), request.into_inner())?;
        Ok(Response::new(info))
    }

    /// Runs a planned submission and streams its results batch by batch as
    /// Flight data (the stream is tracked: `kill_query` ends it).
    pub(super) async fn stream(
        &self,
        submission: &Submission,
        planned: PlannedStatement,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let results = submission
            .execute(planned, Track::Arrow)
            .await
            .map_err(|e| to_status(&e))?;
        let schema = results.schema();
        let batches = results.map_err(|e| {
            let s = status(ContangoError::from(e));
            FlightError::Tonic(Box::new(s))
        });
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(encoded)))
    }
}

fn statement_ticket(nonce: &str, sql: &str) -> Vec<u8> {
    let handle = [STATEMENT_TICKET, nonce.as_bytes(), b":", sql.as_bytes()].concat();
    TicketStatementQuery {
        statement_handle: handle.into(),
    }
    .as_any()
    .encode_to_vec()
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlImpl {
    type FlightService = FlightSqlImpl;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxStream<HandshakeResponse>>, Status> {
        let auth = &self.app.auth;
        let caller = self.caller(&request);
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let token = match header.as_deref() {
            Some(h) if h.trim_start().to_ascii_lowercase().starts_with("bearer ") => {
                auth.check_bearer(h).map_err(|e| to_status(&e))?;
                h.trim()[7..].trim().to_string()
            }
            Some(h) if auth.enabled() => {
                let user = auth.check_basic(h, &caller).map_err(|e| to_status(&e))?;
                auth.issue_token(&user)
            }
            Some(h) => auth.issue_token(
                &auth
                    .authorize(Some(h), &caller)
                    .map_err(|e| to_status(&e))?,
            ),
            None if !auth.enabled() => auth.issue_token(crate::auth::ANONYMOUS),
            None => {
                // No header: the payload must carry nothing we could accept.
                let mut stream = request.into_inner();
                let first = stream.next().await.transpose()?;
                let detail = match first {
                    Some(r) if !r.payload.is_empty() => {
                        "handshake payload is not accepted as credentials"
                    }
                    _ => "no credentials",
                };
                return Err(Status::unauthenticated(format!(
                    "{detail}: send 'authorization: Basic base64(user:password)'"
                )));
            }
        };
        let response = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut resp: Response<BoxStream<HandshakeResponse>> =
            Response::new(Box::pin(futures::stream::iter(vec![Ok(response)])));
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("token is not a valid header value"))?;
        resp.metadata_mut().insert("authorization", value);
        Ok(resp)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request)?;
        let (submission, planned) = self.submit(&session, &query.query).await?;
        if planned.parameter_count() > 0 {
            let e = ContangoError::bad_parameters(
                "statement has parameters: use a prepared statement to bind them",
            );
            submission.entry().finish_with(&e);
            return Err(to_status(&e));
        }
        let schema = planned.schema();
        let nonce = self.plans.put(submission, planned);
        let info = Self::flight_info(
            &schema,
            statement_ticket(&nonce, &query.query),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request)?;
        let (sql, values) = self
            .prepared
            .get(&session, &cmd.prepared_statement_handle)?;
        if values.as_ref().is_some_and(|v| !v.is_empty()) {
            // Bound parameters: described here, submitted where it runs
            // (the DoGet of the prepared statement binds them again).
            let planned = self
                .bound_prepared(&session, &cmd.prepared_statement_handle)
                .await?;
            let info = Self::flight_info(
                &planned.schema(),
                cmd.as_any().encode_to_vec(),
                request.into_inner(),
            )?;
            return Ok(Response::new(info));
        }
        // No parameters: planned once, here, and run by the DoGet that
        // redeems the ticket (ADBC's `execute` planned it three times:
        // create, GetFlightInfo, DoGet). The ticket stays a prepared-statement
        // command, its handle followed by the plan's nonce, so DoGet checks
        // that the statement is the caller's before running anything.
        let (submission, planned) = self.submit(&session, &sql).await?;
        // Parameters nobody bound: the same error as binding none.
        let planned = match planned.bind(Vec::new()) {
            Ok(planned) => planned,
            Err(e) => {
                submission.entry().finish_with(&e);
                return Err(to_status(&e));
            }
        };
        let schema = planned.schema();
        let nonce = self.plans.put(submission, planned);
        let ticket = CommandPreparedStatementQuery {
            prepared_statement_handle: [cmd.prepared_statement_handle.as_ref(), nonce.as_bytes()]
                .concat()
                .into(),
        };
        let info = Self::flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(schema, query.as_any(), request)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(schema, query.as_any(), request)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(schema, query.as_any(), request)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(schema, query.as_any(), request)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query
            .clone()
            .into_builder(self.metadata.sql_info())
            .schema();
        let info = Self::flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let sql = ticket
            .statement_handle
            .strip_prefix(STATEMENT_TICKET)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| t.split_once(':'))
            .ok_or_else(|| Status::invalid_argument("malformed statement ticket"))?;
        let (nonce, sql) = sql;
        let (submission, planned) = match self.plans.take(nonce, &session.user) {
            Some(taken) => taken,
            None => self.submit(&session, sql).await?,
        };
        self.stream(&submission, planned).await
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        // A ticket from GetFlightInfo: the handle, then the nonce of the plan made there.
        let ticket = &cmd.prepared_statement_handle;
        let (handle, nonce) = ticket.split_at(ticket.len().min(super::prepared::HANDLE_BYTES));
        let (sql, values) = self.prepared.get(&session, handle)?;
        if let Some((submission, planned)) = std::str::from_utf8(nonce)
            .ok()
            .filter(|n| !n.is_empty())
            .and_then(|n| self.plans.take(n, &session.user))
        {
            return self.stream(&submission, planned).await;
        }
        // Otherwise the query is submitted here, with its parameters bound
        // (GetFlightInfo only described it, or its plan expired).
        let submission = self.app.engine.submit("flight", &session, &sql);
        let planned = submission
            .planning(async {
                let planned = self.app.engine.plan(&session, &sql).await?;
                planned.bind(values.unwrap_or_default())
            })
            .await
            .map_err(|e| to_status(&e))?;
        self.stream(&submission, planned).await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let batch = self.metadata.catalogs(&session, query).await?;
        Ok(Metadata::one_batch(batch))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let batch = self.metadata.schemas(&session, query).await?;
        Ok(Metadata::one_batch(batch))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let batch = self.metadata.tables(&session, query).await?;
        Ok(Metadata::one_batch(batch))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let batch = Metadata::table_types(query)?;
        Ok(Metadata::one_batch(batch))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let batch = query
            .into_builder(self.metadata.sql_info())
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Metadata::one_batch(batch))
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = self.session(&request)?;
        let handle = cmd.prepared_statement_handle.clone();
        let values = super::prepared::read_parameters(request.into_inner()).await?;
        self.prepared.bind(&session, &handle, values)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle),
        })
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request)?;
        let planned = self.describe(&session, &query.query).await?;
        let parameter_schema = planned.parameter_schema().map_err(|e| to_status(&e))?;
        let handle = self.prepared.create(&session, query.query);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle,
            dataset_schema: super::schema::ipc_schema(&planned.schema())?,
            parameter_schema: if parameter_schema.fields().is_empty() {
                Default::default()
            } else {
                super::schema::ipc_schema(&Arc::new(parameter_schema))?
            },
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request)?;
        self.prepared
            .close(&session, &query.prepared_statement_handle)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

impl FlightSqlImpl {
    /// Plans a prepared statement and binds its parameters (if any were sent).
    pub(super) async fn bound_prepared(
        &self,
        session: &Session,
        handle: &[u8],
    ) -> Result<PlannedStatement, Status> {
        let (sql, values) = self.prepared.get(session, handle)?;
        let planned = self.describe(session, &sql).await?;
        planned
            .bind(values.unwrap_or_default())
            .map_err(|e| to_status(&e))
    }
}
