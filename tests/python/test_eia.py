"""Real EIA spot prices: `contango import` of the CSVs, queried over Flight SQL (ADBC),
compared with DuckDB running the same SQL on the same CSV files."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pytest

import helpers

SERIES = ["wti", "brent", "henry_hub"]


@pytest.fixture(scope="module")
def conn(eia_server):
    c = eia_server.connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def duck_csv(eia_csvs: dict[str, Path]):
    """DuckDB with views eia.<series> over the raw CSV files (explicit column types)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA eia")
    for series, path in eia_csvs.items():
        rel = con.read_csv(str(path), header=True, dtype={"Date": "DATE", "Price": "DOUBLE"})
        con.register(f"_{series}_csv", rel)
        con.execute(f'CREATE VIEW eia.{series} AS SELECT "Date", "Price" FROM _{series}_csv')
    return con


def csv_data_lines(path: Path) -> int:
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    assert lines[0] == "Date,Price"
    return len(lines) - 1


@pytest.mark.parametrize("series", SERIES)
def test_imported_schema_and_row_count(conn, eia_csvs, series):
    t = helpers.query(conn, f"SELECT * FROM iceberg.eia.{series} LIMIT 1")
    assert t.schema.names == ["Date", "Price"]
    assert t.schema.field("Date").type == pa.date32()
    assert t.schema.field("Price").type == pa.float64()
    n = helpers.query(conn, f"SELECT count(*) AS n FROM eia.{series}").column("n")[0].as_py()
    assert n == csv_data_lines(eia_csvs[series])


@pytest.mark.parametrize("series", SERIES)
def test_full_contents_equal_csv(conn, duck_csv, series):
    sql = f'SELECT "Date", "Price" FROM eia.{series} ORDER BY "Date"'
    got = helpers.rows(helpers.query(conn, sql), sort=False)
    expected = helpers.duck_rows(duck_csv, sql, sort=False)
    helpers.assert_rows_equal(got, expected, what=f"{series} contents")


@pytest.mark.parametrize("series", SERIES)
def test_yearly_stats_match_duckdb(conn, duck_csv, series):
    sql = (
        f"SELECT CAST(date_part('year', \"Date\") AS BIGINT) AS yr, "
        f'min("Price") AS lo, max("Price") AS hi, avg("Price") AS mean, count("Price") AS n, count(*) AS n_rows '
        f"FROM eia.{series} GROUP BY 1 ORDER BY 1"
    )
    got = helpers.rows(helpers.query(conn, sql), sort=False)
    expected = helpers.duck_rows(duck_csv, sql, sort=False)
    assert len(expected) >= 20, expected  # decades of daily data
    helpers.assert_rows_equal(got, expected, rel_tol=1e-9, what=f"{series} yearly stats")
    # min/max/count are exact, only the mean is allowed a relative tolerance.
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in got] == [(r[0], r[1], r[2], r[4], r[5]) for r in expected]


def test_yearly_stats_with_extract(conn, duck_csv):
    sql = 'SELECT extract(year FROM "Date") AS yr, count(*) AS n FROM eia.wti GROUP BY 1 ORDER BY 1'
    got = [(int(y), n) for y, n in helpers.rows(helpers.query(conn, sql), sort=False)]
    expected = [(int(y), n) for y, n in helpers.duck_rows(duck_csv, sql, sort=False)]
    assert got == expected


def test_negative_price_is_only_wti_2020_04_20(conn, duck_csv):
    sql = " UNION ALL ".join(
        f"SELECT '{s}' AS series, \"Date\", \"Price\" FROM eia.{s} WHERE \"Price\" < 0" for s in SERIES
    )
    got = helpers.rows(helpers.query(conn, sql))
    assert got == [("wti", datetime.date(2020, 4, 20), -36.98)]
    assert got == helpers.duck_rows(duck_csv, sql)


def test_brent_wti_spread_matches_duckdb(conn, duck_csv):
    sql = (
        'SELECT b."Date" AS d, b."Price" AS brent, w."Price" AS wti, b."Price" - w."Price" AS spread '
        'FROM eia.brent b JOIN eia.wti w ON b."Date" = w."Date" ORDER BY d'
    )
    got = helpers.rows(helpers.query(conn, sql), sort=False)
    expected = helpers.duck_rows(duck_csv, sql, sort=False)
    assert len(expected) > 9000
    helpers.assert_rows_equal(got, expected, what="Brent-WTI spread")
    # The day WTI went negative has the widest spread in the history.
    widest = max(got, key=lambda r: r[3])
    assert widest[0] == datetime.date(2020, 4, 20)
    assert widest[2] == -36.98


def test_henry_hub_has_one_null_on_2018_01_05(conn, duck_csv):
    sql = 'SELECT "Date" FROM eia.henry_hub WHERE "Price" IS NULL'
    got = helpers.rows(helpers.query(conn, sql))
    assert got == [(datetime.date(2018, 1, 5),)]
    assert got == helpers.duck_rows(duck_csv, sql)
    counts = helpers.rows(helpers.query(conn, 'SELECT count(*) - count("Price") AS nulls FROM eia.henry_hub'))
    assert counts == [(1,)]


def test_parameterized_date_range(conn, duck_csv):
    sql = 'SELECT "Date", "Price" FROM eia.wti WHERE "Date" BETWEEN ? AND ? ORDER BY "Date"'
    params = (datetime.date(2020, 4, 1), datetime.date(2020, 4, 30))
    got = helpers.rows(helpers.query(conn, sql, params), sort=False)
    expected = helpers.duck_rows(duck_csv, sql, list(params), sort=False)
    assert 15 <= len(expected) <= 23
    assert got == expected


@pytest.mark.parametrize(
    "predicate",
    [
        "\"Date\" >= '2020-04-01'",
        "\"Date\" BETWEEN DATE '2020-04-01' AND DATE '2020-04-30'",
        "\"Price\" > 100.5",
        "\"Price\" = -36.98",
        # A DATE column compared with a TIMESTAMP literal (valid SQL: the date is widened).
        "\"Date\" > TIMESTAMP '2020-04-20 12:00:00'",
    ],
)
def test_date_and_price_filters_match_duckdb(conn, duck_csv, predicate):
    sql = f'SELECT count(*) AS n, min("Date") AS first_day, sum("Price") AS s FROM eia.wti WHERE {predicate}'
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, sql)), helpers.duck_rows(duck_csv, sql), rel_tol=1e-12, what=predicate
    )


def test_get_objects_lists_eia_tables(conn):
    objects = conn.adbc_get_objects(depth="tables", catalog_filter="iceberg", db_schema_filter="eia").read_all().to_pylist()
    tables = sorted(t["table_name"] for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or [])
    assert tables == sorted(SERIES)
