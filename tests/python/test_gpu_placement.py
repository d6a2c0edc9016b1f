"""GPU placement through the real clients: `SET SESSION gpu`, EXPLAIN marking,
and the GPU operators (`GpuAggregateExec`, `GpuAnomalyScanExec`) returning
what DataFusion's operators return, on the synthetic market and the EIA series,
over both endpoints.

Where there is no GPU (CI), `gpu = 'on'` runs the GPU operators on their CPU
reference kernels, so the planner integration, chunking and result building
are checked everywhere; the kernels themselves are compared with those
references by `cargo test -p contango-gpu-kernels` on a machine with a GPU.
"""

from __future__ import annotations

import math

import pytest
import trino

import helpers
from conftest import trino_connect


def run(server, sql, gpu=None):
    props = {}
    if gpu is not None:
        props["gpu"] = gpu
    conn = trino_connect(server, session_properties=props)
    cur = conn.cursor()
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def explain(server, sql, gpu):
    return "\n".join(r[0] for r in run(server, f"EXPLAIN {sql}", gpu=gpu))


def same(a, b, what):
    """Equal rows, floats within 1e-9 relative (the documented tolerance of sums)."""
    def key(row):  # the non-float columns identify a row
        return tuple(str(v) for v in row if not isinstance(v, float))

    a, b = sorted(a, key=key), sorted(b, key=key)
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} rows"
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, float) and isinstance(v, float):
                assert math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9), f"{what}: {x} vs {y}"
            else:
                assert u == v, f"{what}: {x} vs {y}"


OHLCV = """
SELECT commodity, source, time_bucket(INTERVAL '1' MINUTE, ts) AS minute,
       open_price(price, ts) AS open, max(price) AS high, min(price) AS low,
       close_price(price, ts) AS close, vwap(price, volume) AS vwap, count(*) AS n
FROM ticks GROUP BY 1, 2, 3
"""
DAILY = """
SELECT commodity, date_trunc('day', ts) AS d, count(price), avg(price), stddev(price),
       variance(price), stddev_pop(price), min(price), max(price), max(ts)
FROM ticks GROUP BY 1, 2
"""
LATEST = "SELECT commodity, max(ts), close_price(price, ts) FROM ticks GROUP BY 1"
GLOBAL = "SELECT count(*), sum(price), avg(price), min(price), max(price) FROM ticks"
EMPTY = "SELECT count(*), sum(price), max(ts) FROM ticks WHERE price > 1e12"


@pytest.mark.parametrize("sql", [OHLCV, DAILY, LATEST, GLOBAL, EMPTY], ids=["ohlcv", "daily", "latest", "global", "empty"])
def test_gpu_operators_return_what_datafusion_returns(trino_server, sql):
    assert "GpuAggregateExec: device=" in explain(trino_server, sql, "on")
    assert "GpuAggregateExec" not in explain(trino_server, sql, "off")
    on, off = run(trino_server, sql, gpu="on"), run(trino_server, sql, gpu="off")
    assert on, "results"
    same(on, off, sql.split()[1])


WINDOW = """
SELECT commodity, source, ts, log_return(price) OVER w AS r, zscore(price, 20) OVER w AS z,
       mad_zscore(price, 20) OVER w AS m
FROM ticks WINDOW w AS (PARTITION BY commodity, source ORDER BY ts)
"""


def test_series_window_functions_on_gpu_operators(trino_server):
    assert "GpuWindowExec: device=" in explain(trino_server, WINDOW, "on")
    assert "GpuWindowExec" not in explain(trino_server, WINDOW, "off")
    on, off = run(trino_server, WINDOW, gpu="on"), run(trino_server, WINDOW, gpu="off")
    assert len(on) > 1000
    same(on, off, "series windows")


def test_memory_limit_falls_back_to_the_cpu(trino_server):
    """Over `gpu_memory_limit` the aggregation finishes on the CPU: same rows."""
    conn = trino_connect(trino_server, session_properties={"gpu": "on", "gpu_memory_limit": "1"})
    cur = conn.cursor()
    cur.execute(OHLCV)
    limited = [tuple(r) for r in cur.fetchall()]
    same(limited, run(trino_server, OHLCV, gpu="off"), "memory-limited")


def test_gpu_over_flight_sql_session_header(trino_server):
    rows = {}
    for mode in ("on", "off"):
        with helpers.adbc_connect(
            trino_server.flight_uri, None, None,
            **{"adbc.flight.sql.rpc.call_header.x-trino-schema": "market",
               "adbc.flight.sql.rpc.call_header.x-trino-session": f"gpu={mode}"},
        ) as conn:
            plan = "\n".join(r["Query Plan"] if "Query Plan" in r else str(list(r.values())[-1])
                             for r in helpers.query(conn, f"EXPLAIN {LATEST}").to_pylist())
            assert ("GpuAggregateExec" in plan) == (mode == "on"), plan
            rows[mode] = [tuple(r.values()) for r in helpers.query(conn, LATEST).to_pylist()]
    same(rows["on"], rows["off"], "latest over Flight SQL")


def test_ineligible_aggregates_stay_on_datafusion(trino_server):
    # DISTINCT and exact integer sums are not offered to the GPU.
    plan = explain(trino_server, "SELECT count(DISTINCT commodity), sum(volume) FROM ticks", "on")
    assert "GpuAggregateExec" not in plan


def test_auto_keeps_aggregations_on_cpu_operators(trino_server):
    # `auto` (the default) plans DataFusion's aggregation, with or without a
    # GPU (end to end from host memory it is the faster path).
    plan = explain(trino_server, OHLCV, None)
    assert "GpuAggregateExec" not in plan
    assert "AggregateExec" in plan


@pytest.mark.parametrize(
    "method,window,threshold",
    [("zscore", 20, 8), ("mad", 20, 6), ("jump", 20, 8), ("stale", 3, 0), ("negative", 2, 0)],
)
def test_anomaly_scan_on_gpu_operators_matches_sql_plan(trino_server, method, window, threshold):
    sql = (f"SELECT commodity, source, ts, price, score, reason FROM anomalies("
           f"table => 'iceberg.market.ticks', method => '{method}', window => {window}, threshold => {threshold})")
    assert "GpuAnomalyScanExec: device=" in explain(trino_server, sql, "on")
    on, off = run(trino_server, sql, gpu="on"), run(trino_server, sql, gpu="off")
    assert off, f"{method} flags something on the synthetic market"
    same(on, off, method)


def test_bad_gpu_setting_is_a_clear_error(trino_server):
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        run(trino_server, "SELECT 1", gpu="maybe")
    assert e.value.error_name == "INVALID_SESSION_PROPERTY"
    assert "auto, on, off" in e.value.message
    # The server keeps serving.
    assert run(trino_server, "SELECT 1") == [(1,)]


def test_show_session_lists_gpu(trino_server):
    rows = {r[0]: r for r in run(trino_server, "SHOW SESSION")}
    assert rows["gpu"][2] == "auto" and rows["gpu"][3] == "varchar"
    assert rows["gpu_min_rows"][2] == "1000000"
