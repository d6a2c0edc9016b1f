"""ADBC Flight SQL (the Go driver through adbc_driver_flightsql.dbapi) against the market server.

The oracle is pyiceberg reading the same Iceberg tables, queried with DuckDB.
"""

from __future__ import annotations

import adbc_driver_manager.dbapi as dbapi
import pyarrow as pa
import pytest

import helpers


@pytest.fixture(scope="module")
def oracle(market_catalog):
    ticks = market_catalog.load_table("market.ticks").scan().to_arrow()
    defects = market_catalog.load_table("market.defects").scan().to_arrow()
    assert ticks.num_rows >= 20_000, ticks.num_rows  # --rows 20000 plus injected defects
    return helpers.duck(ticks=ticks, defects=defects)


def test_connect_and_trivial_query(conn):
    t = helpers.query(conn, "SELECT 1 AS one, 'x' AS s")
    assert t.column_names == ["one", "s"]
    assert helpers.rows(t) == [(1, "x")]


def test_get_info_names_contango(conn):
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Contango"


def test_get_objects_lists_catalog_schema_tables_columns(conn, market_catalog):
    objects = conn.adbc_get_objects().read_all().to_pylist()
    catalogs = {c["catalog_name"]: c for c in objects}
    assert "iceberg" in catalogs, list(catalogs)
    schemas = {s["db_schema_name"]: s for s in catalogs["iceberg"]["catalog_db_schemas"]}
    assert "market" in schemas, list(schemas)
    tables = {t["table_name"]: t for t in schemas["market"]["db_schema_tables"]}
    for name in ("ticks", "defects"):
        assert name in tables, list(tables)
        assert tables[name]["table_type"] == "TABLE"
        columns = [c["column_name"] for c in sorted(tables[name]["table_columns"], key=lambda c: c["ordinal_position"])]
        expected = [f.name for f in market_catalog.load_table(f"market.{name}").schema().fields]
        assert columns == expected
    assert [c["column_name"] for c in tables["ticks"]["table_columns"]] == ["commodity", "ts", "price", "volume", "source"]


def test_get_objects_filters(conn):
    objects = conn.adbc_get_objects(depth="tables", catalog_filter="iceberg", db_schema_filter="market", table_name_filter="tick%").read_all().to_pylist()
    names = [(c["catalog_name"], s["db_schema_name"], t["table_name"]) for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []]
    assert names == [("iceberg", "market", "ticks")]


def test_get_table_schema_matches_query_schema(conn):
    schema = conn.adbc_get_table_schema("ticks", catalog_filter="iceberg", db_schema_filter="market")
    result = helpers.query(conn, "SELECT * FROM iceberg.market.ticks LIMIT 1").schema
    assert schema.names == result.names == ["commodity", "ts", "price", "volume", "source"]
    assert [f.type for f in schema] == [f.type for f in result]
    assert pa.types.is_timestamp(schema.field("ts").type) and schema.field("ts").type.unit == "us"
    assert schema.field("ts").type.tz in ("UTC", "+00:00")
    assert schema.field("price").type == pa.float64()
    assert schema.field("volume").type == pa.int64()


def test_parameterized_query_matches_duckdb(conn, oracle):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT commodity, ts, price, volume, source FROM ticks WHERE commodity = ? AND price > ?",
            ("WTI", 0),
        )
        got = cur.fetch_arrow_table()
    expected = helpers.duck_rows(
        oracle, "SELECT commodity, ts, price, volume, source FROM ticks WHERE commodity = ? AND price > ?", ["WTI", 0]
    )
    assert len(expected) > 100  # the synthetic market has WTI ticks
    helpers.assert_rows_equal(helpers.rows(got), expected, what="WTI ticks with price > 0")


def test_dollar_placeholders_and_reuse(conn, oracle):
    sql = "SELECT count(*) AS n, sum(volume) AS v FROM market.ticks WHERE commodity = $1 AND price > $2"
    with conn.cursor() as cur:
        for commodity, floor in [("BRENT", 0), ("WTI", 70.5), ("NO_SUCH", 0)]:
            cur.execute(sql, (commodity, floor))
            got = helpers.rows(cur.fetch_arrow_table())
            expected = helpers.duck_rows(
                oracle, "SELECT count(*) AS n, sum(volume) AS v FROM ticks WHERE commodity = ? AND price > ?", [commodity, floor]
            )
            assert got == expected, (commodity, floor)


def test_aggregate_per_commodity_matches_duckdb(conn, oracle):
    sql = (
        "SELECT commodity, count(*) AS n, count(price) AS n_price, min(price) AS lo, max(price) AS hi, "
        "sum(volume) AS vol, min(ts) AS first_ts, max(ts) AS last_ts FROM {t} GROUP BY commodity"
    )
    got = helpers.rows(helpers.query(conn, sql.format(t="iceberg.market.ticks")))
    expected = helpers.duck_rows(oracle, sql.format(t="ticks"))
    assert len(expected) >= 10
    helpers.assert_rows_equal(got, expected, what="per-commodity aggregates")
    avg_sql = "SELECT commodity, avg(price) AS a FROM {t} GROUP BY commodity"
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, avg_sql.format(t="ticks"))),
        helpers.duck_rows(oracle, avg_sql.format(t="ticks")),
        rel_tol=1e-9,
        what="avg price",
    )


def test_defects_are_visible(conn, oracle):
    """Negative and null prices and far-future timestamps come back as stored."""
    checks = [
        "SELECT commodity, ts, price FROM {t} WHERE price < 0",
        "SELECT commodity, ts, source FROM {t} WHERE price IS NULL",
        "SELECT commodity, ts FROM {t} WHERE ts > TIMESTAMP '2100-01-01 00:00:00'",
    ]
    for sql in checks:
        got = helpers.rows(helpers.query(conn, sql.format(t="ticks")))
        expected = helpers.duck_rows(oracle, sql.format(t="ticks"))
        assert got, f"the demo market should contain rows for: {sql}"
        assert got == expected, sql


def test_full_table_scan_matches_pyiceberg(conn, oracle):
    got = helpers.rows(helpers.query(conn, "SELECT * FROM market.defects"))
    expected = helpers.duck_rows(oracle, "SELECT * FROM defects")
    assert got == expected
    n = helpers.query(conn, "SELECT count(*) AS n FROM ticks").column("n")[0].as_py()
    assert n == helpers.duck_rows(oracle, "SELECT count(*) FROM ticks")[0][0]


def test_wrong_password_is_unauthenticated(market_server):
    with pytest.raises(dbapi.Error) as e:
        c = helpers.adbc_connect(market_server.flight_uri, market_server.user, "not-the-password")
        try:
            helpers.query(c, "SELECT 1")
        finally:
            c.close()
    msg = str(e.value).lower()
    assert "unauthenticated" in msg or "authentication" in msg, str(e.value)
    assert helpers.status_name(e.value) == "UNAUTHENTICATED", str(e.value)


def test_unknown_user_is_unauthenticated(market_server):
    with pytest.raises(dbapi.Error) as e:
        c = helpers.adbc_connect(market_server.flight_uri, "mallory", market_server.password)
        try:
            helpers.query(c, "SELECT 1")
        finally:
            c.close()
    assert helpers.status_name(e.value) == "UNAUTHENTICATED", str(e.value)


def test_no_credentials_is_unauthenticated(market_server):
    with pytest.raises(dbapi.Error) as e:
        c = helpers.adbc_connect(market_server.flight_uri, None, None)
        try:
            helpers.query(c, "SELECT 1")
        finally:
            c.close()
    assert helpers.status_name(e.value) == "UNAUTHENTICATED", str(e.value)


def test_unknown_table_raises_and_connection_survives(conn, oracle):
    with pytest.raises(dbapi.Error) as e:
        helpers.query(conn, "SELECT * FROM market.no_such_table")
    assert helpers.status_name(e.value) == "NOT_FOUND", str(e.value)
    assert "no_such_table" in str(e.value)
    # The same connection still answers correctly.
    got = helpers.rows(helpers.query(conn, "SELECT count(*) FROM ticks WHERE commodity = 'BRENT'"))
    assert got == helpers.duck_rows(oracle, "SELECT count(*) FROM ticks WHERE commodity = 'BRENT'")


# --- filters: results must equal DuckDB's over the same rows --------------- #

# (Contango SQL predicate, oracle predicate for DuckDB or None when it is the same SQL)
PREDICATES = [
    ("volume > 10", None),
    ("price > 70.5", None),
    ("price BETWEEN 50 AND 60", None),
    ("commodity IN ('WTI', 'BRENT')", None),
    ("commodity NOT IN ('WTI', 'BRENT')", None),
    ("commodity LIKE 'W%'", None),
    ("NOT (price > 50)", None),
    ("price IS NULL", None),
    ("volume IN (1, 2, 3)", None),
    ("ts >= TIMESTAMP '2025-01-06 12:00:00'", None),
    ("CAST(volume AS VARCHAR) = '10'", None),
    # A fractional literal against a BIGINT column, and casts of the column:
    # valid SQL with well-defined answers.
    ("volume >= 10.5", None),
    ("volume BETWEEN 1.5 AND 3.5", None),
    ("CAST(volume AS DOUBLE) > 10.5", None),
    ("CAST(price AS BIGINT) = 71", "price >= 70.5 AND price < 71.5"),  # Trino rounds half away from zero
]


@pytest.mark.parametrize("predicate,oracle_predicate", PREDICATES, ids=[p for p, _ in PREDICATES])
def test_filter_matches_duckdb(conn, oracle, predicate, oracle_predicate):
    got = helpers.rows(helpers.query(conn, f"SELECT count(*) AS n, sum(volume) AS v FROM ticks WHERE {predicate}"))
    expected = helpers.duck_rows(oracle, f"SELECT count(*) AS n, sum(volume) AS v FROM ticks WHERE {oracle_predicate or predicate}")
    assert got == expected


# --- parameters ----------------------------------------------------------- #


def test_question_mark_inside_literal_is_not_a_parameter(conn, oracle):
    got = helpers.rows(helpers.query(conn, "SELECT '?' AS q, count(*) AS n FROM ticks WHERE commodity = ?", ("WTI",)))
    expected = helpers.duck_rows(oracle, "SELECT '?' AS q, count(*) AS n FROM ticks WHERE commodity = 'WTI'")
    assert got == expected


def test_out_of_order_dollar_parameters(conn):
    assert helpers.rows(helpers.query(conn, "SELECT $2 AS a, $1 AS b", ("x", 1.5))) == [(1.5, "x")]


def test_null_parameter_follows_sql_null_semantics(conn):
    assert helpers.rows(helpers.query(conn, "SELECT count(*) FROM ticks WHERE price > ?", (None,))) == [(0,)]


def test_timestamp_parameter(conn, oracle):
    import datetime

    cutoff = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    got = helpers.rows(helpers.query(conn, "SELECT commodity, ts FROM ticks WHERE ts > ?", (cutoff,)))
    expected = helpers.duck_rows(oracle, "SELECT commodity, ts FROM ticks WHERE ts > ?", [cutoff])
    assert got and got == expected


def test_same_placeholder_used_twice(conn, oracle):
    """`$1` may appear more than once, e.g. compared with two string columns."""
    got = helpers.rows(helpers.query(conn, "SELECT count(*) FROM ticks WHERE commodity = $1 OR source = $1", ("ICE",)))
    expected = helpers.duck_rows(oracle, "SELECT count(*) FROM ticks WHERE commodity = ? OR source = ?", ["ICE", "ICE"])
    assert expected[0][0] > 0
    assert got == expected


@pytest.mark.parametrize("op", [">=", "="])
def test_fractional_parameter_against_integer_column(conn, oracle, op):
    """A bound 10.5 must compare as 10.5, not be truncated to 10 (silently wrong rows)."""
    got = helpers.rows(helpers.query(conn, f"SELECT count(*) FROM ticks WHERE volume {op} ?", (10.5,)))
    expected = helpers.duck_rows(oracle, f"SELECT count(*) FROM ticks WHERE volume {op} 10.5")
    assert got == expected


# --- concurrency ------------------------------------------------------------ #


def test_concurrent_connections_get_correct_results(market_server, oracle):
    from concurrent.futures import ThreadPoolExecutor

    queries = [
        ("SELECT commodity, count(*) AS n FROM ticks GROUP BY commodity", None),
        ("SELECT source, max(price) AS hi FROM ticks WHERE price > ? GROUP BY source", (10,)),
        ("SELECT commodity, ts, price FROM ticks WHERE commodity = ?", ("COPPER",)),
        ("SELECT defect, count(*) AS n FROM defects GROUP BY defect", None),
    ]
    expected = {}
    for sql, params in queries:
        expected[sql] = helpers.duck_rows(oracle, sql, list(params) if params else None)

    def worker(i: int):
        c = market_server.connect()
        try:
            out = []
            for round_ in range(3):
                sql, params = queries[(i + round_) % len(queries)]
                out.append((sql, helpers.rows(helpers.query(c, sql, params))))
            return out
        finally:
            c.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [r for rs in pool.map(worker, range(4)) for r in rs]
    assert len(results) == 12
    for sql, got in results:
        assert got == expected[sql], sql
