"""Trino session statements through the real `trino` Python client: USE, SET /
RESET SESSION, parameters via EXECUTE IMMEDIATE and via the PREPARE fallback,
DESCRIBE INPUT/OUTPUT, transactions, EXPLAIN forms, SHOW FUNCTIONS/SESSION,
system.runtime.queries and kill_query, error classes and header safety.

Expected values come from DuckDB over pyiceberg's reading of the same tables,
or are fixed by the statement's definition (defaults, shapes)."""

from __future__ import annotations

import datetime
import json
import threading
import time
from decimal import Decimal

import pytest
import trino
from trino.transaction import IsolationLevel

import helpers
from conftest import trino_connect


@pytest.fixture(scope="module")
def oracle(market_catalog):
    ticks = market_catalog.load_table("market.ticks").scan().to_arrow()
    return helpers.duck(ticks=ticks)


def rows(cur, sql, params=None):
    cur.execute(sql, params) if params is not None else cur.execute(sql)
    return cur.fetchall()


def test_use_round_trip_changes_where_names_resolve(trino_server):
    conn = trino_connect(trino_server)
    cur = conn.cursor()
    assert rows(cur, "USE iceberg.eia") == [[True]]
    assert cur.update_type == "USE"
    assert conn._client_session.schema == "eia"
    assert rows(cur, 'SELECT "Price" FROM wti WHERE "Date" = DATE \'2020-04-20\'') == [[-36.98]]
    assert rows(cur, "USE market") == [[True]]
    assert conn._client_session.catalog == "iceberg"
    assert rows(cur, "SELECT count(*) > 0 FROM ticks") == [[True]]
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "USE iceberg.no_such_schema")
    assert e.value.error_name == "SCHEMA_NOT_FOUND"
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "USE nope.market")
    assert e.value.error_name == "CATALOG_NOT_FOUND"
    assert conn._client_session.schema == "market"


def test_set_and_reset_session_round_trip(trino_server):
    conn = trino_connect(trino_server)
    cur = conn.cursor()
    assert rows(cur, "SET SESSION batch_size = 100") == [[True]]
    assert conn._client_session.properties == {"batch_size": "100"}
    shown = rows(cur, "SHOW SESSION LIKE 'batch_size'")
    assert shown == [["batch_size", "100", "8192", "bigint", shown[0][4]]]
    # The property travels back in X-Trino-Session and really applies.
    assert rows(cur, "SELECT count(*) FROM ticks WHERE commodity = 'WTI'")[0][0] > 0
    assert rows(cur, "RESET SESSION batch_size") == [[True]]
    assert conn._client_session.properties == {}
    assert rows(cur, "SHOW SESSION LIKE 'batch_size'")[0][1] == "8192"
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "SET SESSION no_such_property = 1")
    assert e.value.error_name == "INVALID_SESSION_PROPERTY"
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "SET SESSION batch_size = 'many'")
    assert e.value.error_name == "INVALID_SESSION_PROPERTY"


def test_session_properties_from_connect(trino_server):
    conn = trino_connect(trino_server, session_properties={"prefer_hash_join": "false"})
    assert rows(conn.cursor(), "SHOW SESSION LIKE 'prefer_hash_join'")[0][1] == "false"


def test_header_injection_in_session_values_is_contained(trino_server):
    conn = trino_connect(trino_server, session_properties={"batch_size": "1\r\nX-Evil: yes"})
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(conn.cursor(), "SELECT 1")
    assert e.value.error_name == "INVALID_SESSION_PROPERTY"
    assert "X-Evil" in e.value.message
    # The server keeps serving.
    assert rows(trino_connect(trino_server).cursor(), "SELECT 1") == [[1]]


PARAMS_SQL = (
    "SELECT commodity, price, volume FROM ticks "
    "WHERE commodity = ? AND price > ? AND volume >= ? AND ts >= ? ORDER BY ts, price LIMIT 5"
)
DUCK_PARAMS_SQL = (
    "SELECT commodity, price, volume FROM ticks "
    "WHERE commodity = ? AND price > ? AND volume >= ? AND ts >= ? ORDER BY ts, price LIMIT 5"
)


@pytest.mark.parametrize("legacy", [False, True], ids=["execute-immediate", "prepare-fallback"])
def test_parameters_match_duckdb(trino_server, oracle, legacy):
    conn = trino_connect(trino_server, legacy_prepared_statements=legacy)
    cur = conn.cursor()
    since = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    params = ("WTI", 10.5, 1, since)
    got = rows(cur, PARAMS_SQL, params)
    want = helpers.duck_rows(oracle, DUCK_PARAMS_SQL, list(params))
    assert sorted(tuple(r) for r in got) == sorted(tuple(r) for r in want)
    assert got, "the parameters should select rows"
    # The fallback deallocates what it prepared.
    assert conn._client_session.prepared_statements == {}


@pytest.mark.parametrize("legacy", [False, True], ids=["execute-immediate", "prepare-fallback"])
def test_parameter_types_round_trip(trino_server, legacy):
    cur = trino_connect(trino_server, legacy_prepared_statements=legacy).cursor()
    values = [
        "it's",
        -7,
        2.5,
        True,
        None,
        datetime.date(2020, 4, 20),
        Decimal("-36.98"),
        b"\x00\xff",
    ]
    got = rows(cur, "SELECT ?, ?, ?, ?, ?, ?, ?, ?", values)
    assert got == [values]


def test_prepare_describe_execute_deallocate(trino_server):
    conn = trino_connect(trino_server)
    cur = conn.cursor()
    rows(cur, "PREPARE q FROM SELECT commodity, price * 2 AS twice FROM ticks WHERE price > ? AND commodity = ?")
    assert "q" in conn._client_session.prepared_statements
    assert rows(cur, "DESCRIBE INPUT q") == [[0, "double"], [1, "varchar"]]
    out = rows(cur, "DESCRIBE OUTPUT q")
    assert [r[0] for r in out] == ["commodity", "twice"]
    assert [r[4] for r in out] == ["varchar", "double"]
    assert out[0][1:4] == ["iceberg", "market", "ticks"]
    got = rows(cur, "EXECUTE q USING 1000000, 'WTI'")
    assert got == []
    rows(cur, "DEALLOCATE PREPARE q")
    assert conn._client_session.prepared_statements == {}
    # Trino's documentation example (sql/describe-output): an alias, and an unnamed expression
    # (Aliased false). Trino types 1+2 integer; integer literals are bigint here (docs/sql.md).
    rows(cur, "PREPARE my_select2 FROM SELECT count(*) as my_count, 1+2 FROM ticks")
    assert rows(cur, "DESCRIBE OUTPUT my_select2") == [
        ["my_count", "", "", "", "bigint", 8, True],
        ["_col1", "", "", "", "bigint", 8, False],
    ]
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "EXECUTE q USING 1, 'WTI'")
    assert e.value.error_name == "NOT_FOUND"


def test_transactions_are_accepted_for_reads(trino_server):
    conn = trino_connect(trino_server, isolation_level=IsolationLevel.READ_COMMITTED)
    cur = conn.cursor()
    assert rows(cur, "SELECT 1") == [[1]]
    assert conn.transaction is not None and conn.transaction.id not in (None, "NONE")
    conn.commit()
    assert conn.transaction is None
    cur = conn.cursor()  # starts the next transaction
    assert rows(cur, "SELECT 2") == [[2]]
    conn.rollback()
    assert conn.transaction is None
    auto = trino_connect(trino_server).cursor()
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(auto, "COMMIT")
    assert e.value.error_name == "NOT_IN_TRANSACTION"


def test_explain_forms(trino_server, oracle):
    cur = trino_connect(trino_server).cursor()
    plan = rows(cur, "EXPLAIN SELECT commodity, avg(price) FROM ticks GROUP BY commodity")
    assert [d[0] for d in cur.description] == ["Query Plan"] and cur.description[0][1] == "varchar"
    assert "Aggregate" in plan[0][0]
    analyzed = rows(cur, "EXPLAIN ANALYZE SELECT count(*) FROM ticks")[0][0]
    assert "output_rows" in analyzed
    assert rows(cur, "EXPLAIN (TYPE VALIDATE) SELECT * FROM ticks") == [[True]]
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, "EXPLAIN (TYPE VALIDATE) SELECT * FROM nope")
    assert e.value.error_name == "TABLE_NOT_FOUND"
    # Superset's cost estimate reads this shape.
    io = json.loads(rows(cur, "EXPLAIN (TYPE IO, FORMAT JSON) SELECT price FROM ticks WHERE commodity = 'WTI'")[0][0])
    (table,) = io["inputTableColumnInfos"]
    assert table["table"] == {"catalog": "iceberg", "schemaTable": {"schema": "market", "table": "ticks"}}
    (constraint,) = table["columnConstraints"]
    assert constraint["columnName"] == "commodity" and constraint["type"] == "varchar"
    total = helpers.duck_rows(oracle, "SELECT count(*) FROM ticks")[0][0]
    assert io["estimate"]["outputRowCount"] == total
    for key in ("outputSizeInBytes", "cpuCost", "maxMemory", "networkCost"):
        assert key in io["estimate"]
    graph = rows(cur, "EXPLAIN (FORMAT GRAPHVIZ) SELECT 1")[0][0]
    assert graph.lstrip().startswith("//") or "digraph" in graph


def test_show_functions_lists_what_superset_reads(trino_server):
    cur = trino_connect(trino_server).cursor()
    everything = rows(cur, "SHOW FUNCTIONS")
    assert [d[0] for d in cur.description][:4] == ["Function", "Return Type", "Argument Types", "Function Type"]
    names = {r[0] for r in everything}
    assert {"abs", "sum", "count", "row_number", "date_trunc"} <= names
    only = rows(cur, "SHOW FUNCTIONS LIKE 'date\\_%' ESCAPE '\\'")
    assert only and all(r[0].startswith("date_") for r in only)


@pytest.mark.parametrize(
    "sql,name",
    [
        ("SELECT 1 / 0", "DIVISION_BY_ZERO"),
        ("SELECT CAST('abc' AS INTEGER)", "INVALID_CAST_ARGUMENT"),
        ("SELECT DATE '2020-01-01' + true", "TYPE_MISMATCH"),
        ("SET SESSION AUTHORIZATION bob", "NOT_SUPPORTED"),
        ("CALL system.runtime.kill_query(query_id => 'nope')", "NOT_FOUND"),
    ],
)
def test_more_error_classes(trino_server, sql, name):
    cur = trino_connect(trino_server).cursor()
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows(cur, sql)
    assert e.value.error_name == name, e.value.message


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def test_runtime_queries_and_kill_query(trino_server):
    long = trino_connect(trino_server, source="long-runner").cursor()
    sql = "SELECT count(*) FROM ticks a, ticks b, ticks c WHERE a.price < b.price AND b.price < c.price"
    failure: list[BaseException] = []

    def run():
        try:
            long.execute(sql)
            long.fetchall()
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    admin = trino_connect(trino_server).cursor()
    deadline = time.time() + 30
    found = []
    while not found and time.time() < deadline:
        found = rows(
            admin,
            "SELECT query_id, state, \"user\", source FROM system.runtime.queries "
            "WHERE query LIKE '%ticks a, ticks b%' AND state = 'RUNNING' AND query_id <> '' "
            "AND source = 'long-runner'",
        )
        time.sleep(0.1)
    assert found, "the long query never showed up as RUNNING"
    query_id, state, user, source = found[0]
    assert (state, user, source) == ("RUNNING", "analyst", "long-runner")
    assert query_id == long.query_id
    time.sleep(0.5)
    rows(admin, f"CALL system.runtime.kill_query(query_id => '{query_id}', message => 'too slow')")
    t.join(timeout=30)
    assert not t.is_alive(), "killed query did not return"
    (e,) = failure
    assert isinstance(e, trino.exceptions.TrinoUserError)
    assert e.error_name == "ADMINISTRATIVELY_KILLED"
    assert "too slow" in e.message
    time.sleep(1.0)
    before = _cpu_seconds(trino_server.proc.pid)
    time.sleep(2.0)
    used = _cpu_seconds(trino_server.proc.pid) - before
    assert used < 0.5, f"server still burning CPU after kill: {used:.2f} s in 2 s"
    state = rows(admin, f"SELECT state, error_code FROM system.runtime.queries WHERE query_id = '{query_id}'")
    assert state == [["FAILED", "ADMINISTRATIVELY_KILLED"]]


def test_flight_sql_takes_session_from_call_headers(eia_server):
    """ADBC sends Trino session headers as gRPC metadata; Flight SQL honours them."""
    header = "adbc.flight.sql.rpc.call_header."
    with eia_server.connect(**{header + "x-trino-schema": "eia", header + "x-trino-session": "batch_size=7"}) as conn:
        assert helpers.query(conn, "SELECT \"Price\" FROM wti WHERE \"Date\" = DATE '2020-04-20'").to_pylist() == [
            {"Price": -36.98}
        ]
        shown = helpers.query(conn, "SHOW SESSION LIKE 'batch_size'").to_pylist()
        assert shown[0]["Value"] == "7" and shown[0]["Default"] == "8192"
        # Statements that return rows work the same over Flight SQL.
        plan = helpers.query(conn, "EXPLAIN (TYPE VALIDATE) SELECT 1").to_pylist()
        assert plan == [{"Valid": True}]
        got = helpers.query(conn, "EXECUTE IMMEDIATE 'SELECT ? + 1' USING 41").to_pylist()
        assert list(got[0].values()) == [42]
    with eia_server.connect(**{header + "x-trino-session": "nope=1"}) as conn:
        with pytest.raises(Exception) as e:
            helpers.query(conn, "SELECT 1")
        assert "Session property 'nope' does not exist" in str(e.value)
