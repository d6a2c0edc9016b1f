"""Server-wide query limits (issue 22, deliverable 2), on a server started
with small ones: 2 running and 2 queued queries, statements of at most 2,000
characters, 64MB of memory per query. Expected error names and messages are
Trino's (`StandardErrorCode`, `DispatchManager`): QUERY_TEXT_TOO_LARGE
"Query text length (n) exceeds the maximum length (m)", QUERY_QUEUE_FULL,
EXCEEDED_LOCAL_MEMORY_LIMIT, EXCEEDED_TIME_LIMIT "Query exceeded the maximum
execution time limit of 2.00s". Each limit counts in
`contango_query_limit_exceeded_total{limit}`; occupancy is
`contango_queries_running` / `contango_queries_queued`."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
import trino

import helpers
from conftest import flight_error as conftest_flight_error
from conftest import start_contango, stop_process, trino_connect, trino_error, wait_for

# ~20k x 20k pairs: seconds of work, stopped by a DELETE.
SLOW = "SELECT max(a.price * b.price) FROM ticks a CROSS JOIN ticks b"


@pytest.fixture(scope="module")
def server(contango_bin, market_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    config = tmp / "limits.toml"
    config.write_text(
        "[server]\nmax_running_queries = 2\nmax_queued_queries = 2\nmax_statement_length = 2000\n"
        'query_max_memory = "64MB"\n[auth]\nenabled = false\n'
    )
    s = start_contango(contango_bin, market_server.data_dir, config, tmp)
    try:
        yield s
    finally:
        stop_process(s.proc)


def metrics(server) -> str:
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as r:
        return r.read().decode()


def metric(server, name: str, labels: str = "") -> float:
    m = re.search(rf"^{name}{re.escape(labels)} (\S+)$", metrics(server), re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def flight_error(server, sql: str, **db_kwargs) -> str:
    return helpers.error_text(conftest_flight_error(server, sql, **db_kwargs))


def rows(server, sql: str) -> list:
    cur = trino_connect(server).cursor()
    cur.execute(sql)
    return cur.fetchall()


def test_statement_length(server):
    before = metric(server, "contango_query_limit_exceeded_total", '{limit="max_statement_length"}')
    fits = "SELECT 1" + " " * (2000 - len("SELECT 1"))
    assert rows(server, fits) == [[1]]
    too_long = fits + " "
    e = trino_error(server, too_long)
    assert e.error_name == "QUERY_TEXT_TOO_LARGE"
    assert e.message == "Query text length (2001) exceeds the maximum length (2000)"
    assert "exceeds the maximum length (2000)" in flight_error(server, too_long)
    after = metric(server, "contango_query_limit_exceeded_total", '{limit="max_statement_length"}')
    assert after == before + 2


def post(server, sql: str) -> dict:
    req = urllib.request.Request(f"{server.http_url}/v1/statement", data=sql.encode(),
                                 headers={"X-Trino-User": "limits", "X-Trino-Catalog": "iceberg", "X-Trino-Schema": "market"})
    return json.load(urllib.request.urlopen(req, timeout=30))


def test_running_and_queued_queries_are_bounded(server):
    held = [post(server, SLOW) for _ in range(4)]  # 2 take the slots, 2 wait
    try:
        wait_for(lambda: metric(server, "contango_queries_running") == 2
                 and metric(server, "contango_queries_queued") == 2, 30, "2 running and 2 queued")
        e = trino_error(server, "SELECT 1")
        assert e.error_name == "QUERY_QUEUE_FULL", e
        assert "Too many queued queries" in e.message
        assert "Too many queued queries" in flight_error(server, "SELECT 1")
        assert metric(server, "contango_query_limit_exceeded_total", '{limit="max_queued_queries"}') >= 2
    finally:
        for q in held:
            urllib.request.urlopen(urllib.request.Request(q["nextUri"], method="DELETE"), timeout=30)
    # Slots are given back when queries end: the server serves again.
    wait_for(lambda: metric(server, "contango_queries_running") == 0, 30, "slots released")
    assert rows(server, "SELECT 2") == [[2]]


def test_memory_limit(server):
    session = {"adbc.flight.sql.rpc.call_header.x-trino-session": "query_max_memory=16MB"}
    # A sort can spill: 3M bigints (24MB) sorted under 16MB, all there, in order.
    with helpers.adbc_connect(server.flight_uri, None, None, **session) as conn:
        values = helpers.query(conn, "SELECT value FROM generate_series(1, 3000000) ORDER BY value DESC").column(0)
    assert len(values) == 3_000_000
    assert values.to_pylist() == list(range(3_000_000, 0, -1))
    # A hash join's build side cannot: EXCEEDED_LOCAL_MEMORY_LIMIT, on both endpoints.
    join = ("SELECT count(*) FROM generate_series(1, 2000000) a JOIN generate_series(1, 2000000) b "
            "ON a.value = b.value")
    e = trino_error(server, join, session_properties={"query_max_memory": "16MB"})
    assert e.error_name == "EXCEEDED_LOCAL_MEMORY_LIMIT", e
    text = flight_error(server, join, **session)
    assert "RESOURCE_EXHAUSTED" in text or "Resources exhausted" in text or "allocation failed" in text, text
    assert metric(server, "contango_query_limit_exceeded_total", '{limit="query_max_memory"}') >= 2
    # Within the server's 64MB it answers (oracle: 2M matching pairs).
    assert rows(server, join) == [[2_000_000]]
    # SHOW SESSION shows the server's limit as the default; bad sizes are refused.
    cur = trino_connect(server).cursor()
    cur.execute("SHOW SESSION LIKE 'query_max_memory'")
    (name, value, default, kind, _), = cur.fetchall()
    assert (name, value, default, kind) == ("query_max_memory", "64MB", "64MB", "varchar")
    e = trino_error(server, "SET SESSION query_max_memory = 'lots'")
    assert e.error_name == "INVALID_SESSION_PROPERTY"


def test_execution_time_limit(server):
    started = time.monotonic()
    e = trino_error(server, SLOW, session_properties={"query_max_execution_time": "2s"})
    assert e.error_name == "EXCEEDED_TIME_LIMIT", e
    assert e.message == "Query exceeded the maximum execution time limit of 2.00s"
    assert time.monotonic() - started < 30
    assert "maximum execution time limit" in flight_error(
        server, SLOW, **{"adbc.flight.sql.rpc.call_header.x-trino-session": "query_max_execution_time=2s"})


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_doput_parameters_are_refused_early_not_buffered(server):
    """Issue 22 deliverable 3: a DoPut of ~300 MB of parameter rows used to be
    buffered whole before being refused; now the second row ends it."""
    import pyarrow as pa
    import pyarrow.flight as flight

    client = flight.FlightClient(server.flight_uri)
    opts = flight.FlightCallOptions(timeout=60)
    try:
        request = helpers.sql_any("ActionCreatePreparedStatementRequest",
                                  helpers.pb_bytes_field(1, b"SELECT length(?) AS n"))
        result = list(client.do_action(flight.Action("CreatePreparedStatement", request), opts))[0].body.to_pybytes()
        # Any{type_url = 1, value = 2}; ActionCreatePreparedStatementResult{handle = 1}.
        handle = helpers.pb_fields(helpers.pb_fields(result)[2])[1]
        command = flight.FlightDescriptor.for_command(
            helpers.sql_any("CommandPreparedStatementQuery", helpers.pb_bytes_field(1, handle)))
        schema = pa.schema([("p", pa.string())])

        # One row binds.
        writer, _ = client.do_put(command, schema, opts)
        writer.write_batch(pa.record_batch([pa.array(["abc"])], schema=schema))
        writer.close()
        info = client.get_flight_info(command, opts)
        assert client.do_get(info.endpoints[0].ticket, opts).read_all().to_pylist() == [{"n": 3}]

        # Hundreds of MB of rows: refused at the second row; the server's memory barely moves.
        before = _rss_mb(server.proc.pid)
        big = pa.record_batch([pa.array(["x" * (1 << 20)] * 4)], schema=schema)  # 4 MB per batch
        writer, _ = client.do_put(command, schema, opts)
        with pytest.raises(pa.ArrowException) as e:
            for _ in range(75):
                writer.write_batch(big)
            writer.close()
        assert "exactly one row" in str(e.value), e.value
        assert _rss_mb(server.proc.pid) - before < 150
    finally:
        client.close()
