"""Statements that used to take the whole server down (allocation failures,
unbounded recursion, absurd session properties) or run without end: each now
fails with Trino's error on both endpoints, and the server keeps answering.

Expected error names are Trino's (`StandardErrorCode`): the function size
limit is EXCEEDED_FUNCTION_MEMORY_LIMIT, `query_max_run_time` is
EXCEEDED_TIME_LIMIT, a prepared statement that is itself an EXECUTE is
NOT_SUPPORTED ("Invalid statement type for prepared statement")."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import trino

import helpers
from conftest import flight_error, trino_connect, trino_error

CALL_HEADER = "adbc.flight.sql.rpc.call_header."

HUGE_VALUES = [
    "SELECT repeat('x', 2147483647)",
    "SELECT length(lpad('x', 2147483647, 'y'))",
    "SELECT rpad('x', 2147483647, 'y')",
    "SELECT cardinality(sequence(1, 1000000000))",
    "SELECT array_repeat('x', 1000000000)",
    "SELECT array_resize(ARRAY[1], 2000000000)",
    "SELECT cardinality(flatten(array_repeat(sequence(1, 100000), 100000)))",
    "SELECT max(length(repeat(commodity, 100000000))) FROM ticks",
    # 2,000 capturing branches: the regex crate's fallback matcher took 8 GB
    # and minutes, and no time limit could stop the call.
    "SELECT length(regexp_replace(repeat('ab', 100000), '("
    + "|".join(f"(a|b){{{i % 40 + 1}}}x{i}" for i in range(2000)) + ")', 'z'))",
    # 4,000 plain branches: too many states for the lazy DFA (5.5 s per 2,000 characters).
    "SELECT count(*) FROM ticks WHERE regexp_like(commodity, '(?:"
    + "|".join(f"(?:a|b){{{i % 40 + 1}}}x{i}" for i in range(4000)) + ")')",
]


def alive(server) -> None:
    """Both endpoints still answer a trivial query."""
    cur = trino_connect(server).cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [[1]]
    with server.connect() as conn:
        assert helpers.query(conn, "SELECT 1 AS x").to_pylist() == [{"x": 1}]


@pytest.mark.parametrize("sql", HUGE_VALUES, ids=[s[:60] for s in HUGE_VALUES])
def test_huge_values_are_refused_before_allocating(trino_server, sql):
    e = trino_error(trino_server, sql)
    assert e.error_name == "EXCEEDED_FUNCTION_MEMORY_LIMIT", e
    assert "more than" in e.message
    f = flight_error(trino_server, sql)
    assert "more than" in helpers.error_text(f), f
    alive(trino_server)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("batch_size", "2147483648", "between 1 and 1048576"),
        ("task_concurrency", "18446744073709551615", "between 1 and 1024"),
        ("batch_size", "18446744073709551616", "must be a bigint"),
        ("gpu_memory_limit", "18446744073709551615", "between 1 and"),
        ("query_max_run_time", "forever", "duration"),
    ],
)
def test_session_properties_out_of_range_are_refused(trino_server, name, value, message):
    cur = trino_connect(trino_server).cursor()
    with pytest.raises(trino.exceptions.TrinoQueryError) as info:
        cur.execute(f"SET SESSION {name} = '{value}'" if name == "query_max_run_time" else f"SET SESSION {name} = {value}")
        cur.fetchall()
    assert info.value.error_name == "INVALID_SESSION_PROPERTY"
    assert message in info.value.message
    # The same value sent as a session header fails the query that carries it.
    e = trino_error(trino_server, "SELECT 1", session_properties={name: value})
    assert e.error_name == "INVALID_SESSION_PROPERTY"
    f = flight_error(trino_server, "SELECT 1", **{CALL_HEADER + "x-trino-session": f"{name}={value}"})
    assert message in helpers.error_text(f)
    alive(trino_server)


def test_statements_that_only_recurse_are_refused(trino_server):
    e = trino_error(trino_server, "PREPARE p FROM EXECUTE p")
    assert e.error_name == "NOT_SUPPORTED"
    assert "Invalid statement type for prepared statement: EXECUTE" in e.message
    e = trino_error(trino_server, "EXECUTE IMMEDIATE 'EXECUTE IMMEDIATE ''SELECT 1'''")
    assert "Invalid statement type for prepared statement: EXECUTE IMMEDIATE" in e.message
    f = flight_error(trino_server, "EXECUTE IMMEDIATE 'EXECUTE IMMEDIATE ''SELECT 1'''")
    assert "EXECUTE IMMEDIATE" in helpers.error_text(f)
    # A prepared statement that executes itself can still arrive in the
    # session header (no PREPARE checked it): its nesting is bounded.
    for sql in ["EXECUTE p", "DESCRIBE OUTPUT p", "EXPLAIN EXECUTE p"]:
        request = urllib.request.Request(
            f"http://{trino_server.http_addr}/v1/statement",
            data=sql.encode(),
            headers={"X-Trino-User": "analyst", "X-Trino-Prepared-Statement": "p=EXECUTE+p"},
            method="POST",
        )
        body = json.load(urllib.request.urlopen(request, timeout=30))
        while "error" not in body and body.get("nextUri"):
            body = json.load(urllib.request.urlopen(body["nextUri"], timeout=30))
        assert body["error"]["errorName"] == "NOT_SUPPORTED", body
        assert "nesting" in body["error"]["message"]
    alive(trino_server)


# A filter over every row triple (a bare count(*) of the join is answered from
# the manifests' row counts without reading a row).
SLOW = "SELECT count(*) FROM ticks a CROSS JOIN ticks b CROSS JOIN ticks c WHERE a.price + b.price > c.price"


def test_query_max_run_time_ends_a_long_query_on_both_endpoints(trino_server):
    started = time.monotonic()
    e = trino_error(trino_server, SLOW, session_properties={"query_max_run_time": "2s"})
    assert e.error_name == "EXCEEDED_TIME_LIMIT", e
    assert "2.00s" in e.message
    assert time.monotonic() - started < 30
    started = time.monotonic()
    f = flight_error(trino_server, SLOW, **{CALL_HEADER + "x-trino-session": "query_max_run_time=2s"})
    assert "maximum run time limit of 2.00s" in helpers.error_text(f), f
    assert time.monotonic() - started < 30
    cur = trino_connect(trino_server).cursor()
    cur.execute(
        "SELECT count(*) FROM system.runtime.queries "
        "WHERE error_code = 'EXCEEDED_TIME_LIMIT' AND query LIKE '%CROSS JOIN ticks c%'"
    )
    assert cur.fetchall()[0][0] >= 2
    alive(trino_server)


def test_select_1_answers_within_a_second_while_heavy_queries_run(trino_server):
    """CPU-bound queries run on the execution runtime and yield: the endpoints
    keep answering, and the heavy queries end at their time limit."""
    import threading

    errors: list[str] = []

    def heavy():
        try:
            e = trino_error(trino_server, SLOW, session_properties={"query_max_run_time": "6s"})
            errors.append(e.error_name)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=heavy) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2)
    for _ in range(3):
        started = time.monotonic()
        alive(trino_server)
        assert time.monotonic() - started < 2.0  # one query on each endpoint, each within 1 s
    for t in threads:
        t.join(60)
    assert errors == ["EXCEEDED_TIME_LIMIT", "EXCEEDED_TIME_LIMIT"]
    alive(trino_server)


DEEP = {
    # name: (statement at the limit, statement past it)
    "operators": ("SELECT " + "+".join(["1"] * 1001), "SELECT " + "+".join(["1"] * 5000)),
    "and-chain": ("SELECT count(*) FROM ticks WHERE " + " AND ".join(["price > -1000"] * 1001),
                  "SELECT count(*) FROM ticks WHERE " + " AND ".join(["price > -1000"] * 5000)),
    "union-all": (" UNION ALL ".join(f"SELECT {i}" for i in range(1001)),
                  " UNION ALL ".join(f"SELECT {i}" for i in range(5000))),
    "cte-chain": ("WITH " + ", ".join(f"c{i} AS (SELECT {'1' if i == 0 else f'x FROM c{i - 1}'} AS x)" for i in range(300))
                  + " SELECT * FROM c299",
                  "WITH " + ", ".join(f"c{i} AS (SELECT 1 AS x)" for i in range(1001)) + " SELECT 1"),
}


@pytest.mark.parametrize("name", list(DEEP))
def test_deep_statements_answer_or_are_refused_never_crash(trino_server, name):
    """Deep trees used to overflow a stack and abort the process (a
    5,000-branch UNION ALL did). Chains up to 1,000 answer; longer ones are
    refused before anything walks them, on both endpoints."""
    fits, too_large = DEEP[name]
    cur = trino_connect(trino_server).cursor()
    cur.execute(fits)
    rows = cur.fetchall()
    assert rows, name
    if name == "operators":
        assert rows == [[1001]]
    if name == "union-all":
        assert sorted(r[0] for r in rows) == list(range(1001))
    e = trino_error(trino_server, too_large)
    assert e.error_name == "SYNTAX_ERROR"
    assert "Statement is too large" in e.message
    assert "Statement is too large" in helpers.error_text(flight_error(trino_server, too_large))
    alive(trino_server)


def test_nested_parentheses_and_explains_are_refused(trino_server):
    e = trino_error(trino_server, "SELECT " + "(" * 5000 + "1" + ")" * 5000)
    assert e.error_name == "SYNTAX_ERROR" and "RecursionLimitExceeded" in e.message
    e = trino_error(trino_server, "EXPLAIN " * 50 + "SELECT 1")
    assert e.error_name == "NOT_SUPPORTED" and "nesting" in e.message
    alive(trino_server)
