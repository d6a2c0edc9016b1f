"""Raw Arrow Flight (pyarrow.flight) against the market server.

Flight SQL commands are built by hand as protobuf `Any` messages so that this
test depends on no Flight SQL client library.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import helpers
from helpers import pb_bool_field, pb_bytes_field, sql_any, statement_query, statement_ticket

TIMEOUT = helpers.RPC_TIMEOUT_S


# --- fixtures ---------------------------------------------------------------- #


@pytest.fixture(scope="module")
def client(market_server):
    c = flight.FlightClient(market_server.flight_uri)
    yield c
    c.close()


@pytest.fixture(scope="module")
def token_header(client, market_server):
    return client.authenticate_basic_token(market_server.user, market_server.password)


@pytest.fixture(scope="module")
def options(token_header):
    return flight.FlightCallOptions(headers=[token_header], timeout=TIMEOUT)


@pytest.fixture(scope="module")
def oracle(market_catalog):
    return helpers.duck(ticks=market_catalog.load_table("market.ticks").scan().to_arrow())


def run_sql(client, options, sql: str) -> tuple[flight.FlightInfo, pa.Table]:
    info = client.get_flight_info(statement_query(sql), options)
    assert len(info.endpoints) == 1
    return info, client.do_get(info.endpoints[0].ticket, options).read_all()


# --- tests ------------------------------------------------------------------- #


def test_healthz(market_server):
    from conftest import http_get_json

    body = http_get_json(market_server.http_url + "/healthz")
    assert body["status"] == "ok"
    assert body.get("version"), body


def test_basic_auth_returns_bearer_header(token_header):
    key, value = token_header
    assert key.lower() == b"authorization"
    assert value.startswith(b"Bearer ")
    assert len(value) > len(b"Bearer ") + 16


def test_each_handshake_issues_a_working_token(market_server, oracle):
    c = flight.FlightClient(market_server.flight_uri)
    try:
        headers = [c.authenticate_basic_token(market_server.user, market_server.password) for _ in range(2)]
        assert headers[0] != headers[1]
        for h in headers:
            _, t = run_sql(c, flight.FlightCallOptions(headers=[h], timeout=TIMEOUT), "SELECT count(*) AS n FROM ticks")
            assert helpers.rows(t) == helpers.duck_rows(oracle, "SELECT count(*) FROM ticks")
    finally:
        c.close()


def test_statement_query_flight_info_and_do_get(client, options, oracle):
    sql = "SELECT commodity, count(*) AS n, min(price) AS lo, max(price) AS hi FROM iceberg.market.ticks GROUP BY commodity"
    info = client.get_flight_info(statement_query(sql), options)
    assert len(info.endpoints) == 1
    assert list(info.endpoints[0].locations) == []
    assert info.schema.names == ["commodity", "n", "lo", "hi"]
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.schema.names == info.schema.names
    assert [f.type for f in table.schema] == [f.type for f in info.schema]
    expected = helpers.duck_rows(
        oracle, "SELECT commodity, count(*) AS n, min(price) AS lo, max(price) AS hi FROM ticks GROUP BY commodity"
    )
    assert len(expected) >= 10
    helpers.assert_rows_equal(helpers.rows(table), expected)


def test_do_get_streams_all_rows(client, options, oracle):
    _, table = run_sql(client, options, "SELECT commodity, ts, price, volume, source FROM ticks")
    expected = helpers.duck_rows(oracle, "SELECT commodity, ts, price, volume, source FROM ticks")
    helpers.assert_rows_equal(helpers.rows(table), expected, what="full scan")


def test_get_schema(client, options):
    result = client.get_schema(statement_query("SELECT commodity, price, volume FROM market.ticks"), options)
    schema = result.schema
    assert schema.names == ["commodity", "price", "volume"]
    assert schema.field("commodity").type in (pa.string(), pa.large_string(), pa.string_view())
    assert schema.field("price").type == pa.float64()
    assert schema.field("volume").type == pa.int64()


def test_get_catalogs_schemas_tables(client, options):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetCatalogs")), options)
    catalogs = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    assert {"catalog_name": "iceberg"} in catalogs

    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetDbSchemas")), options)
    schemas = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    assert {"catalog_name": "iceberg", "db_schema_name": "market"} in schemas

    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetTables")), options)
    tables = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    market = sorted((t["table_name"], t["table_type"]) for t in tables if t["db_schema_name"] == "market")
    assert market == [("defects", "TABLE"), ("ticks", "TABLE")]

    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetTableTypes")), options)
    types = {r["table_type"] for r in client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()}
    assert {"TABLE", "VIEW"} <= types


def test_information_schema_is_listed_in_metadata(client, options):
    """information_schema is queryable with SQL, so GetDbSchemas and GetTables must list it (as VIEWs)."""
    _, sql_view = run_sql(
        client, options, "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_schema = 'information_schema'"
    )
    assert sql_view.num_rows == 1  # SQL sees it

    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetDbSchemas")), options)
    schemas = {r["db_schema_name"] for r in client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()}
    assert "information_schema" in schemas, f"GetDbSchemas returned {sorted(schemas)}"

    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetTables")), options)
    tables = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    info_schema = {t["table_name"]: t["table_type"] for t in tables if t["db_schema_name"] == "information_schema"}
    assert info_schema.get("tables") == "VIEW", f"GetTables for information_schema: {info_schema}"


def test_get_tables_with_schema_and_filter(client, options, market_catalog):
    # CommandGetTables{catalog=1, db_schema_filter_pattern=2, table_name_filter_pattern=3, include_schema=5}
    body = pb_bytes_field(1, b"iceberg") + pb_bytes_field(2, b"market") + pb_bytes_field(3, b"tick%") + pb_bool_field(5, True)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql_any("CommandGetTables", body)), options)
    rows = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
    assert [(r["catalog_name"], r["db_schema_name"], r["table_name"]) for r in rows] == [("iceberg", "market", "ticks")]
    schema = pa.ipc.read_schema(pa.py_buffer(rows[0]["table_schema"]))
    assert schema.names == [f.name for f in market_catalog.load_table("market.ticks").schema().fields]


def test_garbage_ticket_is_rejected_and_server_keeps_serving(client, options, oracle):
    with pytest.raises((flight.FlightServerError, pa.ArrowInvalid)):
        client.do_get(flight.Ticket(b"garbage"), options).read_all()
    _, t = run_sql(client, options, "SELECT count(*) AS n FROM ticks")
    assert helpers.rows(t) == helpers.duck_rows(oracle, "SELECT count(*) FROM ticks")


def test_malformed_statement_ticket_is_invalid(client, options):
    with pytest.raises(pa.ArrowInvalid, match="malformed statement ticket"):
        client.do_get(statement_ticket(b"not a contango handle"), options).read_all()


def test_forged_ticket_cannot_bypass_sql_policy(client, options, tmp_path: Path):
    """Tickets carry SQL; one forged by a client must meet the same read-only policy."""
    target = tmp_path / "forged-ticket-copy.csv"
    for sql in [
        f"COPY (SELECT 1) TO '{target}'",
        "DROP TABLE market.ticks",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
    ]:
        with pytest.raises(flight.FlightUnauthorizedError):
            client.do_get(statement_ticket(b"contango.sql.v2:forged-nonce:" + sql.encode()), options).read_all()
    assert not target.exists()
    _, t = run_sql(client, options, "SELECT count(*) AS n FROM market.ticks")
    assert t.column("n")[0].as_py() > 0


def test_forged_ticket_without_token_is_unauthenticated(client):
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(statement_ticket(b"contango.sql.v2:x:SELECT 1"), flight.FlightCallOptions(timeout=TIMEOUT)).read_all()


def test_wrong_password_handshake_is_unauthenticated(market_server):
    c = flight.FlightClient(market_server.flight_uri)
    try:
        with pytest.raises(flight.FlightUnauthenticatedError):
            c.authenticate_basic_token(market_server.user, "wrong-password")
        with pytest.raises(flight.FlightUnauthenticatedError):
            c.authenticate_basic_token("nobody", "secret-pw")
    finally:
        c.close()


def test_no_token_is_unauthenticated(client):
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(statement_query("SELECT 1"), flight.FlightCallOptions(timeout=TIMEOUT))
    # pyarrow raises a plain OSError from GetSchema, but the status is UNAUTHENTICATED.
    with pytest.raises((flight.FlightUnauthenticatedError, OSError), match="unauthenticated error"):
        client.get_schema(statement_query("SELECT 1"), flight.FlightCallOptions(timeout=TIMEOUT))


def test_unknown_bearer_token_is_unauthenticated(client):
    bogus = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer 0123456789abcdef")], timeout=TIMEOUT)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(statement_query("SELECT 1"), bogus)


def test_basic_header_on_each_call_works(client, market_server):
    import base64

    basic = base64.b64encode(f"{market_server.user}:{market_server.password}".encode())
    opts = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + basic)], timeout=TIMEOUT)
    info, table = run_sql(client, opts, "SELECT 40 + 2 AS x")
    assert table.to_pylist() == [{"x": 42}]


def test_error_codes_map_to_flight_exceptions(client, options):
    with pytest.raises(pa.ArrowInvalid, match="(?i)nocol"):
        client.get_flight_info(statement_query("SELECT nocol FROM ticks"), options)
    with pytest.raises(flight.FlightUnauthorizedError, match="COPY"):
        client.get_flight_info(statement_query("COPY (SELECT 1) TO '/tmp/contango-flight-copy.csv'"), options)
    with pytest.raises(pa.ArrowInvalid, match="(?i)parameter"):
        client.get_flight_info(statement_query("SELECT * FROM ticks WHERE price > $1"), options)
