"""Interoperability with pyiceberg on the same SQL catalog (catalog.db) and warehouse
as the running server: writes by either side are visible to the other, no restart."""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import helpers

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def catalog(market_server):
    cat = helpers.sqlite_catalog(market_server.data_dir)
    cat.create_namespace_if_not_exists("interop")
    return cat


def batch(start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "commodity": pa.array([None if i % 7 == 3 else f"C{i % 5}" for i in ids], pa.string()),
            "price": pa.array([None if i % 11 == 5 else (i * 1.25 - 40.0) for i in ids], pa.float64()),
            "qty": pa.array([i % 13 for i in ids], pa.int32()),
            "day": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in ids], pa.date32()),
            "ts": pa.array(
                [datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=i * 3601, microseconds=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "ok": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
            "notional": pa.array([decimal.Decimal(i * 100 + 7).scaleb(-2) for i in ids], pa.decimal128(12, 2)),
        }
    )


def test_pyiceberg_table_is_visible_without_restart(conn, catalog):
    first = batch(0, 50)
    table = catalog.create_table("interop.fills", schema=first.schema)
    table.append(first)

    got = helpers.query(conn, "SELECT * FROM iceberg.interop.fills")
    assert got.column_names == first.column_names
    helpers.assert_rows_equal(helpers.rows(got), helpers.rows(first), what="after first pyiceberg append")

    second = batch(1000, 30)
    table.append(second)
    got = helpers.query(conn, "SELECT * FROM interop.fills")
    helpers.assert_rows_equal(
        helpers.rows(got), helpers.rows(pa.concat_tables([first, second])), what="after second pyiceberg append"
    )

    # Aggregates agree with DuckDB over what pyiceberg reads back.
    oracle = helpers.duck(fills=catalog.load_table("interop.fills").scan().to_arrow())
    sql = "SELECT commodity, count(*) AS n, sum(qty) AS q, min(price) AS lo, max(ts) AS last_ts, sum(notional) AS notional FROM {t} GROUP BY commodity"
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, sql.format(t="interop.fills"))),
        helpers.duck_rows(oracle, sql.format(t="fills")),
        what="aggregates",
    )


def test_pyiceberg_append_visible_to_prepared_query(conn, catalog):
    t = batch(0, 10).select(["id", "price"])
    table = catalog.create_table("interop.ticks_seen", schema=t.schema)
    table.append(t)
    sql = "SELECT count(*) AS n, sum(price) AS s FROM interop.ticks_seen WHERE id >= ?"
    with conn.cursor() as cur:
        cur.execute(sql, (0,))
        assert helpers.rows(cur.fetch_arrow_table()) == helpers.rows(helpers.duck(t=t).execute("SELECT count(*), sum(price) FROM t").fetch_arrow_table())
        more = batch(10, 5).select(["id", "price"])
        table.append(more)
        cur.execute(sql, (0,))
        both = pa.concat_tables([t, more])
        assert helpers.rows(cur.fetch_arrow_table()) == helpers.rows(
            helpers.duck(t=both).execute("SELECT count(*), sum(price) FROM t").fetch_arrow_table()
        )


def test_pyiceberg_new_namespace_is_listed(conn, catalog):
    catalog.create_namespace_if_not_exists("interop_ns2")
    t = pa.table({"k": pa.array([1, 2], pa.int64())})
    catalog.create_table("interop_ns2.kv", schema=t.schema).append(t)
    objects = conn.adbc_get_objects(depth="tables", catalog_filter="iceberg").read_all().to_pylist()
    names = {(s["db_schema_name"], tb["table_name"]) for c in objects for s in c["catalog_db_schemas"] or [] for tb in s["db_schema_tables"] or []}
    assert ("interop_ns2", "kv") in names
    assert helpers.rows(helpers.query(conn, "SELECT k FROM interop_ns2.kv")) == [(1,), (2,)]


def _contango_import_table(market_server, tmp_path: Path, source: pa.Table, name: str):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(source, path)
    r = market_server.import_files(f"iceberg.interop.{name}", path)
    assert f"imported {source.num_rows} rows" in r.stderr, r.stderr


def test_contango_parquet_import_read_by_pyiceberg(market_server, conn, tmp_path: Path):
    source = batch(0, 200).drop_columns(["notional"])
    _contango_import_table(market_server, tmp_path, source, "from_parquet")
    cat = helpers.sqlite_catalog(market_server.data_dir)  # fresh catalog object: no cached state
    read = cat.load_table("interop.from_parquet").scan().to_arrow()
    assert read.column_names == source.column_names
    helpers.assert_rows_equal(helpers.rows(read), helpers.rows(source), what="pyiceberg read of contango import")
    # And the server reads the same rows.
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, "SELECT * FROM interop.from_parquet")), helpers.rows(source), what="server read"
    )


def test_contango_ndjson_import_read_by_pyiceberg(market_server, tmp_path: Path):
    records = [
        {"id": i, "name": f"row-{i}", "px": round(i * 0.5 - 3, 2), "flag": i % 3 == 0}
        for i in range(40)
    ]
    path = tmp_path / "rows.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = market_server.import_files("iceberg.interop.from_ndjson", path, fmt="ndjson")
    assert "imported 40 rows" in r.stderr, r.stderr
    read = helpers.sqlite_catalog(market_server.data_dir).load_table("interop.from_ndjson").scan().to_arrow()
    got = sorted(read.select(["id", "name", "px", "flag"]).to_pylist(), key=lambda r: r["id"])
    assert got == records


def test_csv_with_whole_second_timestamps_imports(market_server, conn, tmp_path: Path):
    """CSV inference types `2025-03-03T09:00:00Z` as seconds, which Iceberg has no
    type for: the import stores microseconds."""
    path = tmp_path / "seconds.csv"
    path.write_text("commodity,ts,price\nWTI,2025-03-03T09:00:00Z,71.5\nWTI,2025-03-03T09:00:01Z,71.25\n")
    r = market_server.import_files("iceberg.interop.seconds", path)
    assert "imported 2 rows" in r.stderr, r.stderr
    read = helpers.sqlite_catalog(market_server.data_dir).load_table("interop.seconds").scan().to_arrow()
    # As for fractional-second CSV timestamps: UTC values, no zone in the type.
    assert str(read.schema.field("ts").type) == "timestamp[us]"
    assert [v.isoformat() for v in read.column("ts").to_pylist()] == [
        "2025-03-03T09:00:00", "2025-03-03T09:00:01"]


def test_contango_append_to_pyiceberg_table(market_server, conn, catalog, tmp_path: Path):
    """contango import appends to a table pyiceberg created; both readers see both writes."""
    first = batch(0, 20).select(["id", "commodity", "price", "day"])
    table = catalog.create_table("interop.shared", schema=first.schema)
    table.append(first)
    second = batch(500, 25).select(["id", "commodity", "price", "day"])
    path = tmp_path / "shared-more.parquet"
    pq.write_table(second, path)
    r = market_server.import_files("iceberg.interop.shared", path)
    assert "appended 25 rows" in r.stderr, r.stderr
    expected = helpers.rows(pa.concat_tables([first, second]))
    helpers.assert_rows_equal(helpers.rows(table.refresh().scan().to_arrow()), expected, what="pyiceberg after contango append")
    helpers.assert_rows_equal(helpers.rows(helpers.query(conn, "SELECT * FROM interop.shared")), expected, what="server after contango append")
    assert len(table.snapshots()) == 2


def test_pyiceberg_delete_and_overwrite_are_visible(conn, catalog):
    data = batch(0, 12).select(["id", "commodity", "price"])
    table = catalog.create_table("interop.rewrites", schema=data.schema)
    table.append(data)
    table.delete("id < 4")
    expected = helpers.rows(data.filter(pc.greater_equal(data["id"], 4)))
    helpers.assert_rows_equal(helpers.rows(helpers.query(conn, "SELECT * FROM interop.rewrites")), expected, what="after delete")
    replacement = batch(100, 3).select(["id", "commodity", "price"])
    table.overwrite(replacement)
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, "SELECT * FROM interop.rewrites")), helpers.rows(replacement), what="after overwrite"
    )


def test_pyiceberg_partitioned_table(conn, catalog):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import DayTransform, IdentityTransform
    from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "commodity", StringType(), required=False),
        NestedField(3, "ts", TimestamptzType(), required=False),
    )
    spec = PartitionSpec(
        PartitionField(2, 1000, IdentityTransform(), "commodity"), PartitionField(3, 1001, DayTransform(), "ts_day")
    )
    table = catalog.create_table("interop.partitioned", schema=schema, partition_spec=spec)
    data = batch(0, 60).select(["id", "commodity", "ts"])
    table.append(data)
    oracle = helpers.duck(p=data)
    for predicate in ["commodity = 'C1'", "commodity IS NULL", "ts >= TIMESTAMP '2024-01-02 00:00:00'", "commodity = 'C2' AND ts < TIMESTAMP '2024-01-02 12:00:00'"]:
        got = helpers.rows(helpers.query(conn, f"SELECT * FROM interop.partitioned WHERE {predicate}"))
        assert got == helpers.duck_rows(oracle, f"SELECT * FROM p WHERE {predicate}"), predicate


def test_pyiceberg_drop_and_rename_are_visible(conn, catalog):
    import adbc_driver_manager.dbapi as dbapi

    data = batch(0, 5).select(["id"])
    catalog.create_table("interop.to_drop", schema=data.schema).append(data)
    catalog.create_table("interop.to_rename", schema=data.schema).append(data)
    assert helpers.rows(helpers.query(conn, "SELECT count(*) FROM interop.to_drop")) == [(5,)]
    assert helpers.rows(helpers.query(conn, "SELECT count(*) FROM interop.to_rename")) == [(5,)]
    catalog.drop_table("interop.to_drop")
    catalog.rename_table("interop.to_rename", "interop.renamed")
    for gone in ("interop.to_drop", "interop.to_rename"):
        with pytest.raises(dbapi.Error) as e:
            helpers.query(conn, f"SELECT count(*) FROM {gone}")
        assert helpers.status_name(e.value) == "NOT_FOUND", str(e.value)
    assert helpers.rows(helpers.query(conn, "SELECT count(*) FROM interop.renamed")) == [(5,)]


def test_pyiceberg_added_column_is_visible_without_new_snapshot(conn, catalog):
    """Schema evolution is a metadata commit: the next query must use the current schema
    (old rows read the new optional column as NULL), as pyiceberg does."""
    from pyiceberg.types import StringType

    data = batch(0, 4).select(["id", "price"])
    table = catalog.create_table("interop.evolve_add", schema=data.schema)
    table.append(data)
    with table.update_schema() as update:
        update.add_column("note", StringType())
    expected_table = catalog.load_table("interop.evolve_add").scan().to_arrow()
    assert expected_table.column_names == ["id", "price", "note"]
    got = helpers.query(conn, "SELECT * FROM interop.evolve_add")
    assert got.column_names == ["id", "price", "note"]
    assert helpers.rows(got) == helpers.rows(expected_table)


def test_pyiceberg_renamed_column_is_visible(conn, catalog):
    """A column rename is metadata-only; data files are matched by field id."""
    data = batch(0, 4).select(["id", "price"])
    table = catalog.create_table("interop.evolve_rename", schema=data.schema)
    table.append(data)
    with table.update_schema() as update:
        update.rename_column("price", "px")
    expected_table = catalog.load_table("interop.evolve_rename").scan().to_arrow()
    got = helpers.query(conn, "SELECT id, px FROM interop.evolve_rename")
    assert got.column_names == ["id", "px"]
    assert helpers.rows(got) == helpers.rows(expected_table)
