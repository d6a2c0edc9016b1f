"""One submission path, one request-to-session step and one catalog listing for
both endpoints: what Flight SQL and the Trino protocol report about the same
queries and tables must agree (the Trino endpoint is the oracle for Flight)."""

from __future__ import annotations

import uuid

import pytest

import helpers
from conftest import trino_connect
from test_metrics import scrape

CALL_HEADER = "adbc.flight.sql.rpc.call_header."


def runtime_queries(server, marker: str) -> list[list]:
    cur = trino_connect(server).cursor()
    cur.execute(
        'SELECT "user", state, error_code FROM system.runtime.queries '
        f"WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.runtime.queries%' ORDER BY created"
    )
    return cur.fetchall()


def test_flight_planning_failures_are_queries_too(trino_server):
    """A statement that fails to plan over Flight SQL is registered, ends FAILED
    with its Trino error name, and is counted, as on the Trino endpoint."""
    marker = f"m{uuid.uuid4().hex[:12]}"
    before = scrape(trino_server)
    with trino_server.connect() as conn:
        with pytest.raises(Exception, match="(?i)not found|does not exist"):
            helpers.query(conn, f"SELECT '{marker}' FROM iceberg.market.no_such_table")
        assert helpers.query(conn, f"SELECT '{marker}' AS m").to_pylist() == [{"m": marker}]
    after = scrape(trino_server)
    key = 'contango_query_errors_total{endpoint="flight",error_name="TABLE_NOT_FOUND"}'
    assert after.get(key, 0) - before.get(key, 0) == 1
    assert [r[1:] for r in runtime_queries(trino_server, marker)] == [
        ["FAILED", "TABLE_NOT_FOUND"],
        ["FINISHED", None],
    ]


def test_flight_takes_the_user_from_x_trino_user_when_auth_is_off(trino_server):
    """With auth off and no credentials, both endpoints name the user after
    X-Trino-User (Flight SQL: as gRPC call metadata)."""
    marker = f"m{uuid.uuid4().hex[:12]}"
    conn = helpers.adbc_connect(trino_server.flight_uri, None, None, **{CALL_HEADER + "x-trino-user": "carol"})
    with conn:
        assert helpers.query(conn, f"SELECT '{marker}' AS m").num_rows == 1
    cur = trino_connect(trino_server, user="dave").cursor()
    cur.execute(f"SELECT '{marker}' AS m")
    cur.fetchall()
    assert [r[0] for r in runtime_queries(trino_server, marker)] == ["carol", "dave"]


def test_flight_get_tables_lists_what_information_schema_lists(trino_server):
    """GetTables and information_schema.tables come from one listing: the same
    tables with the same kinds (Trino's BASE TABLE is Flight SQL's TABLE)."""
    cur = trino_connect(trino_server).cursor()
    expected = set()
    for catalog in ("iceberg", "system"):
        cur.execute(
            f"SELECT table_schema, table_name, table_type FROM {catalog}.information_schema.tables"
        )
        for schema, table, kind in cur.fetchall():
            expected.add((catalog, schema, table, {"BASE TABLE": "TABLE"}.get(kind, kind)))
    assert ("system", "runtime", "queries", "VIEW") in expected
    assert ("iceberg", "market", "ticks", "TABLE") in expected
    with trino_server.connect() as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    listed = {
        (c["catalog_name"], s["db_schema_name"], t["table_name"], t["table_type"])
        for c in objects
        if c["catalog_name"] in ("iceberg", "system")
        for s in c["catalog_db_schemas"] or []
        for t in s["db_schema_tables"] or []
    }
    assert listed == expected
