"""Commodity SQL (vwap, open_price/close_price, time_bucket, log_return, zscore)
on both endpoints, compared with DuckDB computing the same over pyiceberg's
reading of the demo ticks."""

from __future__ import annotations

import pytest

import helpers
from conftest import trino_connect


@pytest.fixture(scope="module")
def oracle(market_catalog):
    return helpers.duck(ticks=market_catalog.load_table("market.ticks").scan().to_arrow())


def rows_trino(server, sql):
    cur = trino_connect(server).cursor()
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def rows_flight(server, sql):
    with helpers.adbc_connect(server.flight_uri, None, None, **{"adbc.flight.sql.rpc.call_header.x-trino-schema": "market"}) as conn:
        return [tuple(r.values()) for r in helpers.query(conn, sql).to_pylist()]


OHLCV = """
SELECT commodity, source, time_bucket(INTERVAL '1' MINUTE, ts) AS minute,
       open_price(price, ts) AS open, max(price) AS high, min(price) AS low,
       close_price(price, ts) AS close, sum(volume) AS volume, vwap(price, volume) AS vwap
FROM ticks WHERE price IS NOT NULL AND volume > 0 GROUP BY 1, 2, 3
"""
OHLCV_DUCK = """
SELECT commodity, source, time_bucket(INTERVAL '1 minute', ts),
       arg_min(price, ts), max(price), min(price), arg_max(price, ts), sum(volume)::BIGINT,
       sum(price * volume) / sum(volume)
FROM ticks WHERE price IS NOT NULL AND volume > 0 GROUP BY 1, 2, 3
"""


@pytest.mark.parametrize("endpoint", [rows_trino, rows_flight], ids=["trino", "flight"])
def test_one_minute_ohlcv_vwap_matches_duckdb(trino_server, oracle, endpoint):
    got = sorted(endpoint(trino_server, OHLCV), key=lambda r: (r[0], r[1], r[2]))
    want = sorted(helpers.duck_rows(oracle, OHLCV_DUCK, sort=False), key=lambda r: (r[0], r[1], r[2]))
    assert len(got) == len(want) and len(got) > 100
    helpers.assert_rows_equal(got, want, rel_tol=1e-12, what="1-minute bars")


SERIES = """
WITH h AS (SELECT commodity, date_trunc('hour', ts) AS h, avg(price) AS p FROM ticks WHERE price IS NOT NULL GROUP BY 1, 2)
SELECT commodity, h, log_return(p) OVER (PARTITION BY commodity ORDER BY h) AS r,
       zscore(p, 5) OVER (PARTITION BY commodity ORDER BY h) AS z
FROM h
"""
SERIES_DUCK = """
WITH h AS (SELECT commodity, date_trunc('hour', ts) AS h, avg(price) AS p FROM ticks WHERE price IS NOT NULL GROUP BY 1, 2),
w AS (SELECT commodity, h, p, lag(p) OVER (PARTITION BY commodity ORDER BY h) AS prev,
      avg(p) OVER win AS m, stddev_samp(p) OVER win AS s, count(p) OVER win AS n
      FROM h WINDOW win AS (PARTITION BY commodity ORDER BY h ROWS BETWEEN 5 PRECEDING AND 1 PRECEDING))
SELECT commodity, h, CASE WHEN p > 0 AND prev > 0 THEN ln(p / prev) END,
       CASE WHEN n = 5 AND s > 0 THEN (p - m) / s END
FROM w
"""


@pytest.mark.parametrize("endpoint", [rows_trino, rows_flight], ids=["trino", "flight"])
def test_log_return_and_rolling_zscore_match_duckdb(trino_server, oracle, endpoint):
    got = sorted(endpoint(trino_server, SERIES), key=lambda r: (r[0], r[1]))
    want = sorted(helpers.duck_rows(oracle, SERIES_DUCK, sort=False), key=lambda r: (r[0], r[1]))
    assert len(got) == len(want)
    helpers.assert_rows_equal(got, want, rel_tol=1e-9, what="log returns and z-scores")
    assert sum(1 for r in got if r[3] is not None) > 50


@pytest.mark.parametrize(
    "bucket,duck_bucket",
    [
        ("time_bucket(INTERVAL '1' MINUTE, ts)", "time_bucket(INTERVAL '1 minute', ts)"),
        ("date_trunc('minute', ts)", "date_trunc('minute', ts)"),
    ],
)
@pytest.mark.parametrize("endpoint", [rows_trino, rows_flight], ids=["trino", "flight"])
def test_buckets_aggregated_again_match_duckdb(trino_server, oracle, endpoint, bucket, duck_bucket):
    """Bars re-aggregated into 15-minute groups, as Superset's time grains do over a
    virtual dataset (the bucket's type survives a second aggregation)."""
    inner = "SELECT commodity, {b} AS m, sum(volume) AS v FROM ticks WHERE volume IS NOT NULL GROUP BY 1, 2"
    outer = "SELECT commodity, date_trunc('hour', m) AS h, sum(v), count(*) FROM ({}) GROUP BY 1, 2"
    got = sorted(endpoint(trino_server, outer.format(inner.format(b=bucket))))
    want = sorted(helpers.duck_rows(oracle, outer.format(inner.format(b=duck_bucket)), sort=False))
    assert len(got) == len(want) > 10
    helpers.assert_rows_equal(got, want, what=f"{bucket} re-aggregated")
