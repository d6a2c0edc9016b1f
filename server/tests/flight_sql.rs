//! Every Flight SQL RPC through arrow-flight's FlightSqlServiceClient.

mod common;

use std::sync::Arc;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetTables, CommandStatementQuery, ProstMessageExt, SqlInfo,
};
use arrow_flight::{FlightDescriptor, FlightInfo, HandshakeRequest, Ticket};
use common::{PASSWORD, TestServer, USER, oracle};
use datafusion::arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::ipc::convert::try_schema_from_ipc_buffer;
use futures::TryStreamExt;
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    assert_eq!(info.endpoint.len(), 1, "exactly one endpoint");
    assert!(info.endpoint[0].location.is_empty(), "no locations");
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

fn code(e: &arrow_flight::error::FlightError) -> Code {
    match e {
        arrow_flight::error::FlightError::Tonic(s) => s.code(),
        other => panic!("expected a gRPC status, got {other}"),
    }
}

fn counts(batches: &[RecordBatch]) -> std::collections::HashMap<String, i64> {
    let mut out = std::collections::HashMap::new();
    for b in batches {
        let c = b.column(0).as_string::<i32>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(c.value(i).to_string(), n.value(i));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_results_match_the_generator() {
    let server = TestServer::start(true).await;
    let mut client = server.client().await;
    let info = client
        .execute(
            "SELECT commodity, count(*) AS n FROM iceberg.market.ticks GROUP BY commodity".into(),
            None,
        )
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    let (rows, _) = oracle(&server.spec, 0.0);
    assert_eq!(counts(&batches), rows);
    assert_eq!(rows.len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_basic_bearer_and_failures() {
    let server = TestServer::start(true).await;
    let mut client = FlightSqlServiceClient::new(server.channel().await);
    let e = client.execute("SELECT 1".into(), None).await.unwrap_err();
    assert_eq!(code(&e), Code::Unauthenticated, "{e}");
    // The client wraps a failed handshake in an IPC error; the status text is kept.
    let e = client
        .handshake(USER, "wrong")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid credentials for user 'alice'"), "{e}");
    client.handshake(USER, PASSWORD).await.unwrap();
    let token = client.token().unwrap().clone();
    assert!(client.execute("SELECT 1".into(), None).await.is_ok());

    // A handshake that carries the bearer token succeeds and returns it.
    let mut raw = FlightServiceClient::new(server.channel().await);
    let mut req = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest::default()]));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let resp = raw.handshake(req).await.unwrap();
    assert_eq!(
        resp.metadata()
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {token}")
    );

    // Unpadded Base64 Basic credentials are accepted.
    use base64::Engine;
    let creds =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{USER}:{PASSWORD}"));
    let mut req = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest::default()]));
    req.metadata_mut()
        .insert("authorization", format!("Basic {creds}").parse().unwrap());
    let resp = raw.handshake(req).await.unwrap();
    assert!(resp.metadata().get("authorization").is_some());

    // Garbage handshakes.
    for header in ["Basic !!!notbase64", "Bearer not-a-token", "Digest abc"] {
        let mut req = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest::default()]));
        req.metadata_mut()
            .insert("authorization", header.parse().unwrap());
        let status = raw.handshake(req).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{header}: {status}");
    }
    let req = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest {
        protocol_version: 0,
        payload: b"\x00\xffgarbage".to_vec().into(),
    }]));
    let status = raw.handshake(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Still serving.
    assert!(client.execute("SELECT 1".into(), None).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_with_both_placeholder_styles() {
    let server = TestServer::start(true).await;
    let mut client = server.client().await;
    let (_, above) = oracle(&server.spec, 70.0);
    for sql in [
        "SELECT count(*) AS n FROM ticks WHERE commodity = ? AND price > ?",
        "SELECT count(*) AS n FROM ticks WHERE commodity = $1 AND price > $2",
    ] {
        let mut stmt = client.prepare(sql.into(), None).await.unwrap();
        assert_eq!(stmt.dataset_schema().unwrap().field(0).name(), "n");
        let params = stmt.parameter_schema().unwrap().clone();
        assert_eq!(params.fields().len(), 2, "{sql}");
        assert_eq!(params.field(0).data_type(), &DataType::Utf8);
        assert_eq!(params.field(1).data_type(), &DataType::Float64);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Utf8, false),
                Field::new("b", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["WTI"])),
                Arc::new(Int64Array::from(vec![70])),
            ],
        )
        .unwrap();
        stmt.set_parameters(batch).unwrap();
        let info = stmt.execute().await.unwrap();
        let batches = fetch(&mut client, info).await;
        let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        assert_eq!(n, above["WTI"], "{sql}");
        stmt.close().await.unwrap();
    }

    // Wrong number and wrong type of parameters.
    let mut stmt = client
        .prepare("SELECT count(*) FROM ticks WHERE price > ?".into(), None)
        .await
        .unwrap();
    let two = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Float64, false),
            Field::new("b", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(Float64Array::from(vec![2.0])),
        ],
    )
    .unwrap();
    stmt.set_parameters(two).unwrap();
    let e = stmt.execute().await.unwrap_err();
    assert!(e.to_string().contains("1 parameter(s) but 2"), "{e}");
    let text = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["abc"]))],
    )
    .unwrap();
    stmt.set_parameters(text).unwrap();
    let e = stmt.execute().await.unwrap_err();
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(e.to_string().contains("$1"), "{e}");
    stmt.close().await.unwrap();

    // A statement with parameters cannot run unbound.
    let e = client
        .execute("SELECT * FROM ticks WHERE price > ?".into(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("prepared statement"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_rpcs() {
    let server = TestServer::start(true).await;
    let mut client = server.client().await;

    let info = client.get_catalogs().await.unwrap();
    let b = fetch(&mut client, info).await;
    assert_eq!(b[0].schema().field(0).name(), "catalog_name");
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "iceberg");

    let info = client
        .get_db_schemas(CommandGetDbSchemas {
            catalog: Some("iceberg".into()),
            db_schema_filter_pattern: Some("mar%".into()),
        })
        .await
        .unwrap();
    let b = fetch(&mut client, info).await;
    let names: Vec<_> = b
        .iter()
        .flat_map(|b| {
            let c = b.column(1).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, vec!["market"]);

    let info = client
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("market".into()),
            table_name_filter_pattern: Some("t_c%".into()),
            table_types: vec!["TABLE".into()],
            include_schema: true,
        })
        .await
        .unwrap();
    let b = fetch(&mut client, info).await;
    assert_eq!(b[0].num_rows(), 1);
    assert_eq!(b[0].column(2).as_string::<i32>().value(0), "ticks");
    assert_eq!(b[0].column(3).as_string::<i32>().value(0), "TABLE");
    let schema = try_schema_from_ipc_buffer(b[0].column(4).as_binary::<i32>().value(0)).unwrap();
    let cols: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(cols, vec!["commodity", "ts", "price", "volume", "source"]);

    let info = client.get_table_types().await.unwrap();
    let b = fetch(&mut client, info).await;
    let c = b[0].column(0).as_string::<i32>();
    assert_eq!((c.value(0), c.value(1)), ("TABLE", "VIEW"));

    let info = client
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .unwrap();
    let b = fetch(&mut client, info).await;
    assert_eq!(b[0].num_rows(), 2);

    // GetSchema for a statement, without executing it.
    let mut raw = FlightServiceClient::new(server.channel().await);
    let token = client.token().unwrap().clone();
    let cmd = CommandStatementQuery {
        query: "SELECT commodity, avg(price) AS p FROM ticks GROUP BY 1".into(),
        transaction_id: None,
    };
    let mut req = tonic::Request::new(FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec()));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let schema = raw.get_schema(req).await.unwrap().into_inner();
    let schema = try_schema_from_ipc_buffer(&schema.schema).unwrap();
    assert_eq!(schema.field(1).name(), "p");
    assert_eq!(schema.field(1).data_type(), &DataType::Float64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_server_keeps_serving() {
    let server = TestServer::start(true).await;
    let mut client = server.client().await;
    let cases = [
        ("SELECT * FROM iceberg.market.nope", Code::NotFound, "nope"),
        ("SELECT nope FROM ticks", Code::InvalidArgument, "nope"),
        ("SELEC 1", Code::InvalidArgument, "SELEC"),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            Code::PermissionDenied,
            "/etc/passwd",
        ),
        (
            "COPY (SELECT 1) TO '/tmp/contango-x.csv'",
            Code::PermissionDenied,
            "COPY",
        ),
        (
            "INSERT INTO ticks SELECT * FROM ticks",
            Code::PermissionDenied,
            "read-only",
        ),
        ("DROP TABLE ticks", Code::PermissionDenied, "read-only"),
        (
            "SELECT no_such_function(1)",
            Code::InvalidArgument,
            "no_such_function",
        ),
    ];
    for (sql, expected, needle) in cases {
        let e = client.execute(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&e), expected, "{sql}: {e}");
        assert!(e.to_string().contains(needle), "{sql}: {e}");
    }
    assert!(!std::path::Path::new("/tmp/contango-x.csv").exists());

    // Malformed tickets.
    for ticket in [b"garbage".to_vec(), Vec::new()] {
        let e = client
            .do_get(Ticket::new(ticket))
            .await
            .expect_err("must fail");
        assert!(
            matches!(code(&e), Code::InvalidArgument | Code::Unimplemented),
            "{e}"
        );
    }
    let bad_statement = arrow_flight::sql::TicketStatementQuery {
        statement_handle: b"not-ours".to_vec().into(),
    };
    let e = client
        .do_get(Ticket::new(bad_statement.as_any().encode_to_vec()))
        .await
        .expect_err("must fail");
    assert!(e.to_string().contains("malformed statement ticket"), "{e}");

    // Unknown prepared statement handle.
    let cmd = arrow_flight::sql::CommandPreparedStatementQuery {
        prepared_statement_handle: b"nope".to_vec().into(),
    };
    let e = client
        .do_get(Ticket::new(cmd.as_any().encode_to_vec()))
        .await
        .expect_err("must fail");
    assert_eq!(code(&e), Code::NotFound, "{e}");

    // Still serving, data intact.
    let info = client
        .execute(
            "SELECT commodity, count(*) FROM ticks GROUP BY 1".into(),
            None,
        )
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await;
    assert_eq!(counts(&batches), oracle(&server.spec, 0.0).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_in_many_batches() {
    let server = TestServer::start(false).await;
    let mut client = FlightSqlServiceClient::new(server.channel().await);
    let info = client
        .execute("SELECT * FROM ticks".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<RecordBatch> = client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let expected: i64 = oracle(&server.spec, 0.0).0.values().sum();
    assert_eq!(rows as i64, expected);
    assert!(batches.len() > 1, "results are streamed in batches");
    let nulls: usize = batches.iter().map(|b| b.column(2).null_count()).sum();
    assert!(nulls > 0, "null prices survive the round trip");
}
