"""`asof_join(left, right, on, ts, join)`: trades matched to the latest quote at
or before them, on both endpoints, against DuckDB's own `ASOF JOIN` over
pyiceberg's reading of the same two Iceberg tables."""

from __future__ import annotations

import csv
import datetime
import random

import pytest
import trino

import helpers
from conftest import trino_connect

UTC = datetime.timezone.utc


def iso(ts: datetime.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def tables(trino_server, market_catalog, tmp_path_factory):
    rng = random.Random(42)
    d = tmp_path_factory.mktemp("asof")
    start = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    commodities = ["WTI", "BRENT", "HENRY_HUB", "RBOB"]
    with (d / "quotes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["commodity", "ts", "bid", "ask"])
        for c in commodities[:3]:  # RBOB trades have no quotes at all
            seconds = sorted(rng.sample(range(0, 3600), 400))
            for s in seconds:
                mid = 70 + rng.random() * 5
                w.writerow([c, iso(start + datetime.timedelta(seconds=s)),
                            round(mid - 0.01, 4), round(mid + 0.01, 4)])
    with (d / "trades.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["commodity", "ts", "price", "quantity"])
        for c in commodities:
            for _ in range(500):
                s = rng.uniform(-60, 3660)  # some trades before the first quote
                ts = start + datetime.timedelta(seconds=s)
                w.writerow([c, iso(ts), round(70 + rng.random() * 5, 4), rng.randint(1, 50)])
    trino_server.import_files("iceberg.asof.quotes", d / "quotes.csv")
    trino_server.import_files("iceberg.asof.trades", d / "trades.csv")
    return helpers.duck(
        trades=market_catalog.load_table("asof.trades").scan().to_arrow(),
        quotes=market_catalog.load_table("asof.quotes").scan().to_arrow(),
    )


def micros(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return (v - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(microseconds=1)
    return v


def canon(rows):
    return sorted(tuple(micros(x) for x in r) for r in rows)


def rows_trino(server, sql):
    cur = trino_connect(server).cursor()
    cur.execute(sql)
    return cur.fetchall()


def rows_flight(server, sql):
    with helpers.adbc_connect(server.flight_uri, None, None, **{"adbc.flight.sql.rpc.call_header.x-trino-schema": "asof"}) as conn:
        return [tuple(r.values()) for r in helpers.query(conn, sql).to_pylist()]


@pytest.mark.parametrize("endpoint", [rows_trino, rows_flight], ids=["trino", "flight"])
@pytest.mark.parametrize("join", ["inner", "left"])
def test_asof_join_matches_duckdb(trino_server, tables, endpoint, join):
    got = endpoint(
        trino_server,
        "SELECT commodity, ts, price, quantity, right_ts, bid, ask FROM asof_join("
        f"left => 'iceberg.asof.trades', right => 'iceberg.asof.quotes', on => 'commodity', join => '{join}')",
    )
    duck_join = "ASOF JOIN" if join == "inner" else "ASOF LEFT JOIN"
    want = tables.execute(
        f"SELECT t.commodity, t.ts, t.price, t.quantity, q.ts, q.bid, q.ask FROM trades t {duck_join} quotes q "
        "ON t.commodity = q.commodity AND t.ts >= q.ts"
    ).fetchall()
    assert len(want) > 1000
    assert canon(got) == canon(want)
    if join == "left":
        assert any(r[0] == "RBOB" and r[5] is None for r in got), "unmatched trades kept with NULL quotes"
    else:
        assert not any(r[0] == "RBOB" for r in got)


T1 = datetime.datetime(2025, 3, 3, 9, 20, 0, 500000, tzinfo=UTC)
T2 = datetime.datetime(2025, 3, 3, 9, 40, tzinfo=UTC)


@pytest.fixture(scope="module")
def lower(tables) -> datetime.datetime:
    """A time between a WTI trade and the quote it matches (3 s or more before it): with
    quotes read only from this time on, that trade would lose its quote."""
    trade, quote = tables.execute(
        "SELECT t.ts, q.ts FROM trades t ASOF JOIN quotes q ON t.commodity = q.commodity AND t.ts >= q.ts "
        "WHERE t.commodity = 'WTI' AND t.ts > TIMESTAMPTZ '2025-03-03 09:20:00+00' "
        "AND t.ts - q.ts > INTERVAL 3 SECOND ORDER BY t.ts LIMIT 1"
    ).fetchone()
    assert quote < trade - datetime.timedelta(seconds=1) < trade
    return (trade - datetime.timedelta(seconds=1)).replace(tzinfo=UTC)


@pytest.mark.parametrize("join", ["inner", "left"])
@pytest.mark.parametrize(
    "where",
    [
        "commodity = 'WTI'",
        "commodity = 'WTI' AND ts BETWEEN {t1} AND {t2}",
        "ts >= {t1}",
        "commodity IN ('WTI', 'RBOB') AND ts <= {t2}",
        "ts > {t1} AND price > 72",
        # A right column: applied to the result only (pushing it would pick other quotes).
        "bid > 72 AND ts >= {t1}",
    ],
)
def test_filtered_asof_join_matches_duckdb(trino_server, tables, lower, join, where):
    """Filters on the result reach the inputs: left columns the trades, keys and time bounds
    the quotes too (from the latest quote before a lower bound). A trade just after the lower
    bound matches a quote before it, so a quote bound pushed as it is would lose or change it."""
    where = where.format(t1=helpers.trino_timestamp(lower), t2=helpers.trino_timestamp(T2))
    got = rows_trino(
        trino_server,
        "SELECT commodity, ts, price, quantity, right_ts, bid, ask FROM asof_join("
        f"left => 'iceberg.asof.trades', right => 'iceberg.asof.quotes', on => 'commodity', join => '{join}') "
        f"WHERE {where}",
    )
    duck_join = "ASOF JOIN" if join == "inner" else "ASOF LEFT JOIN"
    duck_where = where.replace(" UTC'", "+00'").replace("TIMESTAMP '", "TIMESTAMPTZ '")
    want = tables.execute(
        f"SELECT * FROM (SELECT t.commodity, t.ts, t.price, t.quantity, q.ts AS right_ts, q.bid, q.ask "
        f"FROM trades t {duck_join} quotes q ON t.commodity = q.commodity AND t.ts >= q.ts) WHERE {duck_where}"
    ).fetchall()
    assert len(want) > 50, where
    assert canon(got) == canon(want), where


@pytest.mark.parametrize("join", ["inner", "left"])
def test_filtered_asof_join_without_keys_matches_duckdb(trino_server, tables, lower, join):
    """Without keys the quotes form one series: a lower bound still starts them at the
    latest quote before it. (Quotes of different commodities share seconds, and which of
    them is picked at an equal time is up to each engine: the matched time is compared.)"""
    got = rows_trino(
        trino_server,
        "SELECT commodity, ts, price, right_ts FROM asof_join("
        f"left => 'iceberg.asof.trades', right => 'iceberg.asof.quotes', on => '', join => '{join}') "
        f"WHERE ts >= {helpers.trino_timestamp(lower)} AND price > 71",
    )
    duck_join = "ASOF JOIN" if join == "inner" else "ASOF LEFT JOIN"
    want = tables.execute(
        f"SELECT t.commodity, t.ts, t.price, q.ts FROM trades t {duck_join} quotes q "
        f"ON t.ts >= q.ts WHERE t.ts >= TIMESTAMPTZ '{lower:%Y-%m-%d %H:%M:%S.%f}+00' AND t.price > 71"
    ).fetchall()
    assert len(want) > 50
    assert canon(got) == canon(want)


def test_asof_join_filters_reach_both_scans(trino_server, tables):
    plan = "\n".join(r[0] for r in rows_trino(
        trino_server,
        "EXPLAIN SELECT * FROM asof_join('iceberg.asof.trades', 'iceberg.asof.quotes', 'commodity') "
        f"WHERE commodity = 'WTI' AND ts BETWEEN {helpers.trino_timestamp(T1)} AND {helpers.trino_timestamp(T2)} AND price > 72",
    ))
    scans = helpers.scan_predicates(plan)
    assert len(scans) == 2, plan
    trades, quotes = scans if helpers.pushed(scans[0], "price", ">", None) else scans[::-1]
    for column, op, value in [("commodity", "=", "WTI"), ("ts", ">=", T1), ("ts", "<=", T2), ("price", ">", 72)]:
        assert helpers.pushed(trades, column, op, value), (column, op, plan)
    # Quotes: the key, the upper bound, and a lower bound before T1 (the latest quote before it).
    assert helpers.pushed(quotes, "commodity", "=", "WTI") and helpers.pushed(quotes, "ts", "<=", T2), plan
    assert helpers.pushed(quotes, "ts", ">=", None) and not helpers.pushed(quotes, "ts", ">=", T1), plan
    assert not helpers.pushed(quotes, "price", ">", None), plan


def test_asof_join_in_a_query(trino_server, tables):
    """The function composes: average spread paid per commodity."""
    got = dict(rows_trino(
        trino_server,
        "SELECT commodity, round(avg(price - (bid + ask) / 2), 6) FROM asof_join('iceberg.asof.trades', 'iceberg.asof.quotes', 'commodity') "
        "GROUP BY 1",
    ))
    want = dict(tables.execute(
        "SELECT t.commodity, round(avg(t.price - (q.bid + q.ask) / 2), 6) FROM trades t ASOF JOIN quotes q "
        "ON t.commodity = q.commodity AND t.ts >= q.ts GROUP BY 1"
    ).fetchall())
    assert got.keys() == want.keys() == {"WTI", "BRENT", "HENRY_HUB"}
    for k in got:
        assert got[k] == pytest.approx(want[k], abs=1e-6)


@pytest.mark.parametrize(
    "sql,message",
    [
        ("SELECT * FROM asof_join('iceberg.asof.trades', 'iceberg.asof.nope', 'commodity')", "nope"),
        ("SELECT * FROM asof_join('iceberg.asof.trades', 'iceberg.asof.quotes', 'venue')", "has no column 'venue'"),
        ("SELECT * FROM asof_join('iceberg.asof.trades', 'iceberg.asof.quotes', 'commodity', 'ts', 'full')", "'inner' or 'left'"),
        ("SELECT * FROM asof_join(left => 'iceberg.asof.trades', rite => 'x')", "no argument named 'rite'"),
    ],
)
def test_bad_arguments_are_clear_errors(trino_server, tables, sql, message):
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        rows_trino(trino_server, sql)
    assert message in e.value.message
    assert rows_trino(trino_server, "SELECT 1") == [[1]]
