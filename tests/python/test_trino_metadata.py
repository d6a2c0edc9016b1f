"""Trino-shaped metadata through the real clients: the SQLAlchemy trino dialect's
Inspector (exactly how Superset introspects a database), information_schema,
system.jdbc (Trino's JDBC driver), system.metadata.table_comments, SHOW COLUMNS,
DESCRIBE and SHOW CREATE TABLE. The oracle is pyiceberg's view of the same
catalog, with Iceberg → Trino types as Trino's Iceberg connector documents them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import trino
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from conftest import trino_connect

# Trino Iceberg connector: Iceberg type → Trino type.
ICEBERG_TO_TRINO = {
    BooleanType: "boolean",
    IntegerType: "integer",
    LongType: "bigint",
    FloatType: "real",
    DoubleType: "double",
    StringType: "varchar",
    DateType: "date",
    TimestampType: "timestamp(6)",
    TimestamptzType: "timestamp(6) with time zone",
}


def trino_type(t) -> str:
    if isinstance(t, DecimalType):
        return f"decimal({t.precision},{t.scale})"
    return ICEBERG_TO_TRINO[type(t)]


@pytest.fixture(scope="module")
def commented(trino_server, market_catalog, tmp_path_factory):
    """A small table with a table comment and a column doc set by pyiceberg."""
    csv = tmp_path_factory.mktemp("meta") / "rates.csv"
    csv.write_text("commodity,rate\nWTI,1.5\nBRENT,-2.25\n")
    trino_server.import_files("iceberg.meta.rates", csv)
    table = market_catalog.load_table("meta.rates")
    with table.transaction() as tx:
        tx.set_properties(comment="Funding rates, per day")
    with table.update_schema() as update:
        update.update_column("rate", doc="percent, can be negative")
    return market_catalog.load_table("meta.rates")


@pytest.fixture(scope="module")
def inspector(trino_server):
    host, port = trino_server.http_addr.split(":")
    engine = sa.create_engine(f"trino://analyst@{host}:{port}/iceberg/market")
    yield sa.inspect(engine)
    engine.dispose()


def test_inspector_lists_what_pyiceberg_sees(inspector, market_catalog, commented):
    namespaces = {".".join(n) for n in market_catalog.list_namespaces()}
    assert set(inspector.get_schema_names()) == namespaces | {"information_schema", "quality"}
    tables = sorted(t[-1] for t in market_catalog.list_tables("market"))
    assert sorted(inspector.get_table_names("market")) == tables
    assert inspector.get_view_names("market") == []
    assert inspector.has_table("ticks", "market")
    assert not inspector.has_table("no_such_table", "market")


def test_inspector_columns_match_pyiceberg_schema(inspector, market_catalog):
    schema = market_catalog.load_table("market.ticks").schema()
    columns = inspector.get_columns("ticks", "market")
    assert [c["name"] for c in columns] == [f.name for f in schema.fields]
    # The dialect parses our Trino type names into SQLAlchemy types.
    kinds = {
        "varchar": "VARCHAR",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "integer": "INTEGER",
        "date": "DATE",
        "timestamp(6) with time zone": "TIMESTAMP",
    }
    for c, f in zip(columns, schema.fields):
        expected = trino_type(f.field_type)
        assert type(c["type"]).__name__.upper() == kinds[expected], (c, expected)
        if expected.startswith("timestamp"):
            assert c["type"].timezone is True and c["type"].precision == 6
    assert [c["nullable"] for c in columns] == [not f.required for f in schema.fields]


def test_information_schema_columns_use_trino_type_names(trino_server, market_catalog, commented):
    cur = trino_connect(trino_server).cursor()
    cur.execute(
        "SELECT column_name, data_type, is_nullable, comment FROM information_schema.columns "
        "WHERE table_schema = 'meta' AND table_name = 'rates' ORDER BY ordinal_position"
    )
    got = cur.fetchall()
    want = [
        [f.name, trino_type(f.field_type), "NO" if f.required else "YES", f.doc]
        for f in commented.schema().fields
    ]
    assert got == want
    assert got[1][3] == "percent, can be negative"


def test_table_comment_and_indexes(inspector, commented):
    assert inspector.get_table_comment("rates", "meta") == {"text": "Funding rates, per day"}
    assert inspector.get_table_comment("ticks", "market") == {"text": None}
    # Superset reads partition columns through get_indexes ("$partitions").
    (index,) = inspector.get_indexes("ticks", "market")
    assert index["name"] == "partition"
    assert index["column_names"][0] == "partition"
    assert inspector.get_indexes("rates", "meta") == [
        {"name": "partition", "column_names": ["record_count", "file_count", "total_size"], "unique": False}
    ]


def test_version(trino_server):
    cur = trino_connect(trino_server).cursor()
    cur.execute("SELECT version()")
    assert cur.fetchall()[0][0].startswith("contango-")


def test_system_jdbc_as_the_jdbc_driver_queries_it(trino_server, market_catalog):
    cur = trino_connect(trino_server).cursor()
    cur.execute("SELECT table_cat FROM system.jdbc.catalogs ORDER BY table_cat")
    assert cur.fetchall() == [["iceberg"], ["system"]]
    cur.execute(
        "SELECT table_cat, table_schem, table_name, table_type FROM system.jdbc.tables "
        "WHERE table_cat = 'iceberg' AND table_schem = 'market' ORDER BY table_name"
    )
    tables = sorted(t[-1] for t in market_catalog.list_tables("market"))
    assert cur.fetchall() == [["iceberg", "market", t, "TABLE"] for t in tables]
    cur.execute(
        "SELECT column_name, data_type, type_name, ordinal_position, is_nullable FROM system.jdbc.columns "
        "WHERE table_cat = 'iceberg' AND table_schem = 'market' AND table_name = 'ticks' ORDER BY ordinal_position"
    )
    rows = cur.fetchall()
    schema = market_catalog.load_table("market.ticks").schema()
    # java.sql.Types codes (JDBC spec): VARCHAR 12, BIGINT -5, DOUBLE 8, TIMESTAMP_WITH_TIMEZONE 2014.
    jdbc = {"varchar": 12, "bigint": -5, "double": 8, "timestamp(6) with time zone": 2014, "integer": 4, "date": 91}
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (f.name, jdbc[trino_type(f.field_type)], trino_type(f.field_type), i + 1) for i, f in enumerate(schema.fields)
    ]
    cur.execute("SELECT table_type FROM system.jdbc.table_types ORDER BY 1")
    assert cur.fetchall() == [["TABLE"], ["VIEW"]]
    cur.execute("SELECT type_name, data_type FROM system.jdbc.types WHERE type_name IN ('bigint', 'varchar') ORDER BY 1")
    assert cur.fetchall() == [["bigint", -5], ["varchar", 12]]


def test_show_columns_describe_and_show_create_table(trino_server, commented):
    cur = trino_connect(trino_server).cursor()
    cur.execute("SHOW COLUMNS FROM iceberg.meta.rates")
    assert [d[0] for d in cur.description] == ["Column", "Type", "Extra", "Comment"]
    assert cur.fetchall() == [["commodity", "varchar", "", ""], ["rate", "double", "", "percent, can be negative"]]
    cur.execute("DESCRIBE meta.rates")
    assert [r[0] for r in cur.fetchall()] == ["commodity", "rate"]
    cur.execute("SHOW CREATE TABLE iceberg.meta.rates")
    (text,) = cur.fetchone()
    assert text.startswith("CREATE TABLE iceberg.meta.rates (\n   commodity varchar,\n   rate double COMMENT 'percent, can be negative'\n)")
    assert "COMMENT 'Funding rates, per day'" in text and "format = 'PARQUET'" in text
    cur.execute("SHOW CREATE TABLE ticks")
    (text,) = cur.fetchone()
    assert "partitioning = ARRAY['day(ts)','commodity']" in text
    for sql in ["DESCRIBE nope", "SHOW COLUMNS FROM iceberg.market.nope", "SHOW CREATE TABLE nope"]:
        with pytest.raises(trino.exceptions.TrinoUserError) as e:
            cur.execute(sql)
            cur.fetchall()
        assert e.value.error_name == "TABLE_NOT_FOUND", sql
    assert "does not exist" in e.value.message
