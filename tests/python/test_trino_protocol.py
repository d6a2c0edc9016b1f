"""The Trino client protocol (/v1/statement) through the real `trino` Python client.

The server runs over the same market data as `market_server`, with auth off
(the trino client refuses Basic auth over plain HTTP). Results are compared with
DuckDB over pyiceberg's reading of the same Iceberg tables.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
import trino

import helpers
from conftest import trino_connect


@pytest.fixture(scope="module")
def cur(trino_server):
    conn = trino_connect(trino_server)
    yield conn.cursor()
    conn.close()


@pytest.fixture(scope="module")
def oracle(market_catalog):
    ticks = market_catalog.load_table("market.ticks").scan().to_arrow()
    return helpers.duck(ticks=ticks)


def test_rows_and_trino_types_match_duckdb(cur, oracle):
    cur.execute(
        "SELECT commodity, count(*) AS n, sum(volume) AS v, min(ts) AS t0 FROM ticks GROUP BY commodity"
    )
    rows = cur.fetchall()
    assert [(d[0], d[1]) for d in cur.description] == [
        ("commodity", "varchar"),
        ("n", "bigint"),
        ("v", "bigint"),
        ("t0", "timestamp(6) with time zone"),
    ]
    expected = helpers.duck_rows(
        oracle, "SELECT commodity, count(*), sum(volume), min(ts) FROM ticks GROUP BY commodity"
    )
    got = sorted((c, n, v, t.astimezone(datetime.timezone.utc)) for c, n, v, t in rows)
    want = sorted((c, n, v, t.astimezone(datetime.timezone.utc)) for c, n, v, t in expected)
    assert got == want
    assert len(got) == 24


def test_zero_rows_still_carry_columns(cur):
    cur.execute("SELECT commodity, price FROM ticks WHERE 1 = 0")
    assert cur.fetchall() == []
    assert [(d[0], d[1]) for d in cur.description] == [("commodity", "varchar"), ("price", "double")]


def test_large_result_is_paged_completely(cur, oracle):
    cur.execute("SELECT commodity, ts, price, volume FROM ticks")
    rows = cur.fetchall()
    (count, volume), = helpers.duck_rows(oracle, "SELECT count(*), sum(volume) FROM ticks")
    assert len(rows) == count
    assert sum(r[3] for r in rows if r[3] is not None) == volume


def test_negative_wti_price_through_trino(cur):
    cur.execute('SELECT "Date", "Price" FROM iceberg.eia.wti WHERE "Price" < 0')
    assert cur.fetchall() == [[datetime.date(2020, 4, 20), -36.98]]
    assert [d[1] for d in cur.description] == ["date", "double"]


@pytest.mark.parametrize(
    "sql,name,code",
    [
        ("SELECT * FROM iceberg.market.nope", "TABLE_NOT_FOUND", 46),
        ("SELECT nope FROM ticks", "COLUMN_NOT_FOUND", 47),
        ("SELECT no_such_function(1)", "FUNCTION_NOT_FOUND", 6),
        ("COPY (SELECT 1) TO '/tmp/contango-trino-x.csv'", "PERMISSION_DENIED", 4),
    ],
)
def test_errors_carry_trino_names(cur, sql, name, code):
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        cur.execute(sql)
        cur.fetchall()
    assert e.value.error_name == name
    assert e.value.error_code == code
    cur.execute("SELECT 1")
    assert cur.fetchall() == [[1]]


def test_syntax_error_has_location(cur):
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        cur.execute("SELECT 1\nFROM ticks WHERE")
        cur.fetchall()
    assert e.value.error_name == "SYNTAX_ERROR"
    line, column = e.value.error_location
    assert line == 2 and column >= 1


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def test_cancel_stops_the_query_and_server_keeps_serving(trino_server, cur):
    host, port = trino_server.http_addr.split(":")
    conn = trino.dbapi.connect(host=host, port=int(port), user="analyst", catalog="iceberg", schema="market")
    long = conn.cursor()
    # A nested-loop self join: far longer than the test waits.
    sql = "SELECT count(*) FROM ticks a, ticks b, ticks c WHERE a.price < b.price AND b.price < c.price"
    failure: list[BaseException] = []

    def run():
        try:
            long.execute(sql)
            long.fetchall()
        except BaseException as e:  # the cancel surfaces here
            failure.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.time() + 30
    while long.query_id is None and time.time() < deadline:
        time.sleep(0.05)
    assert long.query_id, "query did not start"
    time.sleep(1.0)
    long.cancel()
    t.join(timeout=30)
    assert not t.is_alive(), "cancelled query did not return"
    # The server stops using CPU within a second of the cancel.
    time.sleep(1.0)
    before = _cpu_seconds(trino_server.proc.pid)
    time.sleep(2.0)
    used = _cpu_seconds(trino_server.proc.pid) - before
    assert used < 0.5, f"server still burning CPU after cancel: {used:.2f} s in 2 s"
    cur.execute("SELECT count(*) FROM ticks WHERE commodity = 'WTI'")
    assert cur.fetchall()[0][0] > 0


def test_unknown_next_uri_is_404_with_json(trino_server):
    url = f"{trino_server.http_url}/v1/statement/executing/nope/0/1"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 404
    assert "unknown" in json.loads(e.value.read())["error"]


def test_oversized_statement_is_refused(cur):
    # Longer than max_statement_length (Trino's 1,000,000): Trino's error.
    huge = "SELECT 1 -- " + "x" * (2 << 20)
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        cur.execute(huge)
    assert e.value.error_name == "QUERY_TEXT_TOO_LARGE"
    assert e.value.message == f"Query text length ({len(huge)}) exceeds the maximum length (1000000)"
    # A body beyond 4 bytes per allowed character is not even read.
    with pytest.raises(trino.exceptions.HttpError) as e:
        cur.execute("SELECT 1 -- " + "x" * (5 << 20))
    assert "413" in str(e.value)
    cur.execute("SELECT 2")
    assert cur.fetchall() == [[2]]


def test_v1_info(trino_server):
    with urllib.request.urlopen(f"{trino_server.http_url}/v1/info", timeout=10) as r:
        info = json.loads(r.read())
    assert info["coordinator"] is True and info["starting"] is False
    assert info["nodeVersion"]["version"].startswith("contango-")


def test_basic_auth_on_the_statement_endpoint(market_server):
    """Auth on: a wrong password gets 401 with a JSON body; the right one a queued query."""
    import base64

    def post(password: str):
        creds = base64.b64encode(f"{market_server.user}:{password}".encode()).decode()
        req = urllib.request.Request(
            f"{market_server.http_url}/v1/statement",
            data=b"SELECT 1",
            headers={"Authorization": f"Basic {creds}", "X-Trino-User": market_server.user},
        )
        return urllib.request.urlopen(req, timeout=10)

    with pytest.raises(urllib.error.HTTPError) as e:
        post("wrong")
    assert e.value.code == 401
    assert "invalid credentials" in json.loads(e.value.read())["error"]
    with post(market_server.password) as r:
        first = json.loads(r.read())
    assert first["stats"]["state"] == "QUEUED"
    assert first["nextUri"].startswith(market_server.http_url)


def test_show_catalogs_schemas_tables(cur, market_catalog):
    cur.execute("SHOW CATALOGS")
    assert cur.fetchall() == [["iceberg"], ["system"]]
    assert [d[0] for d in cur.description] == ["Catalog"]

    cur.execute("SHOW SCHEMAS")
    schemas = [r[0] for r in cur.fetchall()]
    assert [d[0] for d in cur.description] == ["Schema"]
    # Oracle: pyiceberg's listing of the same catalog, plus information_schema.
    # The quality schema is always there (its views); an Iceberg namespace once history is written.
    expected = sorted({ns[0] for ns in market_catalog.list_namespaces()} | {"information_schema", "quality"})
    assert schemas == expected

    cur.execute("SHOW SCHEMAS FROM iceberg LIKE 'mark%'")
    assert cur.fetchall() == [["market"]]

    cur.execute("SHOW TABLES")
    assert [d[0] for d in cur.description] == ["Table"]
    expected = sorted(t[1] for t in market_catalog.list_tables("market"))
    assert [r[0] for r in cur.fetchall()] == expected

    cur.execute("SHOW TABLES FROM iceberg.eia LIKE 'w%'")
    assert cur.fetchall() == [["wti"]]

    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        cur.execute("SHOW TABLES FROM")
        cur.fetchall()
    assert e.value.error_name == "SYNTAX_ERROR"


def test_show_tables_over_flight_sql(market_server, market_catalog):
    """The same statement layer serves Flight SQL."""
    conn = market_server.connect()
    try:
        table = helpers.query(conn, "SHOW TABLES FROM market")
    finally:
        conn.close()
    assert table.column_names == ["Table"]
    assert table.column(0).to_pylist() == sorted(t[1] for t in market_catalog.list_tables("market"))


@pytest.fixture(scope="module")
def tls_server(contango_bin, market_server, session_tmp):
    """The market data with auth on, the HTTP port speaking HTTPS."""
    from conftest import self_signed_cert, start_contango, stop_process

    directory = session_tmp / "tls"
    directory.mkdir(exist_ok=True)
    cert, key = self_signed_cert(directory)
    env = {"CONTANGO_SERVER_TLS_CERT": str(cert), "CONTANGO_SERVER_TLS_KEY": str(key)}
    server = start_contango(contango_bin, market_server.data_dir, market_server.config_path, session_tmp, env=env)
    try:
        yield server
    finally:
        stop_process(server.proc)


def test_trino_client_basic_and_bearer_auth_over_https(tls_server, monkeypatch):
    from trino.auth import BasicAuthentication, JWTAuthentication
    import pyarrow.flight as flight

    # requests lets these variables override a session's own `verify` (psf/requests#3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    host, port = tls_server.http_addr.split(":")

    def connect(auth):
        return trino.dbapi.connect(
            host=host, port=int(port), user=tls_server.user, catalog="iceberg", schema="market",
            http_scheme="https", auth=auth, verify=tls_server.tls_cert,
        )

    cur = connect(BasicAuthentication(tls_server.user, tls_server.password)).cursor()
    cur.execute("SELECT count(*) > 0 FROM ticks")
    assert cur.fetchall() == [[True]]
    # nextUri pages are https too (the client follows them with the same session).
    cur.execute("SELECT commodity, price FROM ticks")
    assert len(cur.fetchall()) > 1000

    with pytest.raises(trino.exceptions.HttpError) as e:
        connect(BasicAuthentication(tls_server.user, "wrong")).cursor().execute("SELECT 1")
    assert "401" in str(e.value)

    # The bearer token the Flight SQL handshake issues works on the Trino
    # endpoint. Flight SQL speaks TLS with the same certificate.
    assert tls_server.flight_uri.startswith("grpc+tls://")
    client = flight.FlightClient(tls_server.flight_uri, tls_root_certs=open(tls_server.tls_cert, "rb").read())
    _, bearer = client.authenticate_basic_token(tls_server.user, tls_server.password)
    token = bearer.decode().split(" ", 1)[1]
    cur = connect(JWTAuthentication(token)).cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [[1]]
    with pytest.raises(trino.exceptions.HttpError):
        connect(JWTAuthentication("not-a-token")).cursor().execute("SELECT 1")
