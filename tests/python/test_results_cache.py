"""The results cache (issue 19, deliverable 5): a repeated query is answered from memory
while the tables it reads are unchanged, and never once they changed.

Oracles: DuckDB over the rows pyiceberg wrote (what the answer must be), the same query
with `results_cache = false` (the uncached answer), and the server's own Prometheus
counters (whether the answer came from the cache). Writes come from pyiceberg, a client
Contango does not control, so invalidation cannot depend on Contango seeing the write."""

from __future__ import annotations

import pyarrow as pa
import pytest

import helpers
from conftest import trino_connect
from test_metrics import delta, scrape

HITS = "contango_results_cache_hits_total"
MISSES = "contango_results_cache_misses_total"
UNCACHEABLE = "contango_results_cache_uncacheable_total"

QUERY = (
    "SELECT sym, count(*) AS n, sum(px) AS total, min(px) AS lo, max(px) AS hi "
    "FROM iceberg.rcache.{table} GROUP BY sym ORDER BY sym"
)
ORACLE = "SELECT sym, count(*), sum(px), min(px), max(px) FROM t GROUP BY sym ORDER BY sym"


def prices(start: int, n: int) -> pa.Table:
    ids = range(start, start + n)
    return pa.table(
        {
            "sym": pa.array([f"S{i % 4}" for i in ids], pa.string()),
            # Quarters: sums are exact in binary floating point.
            "px": pa.array([i * 0.25 - 10.0 for i in ids], pa.float64()),
        }
    )


@pytest.fixture(scope="module")
def catalog(trino_server):
    cat = helpers.sqlite_catalog(trino_server.data_dir)
    cat.create_namespace_if_not_exists("rcache")
    return cat


@pytest.fixture(scope="module")
def flight(trino_server):
    c = trino_server.connect()
    yield c
    c.close()


def expected(*parts: pa.Table) -> list[tuple]:
    return helpers.duck_rows(helpers.duck(t=pa.concat_tables(parts)), ORACLE, sort=False)


def answer(conn, sql: str) -> list[tuple]:
    return helpers.rows(helpers.query(conn, sql), sort=False)


def counted(server, run):
    """What `run()` returned and how the cache counters moved meanwhile."""
    before = scrape(server)
    got = run()
    after = scrape(server)
    return got, {k: delta(before, after, k) for k in (HITS, MISSES, UNCACHEABLE)}


def test_a_repeated_query_is_a_hit_and_equals_the_uncached_answer(trino_server, catalog, flight):
    rows = prices(0, 400)
    catalog.create_table("rcache.repeat", schema=rows.schema).append(rows)
    sql = QUERY.format(table="repeat")

    first, moved = counted(trino_server, lambda: answer(flight, sql))
    assert moved == {HITS: 0, MISSES: 1, UNCACHEABLE: 0}
    assert first == expected(rows)
    second, moved = counted(trino_server, lambda: answer(flight, sql))
    assert moved == {HITS: 1, MISSES: 0, UNCACHEABLE: 0}
    assert second == first

    # The other endpoint shares the cache (one submission path), in the same
    # time zone (the zone is part of the key: it can change the answer).
    cur = trino_connect(trino_server, timezone="UTC").cursor()
    via_trino, moved = counted(trino_server, lambda: (cur.execute(sql), cur.fetchall())[1])
    assert moved[HITS] == 1
    assert [tuple(r) for r in via_trino] == first

    # Bypassed both ways by the session property: the query runs, and agrees.
    off = trino_connect(trino_server, session_properties={"results_cache": "false"}).cursor()
    bypassed, moved = counted(trino_server, lambda: (off.execute(sql), off.fetchall())[1])
    assert moved == {HITS: 0, MISSES: 0, UNCACHEABLE: 0}
    assert [tuple(r) for r in bypassed] == first

    metrics = scrape(trino_server)
    assert metrics["contango_results_cache_entries"] >= 1
    assert metrics["contango_results_cache_bytes"] > 0


def test_a_commit_by_another_writer_is_seen_by_the_next_query(trino_server, catalog, flight):
    first = prices(0, 300)
    table = catalog.create_table("rcache.growing", schema=first.schema)
    table.append(first)
    sql = QUERY.format(table="growing")
    assert answer(flight, sql) == expected(first)
    assert answer(flight, sql) == expected(first)  # now cached

    second = prices(1000, 50)
    table.append(second)
    got, moved = counted(trino_server, lambda: answer(flight, sql))
    assert moved == {HITS: 0, MISSES: 1, UNCACHEABLE: 0}, "a new snapshot is a new key"
    assert got == expected(first, second)

    # A delete (an overwrite snapshot) is seen as well.
    table.delete("sym = 'S1'")
    remaining = pa.concat_tables([first, second]).filter(pa.compute.not_equal(pa.concat_tables([first, second])["sym"], "S1"))
    assert answer(flight, sql) == expected(remaining)

    # A schema change without a new snapshot changes `SELECT *` (the metadata file is in the key).
    star = "SELECT * FROM iceberg.rcache.growing ORDER BY px LIMIT 1"
    assert helpers.query(flight, star).column_names == ["sym", "px"]
    assert helpers.query(flight, star).column_names == ["sym", "px"]
    from pyiceberg.types import StringType

    with table.update_schema() as update:
        update.add_column("venue", StringType())
    got = helpers.query(flight, star)
    assert got.column_names == ["sym", "px", "venue"]
    assert got["venue"].to_pylist() == [None]


def test_time_travel_is_cached_per_snapshot(trino_server, catalog, flight):
    first = prices(0, 200)
    table = catalog.create_table("rcache.travel", schema=first.schema)
    table.append(first)
    old = table.current_snapshot().snapshot_id
    table.append(prices(500, 100))
    sql = (
        "SELECT sym, count(*) AS n, sum(px) AS total, min(px) AS lo, max(px) AS hi "
        f"FROM iceberg.rcache.travel FOR VERSION AS OF {old} GROUP BY sym ORDER BY sym"
    )
    assert answer(flight, sql) == expected(first)
    got, moved = counted(trino_server, lambda: answer(flight, sql))
    assert moved[HITS] == 1
    assert got == expected(first)
    # The current snapshot is another key.
    assert answer(flight, QUERY.format(table="travel")) == expected(first, prices(500, 100))


@pytest.mark.parametrize(
    "sql",
    [
        # Not immutable: the answer may differ on every run.
        "SELECT count(*) AS n, CAST(max(now()) AS varchar) AS at FROM iceberg.rcache.volatile",
        "SELECT count(*) AS n FROM iceberg.rcache.volatile WHERE random() < 2",
        # No version: system tables change without commits.
        "SELECT count(*) AS n FROM system.runtime.queries",
        # No table at all.
        "SELECT 1 AS x",
    ],
)
def test_what_may_change_without_a_commit_is_never_cached(trino_server, catalog, flight, sql):
    if "rcache.volatile" in sql and not catalog.table_exists("rcache.volatile"):
        rows = prices(0, 10)
        catalog.create_table("rcache.volatile", schema=rows.schema).append(rows)
    for _ in range(2):
        _, moved = counted(trino_server, lambda: answer(flight, sql))
        assert moved == {HITS: 0, MISSES: 0, UNCACHEABLE: 1}, sql


def test_the_queries_table_counts_every_query_though_cached(trino_server, catalog, flight):
    rows = prices(0, 20)
    catalog.create_table("rcache.tracked", schema=rows.schema).append(rows)
    sql = QUERY.format(table="tracked") + " -- tracked"
    for _ in range(3):
        assert answer(flight, sql) == expected(rows)
    states = helpers.query(
        flight, "SELECT state FROM system.runtime.queries WHERE query LIKE '%-- tracked' AND query NOT LIKE '%runtime%'"
    )["state"].to_pylist()
    assert states == ["FINISHED"] * 3
