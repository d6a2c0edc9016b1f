"""Iceberg metadata tables ("t$snapshots", "$history", "$files", "$partitions",
"$properties") and time travel (FOR VERSION / FOR TIMESTAMP AS OF), through the
trino client and Flight SQL, checked against pyiceberg's own reading of the same
table metadata and DuckDB over the same rows."""

from __future__ import annotations

import datetime

import pytest
import trino

import helpers
from conftest import trino_connect


@pytest.fixture(scope="module")
def versioned(trino_server, market_catalog, tmp_path_factory):
    """iceberg.tt.prices: two appends (3 rows, then 2 rows)."""
    d = tmp_path_factory.mktemp("tt")
    first, second = d / "a.csv", d / "b.csv"
    first.write_text("commodity,price\nWTI,-36.98\nWTI,20.5\nBRENT,25.1\n")
    second.write_text("commodity,price\nWTI,70.0\nHENRY_HUB,2.5\n")
    trino_server.import_files("iceberg.tt.prices", first)
    trino_server.import_files("iceberg.tt.prices", second)
    return market_catalog.load_table("tt.prices")


@pytest.fixture
def cur(trino_server):
    return trino_connect(trino_server).cursor()


def q(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


def test_snapshots_and_history_match_pyiceberg(cur, versioned):
    snaps = sorted(versioned.snapshots(), key=lambda s: s.timestamp_ms)
    assert len(snaps) == 2
    rows = q(cur, 'SELECT snapshot_id, parent_id, operation, committed_at FROM iceberg.tt."prices$snapshots" ORDER BY committed_at')
    assert [d[1] for d in cur.description] == ["bigint", "bigint", "varchar", "timestamp(3) with time zone"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (s.snapshot_id, s.parent_snapshot_id, s.summary.operation.value) for s in snaps
    ]
    assert [int(r[3].timestamp() * 1000) for r in rows] == [s.timestamp_ms for s in snaps]
    summary = q(cur, 'SELECT summary[\'added-records\'] FROM tt."prices$snapshots" ORDER BY committed_at')
    assert summary == [["3"], ["2"]]
    history = q(cur, 'SELECT snapshot_id, is_current_ancestor FROM tt."prices$history" ORDER BY made_current_at')
    assert history == [[s.snapshot_id, True] for s in snaps]


def test_files_match_pyiceberg(cur, versioned):
    files = versioned.inspect.files().to_pylist()
    rows = q(cur, 'SELECT file_path, record_count, file_size_in_bytes, file_format, content FROM tt."prices$files"')
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        (f["file_path"], f["record_count"], f["file_size_in_bytes"]) for f in files
    )
    assert {r[3] for r in rows} == {"PARQUET"} and {r[4] for r in rows} == {0}
    assert sum(r[1] for r in rows) == 5
    # The metrics maps are keyed by field id.
    counts = q(cur, 'SELECT value_counts FROM tt."prices$files"')
    assert all(set(c[0]) == {1, 2} for c in counts)


def test_partitions_of_ticks_match_duckdb(cur, market_catalog):
    ticks = market_catalog.load_table("market.ticks")
    oracle = helpers.duck(ticks=ticks.scan().to_arrow())
    want = helpers.duck_rows(
        oracle,
        "SELECT CAST(ts AS DATE) AS d, commodity, count(*) FROM ticks GROUP BY 1, 2",
    )
    rows = q(cur, 'SELECT partition.ts_day, partition.commodity, record_count, file_count FROM market."ticks$partitions"')
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(tuple(w) for w in want)
    assert all(r[3] >= 1 for r in rows)
    props = dict(q(cur, 'SELECT key, value FROM market."ticks$properties"'))
    assert props == dict(ticks.properties)


def test_time_travel_by_version_and_timestamp(cur, versioned, trino_server):
    first, second = sorted(versioned.snapshots(), key=lambda s: s.timestamp_ms)
    assert q(cur, "SELECT count(*) FROM tt.prices") == [[5]]
    assert q(cur, f"SELECT count(*), min(price) FROM tt.prices FOR VERSION AS OF {first.snapshot_id}") == [[3, -36.98]]
    at = datetime.datetime.fromtimestamp(first.timestamp_ms / 1000, datetime.timezone.utc)
    literal = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    assert q(cur, f"SELECT count(*) FROM tt.prices FOR TIMESTAMP AS OF TIMESTAMP '{literal} UTC'") == [[3]]
    assert q(cur, f"SELECT count(*) FROM iceberg.tt.prices FOR VERSION AS OF {second.snapshot_id} p WHERE p.price > 0") == [[4]]
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        q(cur, "SELECT * FROM tt.prices FOR VERSION AS OF 12345")
    assert "snapshot ID does not exists" in e.value.message
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        q(cur, "SELECT * FROM tt.prices FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01 00:00:00 UTC'")
    assert "No version history" in e.value.message
    # Flight SQL speaks the same dialect.
    with trino_server_flight(trino_server) as conn:
        got = helpers.query(conn, f"SELECT count(*) AS n FROM tt.prices FOR VERSION AS OF {first.snapshot_id}")
        assert got.to_pylist() == [{"n": 3}]


def trino_server_flight(server):
    return helpers.adbc_connect(server.flight_uri, None, None)


def test_metadata_table_names_are_not_listed(cur):
    tables = [r[0] for r in q(cur, "SHOW TABLES FROM iceberg.tt")]
    assert tables == ["prices"]
    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        q(cur, 'SELECT * FROM tt."prices$nope"')
    assert e.value.error_name == "TABLE_NOT_FOUND"
