"""Accelerated tables (issue 19, deliverables 1-3 and 6): `[[accelerate]]` holds tables in
memory, refreshed exactly from their Iceberg snapshots.

Oracles: the same query on a server without acceleration over the same catalog, DuckDB over
what pyiceberg reads, and pyiceberg's own snapshot ids and row counts for the refresh state.
Writes come from pyiceberg, so refreshes cannot depend on Contango making the commit."""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import helpers
from conftest import PASSWORD, USER, start_contango, stop_process, wait_for, write_config

# The commodity suite of benches/iceberg_scan.py, on the demo's ticks.
SUITE = {
    "count": "SELECT count(*) AS n FROM iceberg.market.ticks",
    "ohlcv": (
        "SELECT commodity, date_trunc('minute', ts) AS m, min(price) AS lo, max(price) AS hi, "
        "sum(volume) AS vol, count(*) AS n FROM iceberg.market.ticks GROUP BY 1, 2"
    ),
    "daily": (
        "SELECT commodity, date_trunc('day', ts) AS d, avg(price) AS mean, stddev(price) AS sd, "
        "min(price) AS lo, max(price) AS hi FROM iceberg.market.ticks GROUP BY 1, 2"
    ),
    "latest": "SELECT commodity, max_by(price, ts) AS px, max(ts) AS at FROM iceberg.market.ticks GROUP BY 1",
    "zscore": (
        "SELECT count(*) AS n FROM (SELECT (price - avg(price) OVER (PARTITION BY commodity, source "
        "ORDER BY ts, price ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)) / stddev(price) OVER (PARTITION BY "
        "commodity, source ORDER BY ts, price ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS z "
        "FROM iceberg.market.ticks) t WHERE abs(z) > 3"
    ),
    "point": "SELECT commodity, ts, price FROM iceberg.market.ticks WHERE commodity = 'WTI' AND price > 100",
    "range": (
        "SELECT count(*) AS n, sum(volume) AS v FROM iceberg.market.ticks "
        "WHERE commodity = 'BRENT' AND ts >= TIMESTAMP '2024-01-03 00:00:00 UTC' "
        "AND ts < TIMESTAMP '2024-01-04 00:00:00 UTC'"
    ),
}

ACCELERATE = """
[[accelerate]]
table = "iceberg.market.ticks"
sort = ["commodity", "ts"]

[[accelerate]]
table = "iceberg.eia.wti"

[[accelerate]]
table = "iceberg.eia.brent"
host_memory = "1kB"

[[accelerate]]
table = "iceberg.market.defects"
columns = ["commodity", "defect"]

[[accelerate]]
table = "iceberg.accel.recent"
window = "30d"
window_column = "ts"
sort = ["sym", "ts"]

[[accelerate]]
table = "iceberg.accel.fills"
sort = ["sym"]
"""


@pytest.fixture(scope="module")
def accelerated(contango_bin, eia_server, session_tmp):
    """The market + EIA catalog served with `[[accelerate]]` entries (one for a table
    that does not exist yet, one far over its budget)."""
    config = write_config(session_tmp / "accelerated.toml", users={USER: PASSWORD, "guest": "guest-pw"})
    # USER administers (may accelerate at run time); guest may only query.
    text = config.read_text().replace("[auth.users]", f"admins = [{json.dumps(USER)}]\n[auth.users]")
    config.write_text(text + ACCELERATE)
    server = start_contango(contango_bin, eia_server.data_dir, config, session_tmp)
    try:
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="module")
def aconn(accelerated):
    c = accelerated.connect()
    yield c
    c.close()


def state(conn, table: str) -> dict:
    t = helpers.query(conn, f"SELECT * FROM system.runtime.accelerations WHERE table_name = '{table}'")
    assert t.num_rows == 1, t
    return {k: v[0] for k, v in t.to_pydict().items()}


def ready(conn, table: str, timeout: float = 60) -> dict:
    wait_for(lambda: state(conn, table)["state"] == "ready", timeout, f"{table} accelerated")
    return state(conn, table)


def same(a: pa.Table, b: pa.Table, what: str):
    helpers.assert_rows_equal(helpers.rows(a), helpers.rows(b), rel_tol=1e-9, what=what)


def test_the_commodity_suite_answers_the_same_from_memory(accelerated, aconn, conn, market_catalog):
    ticks = ready(aconn, "market.ticks")
    truth = market_catalog.load_table("market.ticks")
    assert ticks["snapshot_id"] == truth.current_snapshot().snapshot_id
    assert ticks["rows"] == truth.scan().to_arrow().num_rows
    assert ticks["host_bytes"] > 0 and ticks["chunks"] >= 1 and ticks["error"] is None
    wti = ready(aconn, "eia.wti")
    for name, sql in SUITE.items():
        with_memory = helpers.query(aconn, sql)
        without = helpers.query(conn, sql)  # the market server: no acceleration
        same(with_memory, without, name)
    assert wti["rows"] == market_catalog.load_table("eia.wti").scan().to_arrow().num_rows
    # DuckDB over what pyiceberg reads, for the aggregate most exposed to summation order.
    duck = helpers.duck(t=truth.scan().to_arrow())
    same(
        helpers.query(aconn, SUITE["daily"]),
        duck.execute(
            "SELECT commodity, date_trunc('day', ts), avg(price), stddev_samp(price), min(price), max(price) "
            "FROM t GROUP BY 1, 2"
        ).fetch_arrow_table(),
        "daily vs DuckDB",
    )
    # WTI settled at -36.98 on 2020-04-20, from memory too.
    sql = 'SELECT "Price" AS p FROM iceberg.eia.wti WHERE "Date" = DATE \'2020-04-20\''
    plan = "\n".join(helpers.query(aconn, "EXPLAIN " + sql).column(0).to_pylist())
    assert "AcceleratedScanExec: table=eia.wti" in plan, plan
    assert helpers.query(aconn, sql)["p"].to_pylist() == [-36.98]


def test_scans_read_memory_and_a_key_range_reads_few_chunks(aconn):
    ticks = ready(aconn, "market.ticks")
    plan = "\n".join(helpers.query(aconn, "EXPLAIN " + SUITE["range"]).column(0).to_pylist())
    assert "partition_sizes" in plan and "file_groups" not in plan, plan
    sizes = [int(n) for n in plan.split("partition_sizes=[")[1].split("]")[0].split(",") if n.strip()]
    assert sum(sizes) < ticks["chunks"], f"a range on the sort key reads {sizes} of {ticks['chunks']} chunks"
    # A table not accelerated is scanned from Parquet as before.
    plan = "\n".join(helpers.query(aconn, "EXPLAIN SELECT * FROM iceberg.eia.henry_hub").column(0).to_pylist())
    assert "file_groups" in plan, plan


def test_only_queries_within_the_held_columns_read_memory(aconn, conn):
    ready(aconn, "market.defects")
    for sql, source in (
        ("SELECT defect, count(*) AS n FROM iceberg.market.defects WHERE commodity = 'WTI' GROUP BY 1", "partition_sizes"),
        ("SELECT * FROM iceberg.market.defects", "file_groups"),
    ):
        plan = "\n".join(helpers.query(aconn, "EXPLAIN " + sql).column(0).to_pylist())
        assert source in plan, plan
        same(helpers.query(aconn, sql), helpers.query(conn, sql), sql)


def test_a_table_over_its_budget_is_read_from_iceberg(aconn, conn):
    wait_for(lambda: state(aconn, "eia.brent")["state"] == "over_budget", 60, "brent over budget")
    brent = state(aconn, "eia.brent")
    assert brent["rows"] == 0 and brent["host_bytes"] == 0
    assert "host memory budget" in brent["error"]
    sql = "SELECT count(*) AS n, min(\"Price\") AS lo, max(\"Price\") AS hi FROM iceberg.eia.brent"
    same(helpers.query(aconn, sql), helpers.query(conn, sql), "brent")


def test_refreshes_follow_commits_and_answers_never_lag(accelerated, aconn, market_catalog):
    assert state(aconn, "accel.fills")["state"] == "missing"
    market_catalog.create_namespace_if_not_exists("accel")

    def fills(start: int, n: int) -> pa.Table:
        ids = list(range(start, start + n))
        return pa.table(
            {
                "sym": pa.array([f"S{i % 3}" for i in ids], pa.string()),
                "qty": pa.array(ids, pa.int64()),
                "px": pa.array([i * 0.5 for i in ids], pa.float64()),
            }
        )

    table = market_catalog.create_table("accel.fills", schema=fills(0, 1).schema)
    first = fills(0, 500)
    table.append(first)
    sql = "SELECT sym, count(*) AS n, sum(qty) AS q, sum(px) AS p FROM iceberg.accel.fills GROUP BY sym"
    duck_sql = "SELECT sym, count(*), sum(qty), sum(px) FROM t GROUP BY sym"

    def check(expected: pa.Table, what: str):
        helpers.assert_rows_equal(
            helpers.rows(helpers.query(aconn, sql)),
            helpers.duck_rows(helpers.duck(t=expected), duck_sql),
            what=what,
        )

    check(first, "first append, whether or not memory holds it yet")
    # The copy may have caught the table empty, between create and append.
    loaded = table.current_snapshot().snapshot_id
    wait_for(lambda: state(aconn, "accel.fills")["snapshot_id"] == loaded, 30, "the rows in memory")
    s = ready(aconn, "accel.fills")
    assert s["rows"] == 500 and s["snapshot_id"] == table.current_snapshot().snapshot_id
    check(first, "first append, from memory")
    refreshes, rebuilds = s["refreshes"], s["rebuilds"]

    # An append: exact at once (Iceberg until memory catches up), then added incrementally.
    second = fills(10_000, 200)
    table.append(second)
    committed = time.monotonic()
    both = pa.concat_tables([first, second])
    check(both, "right after the second append")
    snapshot = table.current_snapshot().snapshot_id
    wait_for(lambda: state(aconn, "accel.fills")["snapshot_id"] == snapshot, 30, "the append in memory")
    print(f"append → in memory: {time.monotonic() - committed:.3f} s")
    s = state(aconn, "accel.fills")
    assert (s["rows"], s["refreshes"], s["rebuilds"]) == (700, refreshes + 1, rebuilds), s
    check(both, "after the incremental refresh")

    # Time travel reads the old snapshot from Iceberg.
    old = table.snapshots()[0].snapshot_id
    got = helpers.query(aconn, f"SELECT count(*) AS n FROM iceberg.accel.fills FOR VERSION AS OF {old}")
    assert got["n"][0].as_py() == 500

    # A delete is not an append: the copy is rebuilt (and answers stay exact meanwhile).
    table.delete("sym = 'S1'")
    kept = both.filter(pc.not_equal(both["sym"], "S1"))
    check(kept, "right after the delete")
    snapshot = table.current_snapshot().snapshot_id
    wait_for(lambda: state(aconn, "accel.fills")["snapshot_id"] == snapshot, 30, "the delete in memory")
    s = state(aconn, "accel.fills")
    assert s["rebuilds"] == rebuilds + 1 and s["rows"] == kept.num_rows, s
    check(kept, "after the rebuild")

    # A schema change without a new snapshot: memory holds the old schema, so Iceberg answers.
    from pyiceberg.types import StringType

    with table.update_schema() as update:
        update.add_column("venue", StringType())
    got = helpers.query(aconn, "SELECT * FROM iceberg.accel.fills")
    assert got.column_names == ["sym", "qty", "px", "venue"] and got.num_rows == kept.num_rows
    wait_for(lambda: state(aconn, "accel.fills")["rebuilds"] == rebuilds + 2, 30, "the new schema in memory")
    got = helpers.query(aconn, "SELECT * FROM iceberg.accel.fills")
    assert got.column_names == ["sym", "qty", "px", "venue"] and got.num_rows == kept.num_rows


def test_a_time_window_holds_recent_rows_and_reads_older_ones_from_iceberg(aconn, market_catalog):
    import datetime

    market_catalog.create_namespace_if_not_exists("accel")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def prices(days_ago: list[int], start: int) -> pa.Table:
        return pa.table(
            {
                "sym": pa.array([f"S{i % 2}" for i in range(len(days_ago))], pa.string()),
                "ts": pa.array([now - datetime.timedelta(days=d, minutes=i) for i, d in enumerate(days_ago)],
                               pa.timestamp("us", tz="UTC")),
                "px": pa.array([float(start + i) for i in range(len(days_ago))], pa.float64()),
            }
        )

    # 60 rows a day for 90 days: a third inside the 30-day window.
    first = prices([d for d in range(90) for _ in range(60)], 0)
    table = market_catalog.create_table("accel.recent", schema=first.schema)
    table.append(first)
    # The copy may have caught the table empty, between create and append.
    loaded = table.current_snapshot().snapshot_id
    wait_for(lambda: state(aconn, "accel.recent")["snapshot_id"] == loaded, 30, "the rows in memory")
    s = ready(aconn, "accel.recent")
    recent = first.filter(pc.greater_equal(first["ts"], pa.scalar(now - datetime.timedelta(days=30), pa.timestamp("us", tz="UTC"))))
    # Rows within a minute of the window's start may fall either side of it.
    assert abs(s["rows"] - recent.num_rows) <= 60 and s["rows"] < first.num_rows, s
    assert s["window_start"] is not None

    sql = "SELECT sym, count(*) AS n, sum(px) AS p, min(ts) AS lo, max(ts) AS hi FROM iceberg.accel.recent {where} GROUP BY sym"
    duck_sql = "SELECT sym, count(*), sum(px), min(ts), max(ts) FROM t {where} GROUP BY sym"

    def check(expected: pa.Table, where: str = ""):
        helpers.assert_rows_equal(
            helpers.rows(helpers.query(aconn, sql.format(where=where))),
            helpers.duck_rows(helpers.duck(t=expected), duck_sql.format(where=where)),
            what=where or "every row",
        )

    week = helpers.trino_timestamp(now - datetime.timedelta(days=7))
    quarter = helpers.trino_timestamp(now - datetime.timedelta(days=80))
    check(first)
    check(first, f"WHERE ts >= {week}")
    check(first, f"WHERE ts < {quarter}")
    plan = "\n".join(helpers.query(aconn, "EXPLAIN " + sql.format(where="")).column(0).to_pylist())
    assert "AcceleratedScanExec: table=accel.recent" in plan and "UnionExec" in plan, plan

    # An append of recent and old rows: recent ones join memory, old ones are read from Iceberg.
    more = prices([1, 2, 45, 60], 10_000)
    table.append(more)
    snapshot = table.current_snapshot().snapshot_id
    both = pa.concat_tables([first, more])
    check(both)
    wait_for(lambda: state(aconn, "accel.recent")["snapshot_id"] == snapshot, 30, "the append in memory")
    after = state(aconn, "accel.recent")
    assert after["rows"] == s["rows"] + 2 and after["rebuilds"] == s["rebuilds"], after
    check(both)
    check(both, f"WHERE ts < {quarter}")


def test_administrators_accelerate_and_drop_tables_at_run_time(accelerated, aconn, conn):
    table = "iceberg.eia.henry_hub"
    sql = 'SELECT count(*) AS n, min("Price") AS lo, max("Price") AS hi, max("Date") AS last FROM iceberg.eia.henry_hub'
    call = f"CALL system.runtime.accelerate(table => '{table}', sort => ARRAY['Date'], host_memory => '64MB')"
    guest = helpers.adbc_connect(accelerated.flight_uri, "guest", "guest-pw")
    try:
        with pytest.raises(Exception) as refused:
            helpers.query(guest, call)
        assert "only administrators" in helpers.error_text(refused.value)
    finally:
        guest.close()
    for bad, says in (
        (f"CALL system.runtime.accelerate(table => '{table}', window => 'soon')", "must be a duration"),
        ("CALL system.runtime.accelerate(table => 'nowhere.eia.henry_hub')", "Catalog 'nowhere' does not exist"),
    ):
        with pytest.raises(Exception) as e:
            helpers.query(aconn, bad)
        assert says in helpers.error_text(e.value), bad

    assert helpers.query(aconn, call)["result"].to_pylist() == [True]
    s = ready(aconn, "eia.henry_hub")
    assert s["host_memory_budget"] == 64 << 20 and s["rows"] > 0
    plan = "\n".join(helpers.query(aconn, "EXPLAIN " + sql).column(0).to_pylist())
    assert "AcceleratedScanExec: table=eia.henry_hub" in plan, plan
    same(helpers.query(aconn, sql), helpers.query(conn, sql), "henry hub from memory")

    drop = f"CALL system.runtime.drop_acceleration('{table}')"
    assert helpers.query(aconn, drop)["result"].to_pylist() == [True]
    names = helpers.query(aconn, "SELECT table_name FROM system.runtime.accelerations")["table_name"].to_pylist()
    assert "eia.henry_hub" not in names
    plan = "\n".join(helpers.query(aconn, "EXPLAIN " + sql).column(0).to_pylist())
    assert "AcceleratedScanExec" not in plan and "file_groups" in plan, plan
    with pytest.raises(Exception) as e:
        helpers.query(aconn, drop)
    assert "is not accelerated" in helpers.error_text(e.value)
