"""The SQL that Superset and Grafana generate for Trino, through the real `trino`
client over the demo ticks, compared with DuckDB running the same expressions
over pyiceberg's reading of the same table.

Superset: the Trino engine spec's time-grain expressions (`date_trunc` over
`CAST(col AS TIMESTAMP)`, the sub-unit grains with `interval '1' <unit> * (...)`,
and the week variants shifted by `interval '1' day`). Grafana's Trino data
source: `$__timeFilter`, `$__timeGroup`, `$__unixEpochGroup` and `$__dateFilter`
as the plugin expands them."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

import helpers
from conftest import trino_connect

COL = "ts"

# Superset's TrinoEngineSpec (PrestoBaseEngineSpec) time grains, verbatim.
SUPERSET_GRAINS = {
    "PT1S": "date_trunc('second', CAST({col} AS TIMESTAMP))",
    "PT5S": "date_trunc('second', CAST({col} AS TIMESTAMP)) - interval '1' second * (second(CAST({col} AS TIMESTAMP)) % 5)",
    "PT1M": "date_trunc('minute', CAST({col} AS TIMESTAMP))",
    "PT5M": "date_trunc('minute', CAST({col} AS TIMESTAMP)) - interval '1' minute * (minute(CAST({col} AS TIMESTAMP)) % 5)",
    "PT15M": "date_trunc('minute', CAST({col} AS TIMESTAMP)) - interval '1' minute * (minute(CAST({col} AS TIMESTAMP)) % 15)",
    "PT1H": "date_trunc('hour', CAST({col} AS TIMESTAMP))",
    "PT6H": "date_trunc('hour', CAST({col} AS TIMESTAMP)) - interval '1' hour * (hour(CAST({col} AS TIMESTAMP)) % 6)",
    "P1D": "date_trunc('day', CAST({col} AS TIMESTAMP))",
    "P1W": "date_trunc('week', CAST({col} AS TIMESTAMP))",
    "P1M": "date_trunc('month', CAST({col} AS TIMESTAMP))",
    "P3M": "date_trunc('quarter', CAST({col} AS TIMESTAMP))",
    "P1Y": "date_trunc('year', CAST({col} AS TIMESTAMP))",
    "1969-12-28T00:00:00Z/P1W": "date_trunc('week', CAST({col} AS TIMESTAMP) + interval '1' day) - interval '1' day",
    "1969-12-29T00:00:00Z/P1W": "date_trunc('week', CAST({col} AS TIMESTAMP))",
    "P1W/1970-01-03T00:00:00Z": "date_trunc('week', CAST({col} AS TIMESTAMP) + interval '1' day) + interval '5' day",
    "P1W/1970-01-04T00:00:00Z": "date_trunc('week', CAST({col} AS TIMESTAMP)) + interval '6' day",
}


@pytest.fixture(scope="module")
def cur(trino_server):
    conn = trino_connect(trino_server)
    yield conn.cursor()
    conn.close()


@pytest.fixture(scope="module")
def oracle(market_catalog):
    ticks = market_catalog.load_table("market.ticks").scan().to_arrow()
    return helpers.duck(ticks=ticks)


@pytest.fixture(scope="module")
def window(oracle):
    """A window inside the data: the middle half of WTI's time range."""
    lo, hi = helpers.duck_rows(oracle, "SELECT min(ts), max(ts) FROM ticks WHERE commodity = 'WTI'")[0]
    span = hi - lo
    return lo + span / 4, hi - span / 4


def naive_utc(v):
    """One comparable form: naive UTC datetimes (DuckDB's date_trunc gives a
    date for day-or-coarser parts), integral decimals (DuckDB's sum) as int."""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            return v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v
    if isinstance(v, datetime.date):
        return datetime.datetime(v.year, v.month, v.day)
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return int(v)
    return v


def normalise(rows):
    return sorted(tuple(naive_utc(v) for v in r) for r in rows)


@pytest.mark.parametrize("grain", list(SUPERSET_GRAINS))
def test_superset_time_grains_match_duckdb(cur, oracle, grain):
    expr = SUPERSET_GRAINS[grain].format(col=COL)
    sql = (
        f"SELECT {expr} AS __timestamp, count(*) AS n, sum(volume) AS v, max(price) AS hi "
        f"FROM ticks WHERE commodity IN ('WTI', 'BRENT') GROUP BY {expr}"
    )
    cur.execute(sql)
    got = cur.fetchall()
    assert cur.description[0][1].startswith("timestamp"), cur.description[0]
    want = helpers.duck_rows(oracle, sql)
    assert normalise(got) == normalise(want)
    assert got


def fmt(ts: datetime.datetime) -> str:
    return ts.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def test_grafana_time_filter_and_time_group(cur, oracle, window):
    lo, hi = window
    # $__timeFilter(ts) and $__timeGroup(ts, '5m')
    sql = (
        "SELECT FROM_UNIXTIME(FLOOR(TO_UNIXTIME(ts)/300)*300) AS time, avg(price) AS price, count(*) AS n "
        f"FROM ticks WHERE ts BETWEEN TIMESTAMP '{fmt(lo)}' AND TIMESTAMP '{fmt(hi)}' AND commodity = 'WTI' "
        "GROUP BY 1 ORDER BY 1"
    )
    cur.execute(sql)
    got = cur.fetchall()
    assert cur.description[0][1] == "timestamp(3) with time zone"
    duck_sql = (
        "SELECT to_timestamp(FLOOR(epoch(ts)/300)*300) AS time, avg(price), count(*) "
        f"FROM ticks WHERE ts BETWEEN TIMESTAMPTZ '{fmt(lo)}+00' AND TIMESTAMPTZ '{fmt(hi)}+00' "
        "AND commodity = 'WTI' GROUP BY 1"
    )
    want = helpers.duck_rows(oracle, duck_sql)
    helpers.assert_rows_equal(normalise(got), normalise(want), rel_tol=1e-12, what="$__timeGroup")
    assert len(got) > 10


def test_grafana_unix_epoch_group(cur, oracle):
    # $__unixEpochGroup(epoch, '1h') over an epoch-seconds column.
    sql = (
        "WITH e AS (SELECT CAST(TO_UNIXTIME(ts) AS BIGINT) AS epoch, volume FROM ticks WHERE commodity = 'HENRY_HUB') "
        "SELECT FROM_UNIXTIME(FLOOR(epoch/3600)*3600) AS time, sum(volume) AS v FROM e GROUP BY 1"
    )
    cur.execute(sql)
    got = cur.fetchall()
    duck_sql = (
        "WITH e AS (SELECT CAST(round(epoch(ts)) AS BIGINT) AS epoch, volume FROM ticks WHERE commodity = 'HENRY_HUB') "
        "SELECT to_timestamp(FLOOR(epoch/3600)*3600) AS time, sum(volume) FROM e GROUP BY 1"
    )
    want = helpers.duck_rows(oracle, duck_sql)
    assert normalise(got) == normalise(want)
    assert len(got) > 1


def test_grafana_date_filter(cur, oracle, window):
    lo, hi = window
    # $__dateFilter(day) over a date column.
    sql = (
        "WITH d AS (SELECT CAST(ts AS DATE) AS day, price FROM ticks) "
        f"SELECT day, count(*), min(price) FROM d WHERE day BETWEEN date '{lo.date()}' AND date '{hi.date()}' "
        "GROUP BY day"
    )
    cur.execute(sql)
    got = cur.fetchall()
    assert cur.description[0][1] == "date"
    want = helpers.duck_rows(oracle, sql)
    assert normalise(got) == normalise(want)
    assert got
