"""Issue 22, deliverable 7: the findings read in the code, each with a
regression test on both endpoints where it has one. Oracles: Python's
`datetime.date` for dates, arithmetic for percentiles of 1..N (the exact
nearest-rank percentile of 1..N is ceil(p*N)) and distinct counts, the
Trino client's own error names.

- dates outside 1677–2262 used to wrap in the Trino JSON encoding;
- the lexer's (line, column) → offset conversion was quadratic in the line
  length (a 100,000-element IN list on one line took minutes);
- `approx_distinct` / `approx_percentile` kept every value in memory;
- the session-header percent-decoder accepted `%+f`;
- `contango sql ... | head` panicked on the closed pipe.
(Float configuration keys from the environment: test_config_env.py.)
"""

from __future__ import annotations

import datetime
import json
import subprocess
import urllib.request

import pytest
import trino

import helpers
from conftest import child_env, flight_error, trino_connect, trino_error

CALL_HEADER = "adbc.flight.sql.rpc.call_header."


def both(server, sql: str) -> tuple[list, list]:
    """Rows of `sql` through the Trino client and through ADBC (tuples)."""
    cur = trino_connect(server).cursor()
    cur.execute(sql)
    trino_rows = [tuple(r) for r in cur.fetchall()]
    with server.connect() as conn:
        flight_rows = [tuple(r.values()) for r in helpers.query(conn, sql).to_pylist()]
    return trino_rows, flight_rows


def test_dates_far_from_the_epoch(trino_server):
    days = ["0001-01-01", "1500-03-01", "1677-09-21", "2262-04-12", "9999-12-31"]
    sql = "SELECT " + ", ".join(f"DATE '{d}'" for d in days)
    trino_rows, flight_rows = both(trino_server, sql)
    want = [tuple(datetime.date.fromisoformat(d) for d in days)]
    assert trino_rows == want
    assert flight_rows == want


def test_a_statement_with_one_very_long_line(trino_server):
    n = 100_000
    sql = f"SELECT count(*) FROM (VALUES (1), (2), ({n + 7})) t(x) WHERE x IN ({', '.join(str(i) for i in range(1, n + 1))})"
    assert len(sql) > 500_000 and "\n" not in sql
    trino_rows, flight_rows = both(trino_server, sql)
    assert trino_rows == [(2,)]
    assert flight_rows == [(2,)]


def test_approximate_aggregates_over_millions_of_values(trino_server):
    n = 2_000_000
    sql = (f"SELECT approx_distinct(x), approx_percentile(x, 0.5), approx_percentile(x, ARRAY[0.1, 0.9]) "
           f"FROM (SELECT unnest(sequence(1, {n})) AS x)")
    for rows in both(trino_server, sql):
        distinct, p50, (p10, p90) = rows[0]
        # HyperLogLog: Trino documents a 2.3% standard error; allow 3 of them.
        assert abs(distinct / n - 1) < 0.07, rows
        # t-digest with 100 centroids: about 1% of the rank.
        for got, p in ((p50, 0.5), (p10, 0.1), (p90, 0.9)):
            assert abs(got - p * n) < 0.01 * n, (p, rows)
    # Few values stay exact (nearest rank): p50 of 1..10 is 5.
    for rows in both(trino_server, "SELECT approx_percentile(x, 0.5), approx_distinct(x) "
                                   "FROM (SELECT unnest(sequence(1, 10)) AS x)"):
        assert rows == [(5, 10)]


@pytest.mark.parametrize("value", ["x=%+f", "x=%-1", "x=%2"])
def test_malformed_percent_encoding_in_session_headers(trino_server, value):
    # The trino client encodes properly: send the raw header.
    req = urllib.request.Request(f"{trino_server.http_url}/v1/statement", data=b"SELECT 1",
                                 headers={"X-Trino-User": "findings", "X-Trino-Session": value})
    body = json.load(urllib.request.urlopen(req, timeout=30))
    while "error" not in body and body.get("nextUri"):
        body = json.load(urllib.request.urlopen(body["nextUri"], timeout=30))
    assert "bad URL encoding" in body["error"]["message"], body
    with trino_server.connect(**{CALL_HEADER + "x-trino-session": value}) as conn:
        with pytest.raises(Exception) as f:
            helpers.query(conn, "SELECT 1")
    assert "bad URL encoding" in helpers.error_text(f.value)


def test_cli_output_into_a_closed_pipe(market_server):
    """`contango sql ... | head -1`: exit 0, no panic, the first line printed."""
    cmd = [str(market_server.bin), "sql", "--flight-addr", market_server.flight_addr, "--user", market_server.user,
           "--password", market_server.password, "SELECT * FROM ticks"]
    producer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), stdin=subprocess.DEVNULL)
    first = producer.stdout.readline()
    producer.stdout.close()  # the reader goes away, like `head -1`
    _, err = producer.communicate(timeout=120)
    assert first.startswith(b"+-"), first
    assert b"panicked" not in err, err
    assert producer.returncode == 0, (producer.returncode, err)


def test_recursive_cte_with_a_column_list(trino_server):
    """Issue 22 deliverable 6: `WITH RECURSIVE t(n)` failed with "No field
    named n". Oracles: 1+...+5 = 15 and the Fibonacci numbers."""
    trino_rows, flight_rows = both(
        trino_server, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT sum(n) FROM t")
    assert trino_rows == flight_rows == [(15,)]
    fib = ("WITH RECURSIVE fib(a, b, k) AS (SELECT 0, 1, 1 UNION ALL SELECT b, a + b, k + 1 FROM fib WHERE k < 10) "
           "SELECT a, b, k FROM fib ORDER BY k")
    want = [(0, 1, 1), (1, 1, 2), (1, 2, 3), (2, 3, 4), (3, 5, 5), (5, 8, 6), (8, 13, 7), (13, 21, 8), (21, 34, 9),
            (34, 55, 10)]
    for rows in both(trino_server, fib):
        assert rows == want


def test_recursive_cte_with_some_of_its_columns(trino_server):
    """Selecting some columns of a multi-column recursive CTE failed in
    DataFusion's projection pushdown ("project index 1 out of bounds").
    Oracle: DuckDB runs the same statement."""
    import duckdb

    for sql in [
        "WITH RECURSIVE fib(a, b) AS (SELECT 1, 1 UNION ALL SELECT b, a + b FROM fib WHERE b < 100) SELECT max(a) AS m FROM fib",
        "WITH RECURSIVE fib(a, b) AS (SELECT 1, 1 UNION ALL SELECT b, a + b FROM fib WHERE b < 100) SELECT a FROM fib ORDER BY a",
        "WITH RECURSIVE t(n, sq) AS (SELECT 1, 1 UNION ALL SELECT n + 1, (n + 1) * (n + 1) FROM t WHERE n < 6) "
        "SELECT sum(sq) AS s FROM t",
    ]:
        want = [tuple(r) for r in duckdb.sql(sql).fetchall()]
        for rows in both(trino_server, sql):
            assert rows == want, sql


def test_max_recursion_depth(trino_server):
    """Trino's `max_recursion_depth` (default 10): ten iterations answer, an
    eleventh that still yields rows fails with NOT_SUPPORTED, a recursion
    without end stops there too, and the session property raises the limit.
    Oracle: 1 + ... + n by hand."""
    ten = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 11) SELECT sum(n) FROM t"
    assert both(trino_server, ten) == ([(66,)], [(66,)])
    eleven = ten.replace("n < 11", "n < 12")
    endless = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT max(n) FROM t"
    for sql in (eleven, endless):
        e = trino_error(trino_server, sql)
        assert e.error_name == "NOT_SUPPORTED", e
        assert "Recursion depth limit exceeded (10)" in e.message
        assert "Recursion depth limit exceeded (10)" in helpers.error_text(flight_error(trino_server, sql))
    cur = trino_connect(trino_server, session_properties={"max_recursion_depth": "11"}).cursor()
    cur.execute(eleven)
    assert cur.fetchall() == [[78]]
