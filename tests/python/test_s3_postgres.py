"""PostgreSQL catalog + S3 warehouse (s3s-fs): import, serve, read back with pyiceberg,
and failed imports that leave the table as it was."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import pytest

import helpers
from conftest import ContangoServer, contango_import, free_port, start_contango, stop_process, write_config

IMPORT_TIMEOUT_S = 120


@dataclass
class Lakehouse:
    server: ContangoServer
    config: Path
    warehouse: str
    catalog_uri: str
    source_url: str  # the WTI CSV as an s3:// object


@pytest.fixture(scope="module")
def lakehouse(contango_bin, postgres, s3, eia_csvs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s3pg")
    data_dir = tmp / "data"
    data_dir.mkdir()
    warehouse = f"s3://{s3.bucket}/wh"
    config = write_config(tmp / "s3pg.toml", catalog_uri=postgres.url, warehouse=warehouse, s3=s3.contango_settings())
    source_url = s3.put_file(eia_csvs["wti"], "incoming/wti-daily.csv")

    # One table from an s3:// source, one from a local file; both land in the S3 warehouse.
    r = contango_import(contango_bin, config, data_dir, "iceberg.eia.wti", source_url)
    assert "created table and imported" in r.stderr, r.stderr
    r = contango_import(contango_bin, config, data_dir, "iceberg.eia.brent", eia_csvs["brent"])
    assert "created table and imported" in r.stderr, r.stderr

    running = start_contango(contango_bin, data_dir, config, tmp)
    try:
        yield Lakehouse(running, config, warehouse, postgres.url, source_url)
    finally:
        stop_process(running.proc)


@pytest.fixture(scope="module")
def conn(lakehouse):
    c = lakehouse.server.connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def duck_csv(eia_csvs):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE SCHEMA eia")
    for series in ("wti", "brent"):
        rel = con.read_csv(str(eia_csvs[series]), header=True, dtype={"Date": "DATE", "Price": "DOUBLE"})
        con.register(f"_{series}", rel)
        con.execute(f'CREATE VIEW eia.{series} AS SELECT "Date", "Price" FROM _{series}')
    return con


def pg_catalog(postgres, s3):
    from pyiceberg.catalog import load_catalog

    return load_catalog(
        "iceberg",
        type="sql",
        uri=postgres.sqlalchemy_url,
        warehouse=f"s3://{s3.bucket}/wh",
        **s3.pyiceberg_properties(),
    )


def table_state(conn) -> list[tuple]:
    return helpers.rows(helpers.query(conn, 'SELECT count(*) AS n, sum("Price") AS s, min("Date") AS lo, max("Date") AS hi FROM eia.wti'))


def test_warehouse_files_are_in_s3(lakehouse, s3):
    fs = s3.filesystem()
    files = [f.path for f in fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/wh", recursive=True)) if f.type == pafs.FileType.File]
    for series in ("wti", "brent"):
        assert any(p.startswith(f"{s3.bucket}/wh/eia/{series}/data/") and p.endswith(".parquet") for p in files), files
        assert any(p.startswith(f"{s3.bucket}/wh/eia/{series}/metadata/") and p.endswith(".metadata.json") for p in files), files
    assert not (lakehouse.server.data_dir / "warehouse").exists()
    assert not (lakehouse.server.data_dir / "catalog.db").exists()


def test_catalog_rows_are_in_postgres(lakehouse, postgres):
    import psycopg2

    with psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.user, dbname=postgres.database) as c:
        with c.cursor() as cur:
            cur.execute("SELECT table_namespace, table_name, metadata_location FROM iceberg_tables WHERE catalog_name = 'iceberg' ORDER BY 1, 2")
            rows = cur.fetchall()
    assert [(ns, t) for ns, t, _ in rows] == [("eia", "brent"), ("eia", "wti")]
    assert all(loc.startswith(lakehouse.warehouse + "/") for _, _, loc in rows), rows


@pytest.mark.parametrize("series", ["wti", "brent"])
def test_query_matches_duckdb_over_csv(conn, duck_csv, series):
    sql = f'SELECT "Date", "Price" FROM eia.{series} ORDER BY "Date"'
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, sql), sort=False), helpers.duck_rows(duck_csv, sql, sort=False), what=series
    )
    sql = (
        f"SELECT CAST(date_part('year', \"Date\") AS BIGINT) AS yr, min(\"Price\") AS lo, max(\"Price\") AS hi, "
        f'avg("Price") AS mean, count(*) AS n FROM eia.{series} GROUP BY 1 ORDER BY 1'
    )
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, sql), sort=False),
        helpers.duck_rows(duck_csv, sql, sort=False),
        rel_tol=1e-9,
        what=f"{series} yearly",
    )


def test_pyiceberg_reads_same_rows(lakehouse, postgres, s3, duck_csv):
    cat = pg_catalog(postgres, s3)
    assert ("eia",) in cat.list_namespaces()
    for series in ("wti", "brent"):
        read = cat.load_table(f"eia.{series}").scan().to_arrow()
        expected = helpers.duck_rows(duck_csv, f'SELECT "Date", "Price" FROM eia.{series}')
        helpers.assert_rows_equal(helpers.rows(read), expected, what=f"pyiceberg {series}")


def _failed_import(lakehouse, tmp_path: Path, name: str, s3_overrides: dict, s3, source: str):
    settings = {**s3.contango_settings(), **s3_overrides}
    bad_config = write_config(tmp_path / f"{name}.toml", catalog_uri=lakehouse.catalog_uri, warehouse=lakehouse.warehouse, s3=settings)
    started = time.monotonic()
    r = lakehouse.server.import_files("iceberg.eia.wti", source, config=bad_config, check=False, timeout=IMPORT_TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert r.returncode != 0, f"import with {name} succeeded:\n{r.stderr}"
    assert elapsed < IMPORT_TIMEOUT_S
    return r


def test_import_with_wrong_secret_fails_and_changes_nothing(lakehouse, conn, postgres, s3, eia_csvs, tmp_path):
    before = table_state(conn)
    snapshot_before = pg_catalog(postgres, s3).load_table("eia.wti").current_snapshot().snapshot_id
    for source in (str(eia_csvs["wti"]), lakehouse.source_url):
        r = _failed_import(lakehouse, tmp_path, "wrong-secret", {"secret_access_key": "definitely-wrong"}, s3, source)
        err = r.stderr
        assert "error:" in err, err
        assert any(s in err for s in ("403", "SignatureDoesNotMatch", "privileges", "Forbidden", "credentials")), err
    assert table_state(conn) == before
    assert pg_catalog(postgres, s3).load_table("eia.wti").current_snapshot().snapshot_id == snapshot_before


def test_import_to_unreachable_endpoint_fails_and_changes_nothing(lakehouse, conn, postgres, s3, eia_csvs, tmp_path):
    before = table_state(conn)
    snapshot_before = pg_catalog(postgres, s3).load_table("eia.wti").current_snapshot().snapshot_id
    closed_port = free_port()  # nothing listens there
    r = _failed_import(
        lakehouse, tmp_path, "closed-port", {"endpoint": f"http://127.0.0.1:{closed_port}"}, s3, str(eia_csvs["wti"])
    )
    err = r.stderr
    assert "error:" in err, err
    assert f"127.0.0.1:{closed_port}" in err or "error sending request" in err or "connect" in err.lower(), err
    assert table_state(conn) == before
    assert pg_catalog(postgres, s3).load_table("eia.wti").current_snapshot().snapshot_id == snapshot_before


def test_failed_create_leaves_no_table(lakehouse, conn, s3, eia_csvs, tmp_path, postgres):
    r = _failed_import(
        lakehouse, tmp_path, "wrong-secret-new", {"secret_access_key": "definitely-wrong"}, s3, str(eia_csvs["henry_hub"])
    )
    assert "error:" in r.stderr
    import adbc_driver_manager.dbapi as dbapi

    with pytest.raises(dbapi.Error) as e:
        helpers.query(conn, "SELECT count(*) FROM eia.henry_hub")
    assert helpers.status_name(e.value) == "NOT_FOUND", str(e.value)
    assert "henry_hub" not in {t for _, t in pg_catalog(postgres, s3).list_tables("eia")}


def test_import_from_missing_s3_object_fails(lakehouse, conn, s3):
    before = table_state(conn)
    r = lakehouse.server.import_files(
        "iceberg.eia.wti", f"s3://{s3.bucket}/incoming/no-such-file.csv", check=False, timeout=IMPORT_TIMEOUT_S
    )
    assert r.returncode != 0, r.stderr
    assert "no-such-file.csv" in r.stderr, r.stderr
    assert table_state(conn) == before


def test_server_keeps_serving_after_failed_imports(conn, duck_csv):
    sql = 'SELECT count(*) AS n, max("Price") AS hi FROM eia.wti'
    assert helpers.rows(helpers.query(conn, sql)) == helpers.duck_rows(duck_csv, sql)


def test_import_while_serving_is_visible(lakehouse, conn, s3, eia_csvs, duck_csv):
    """A table imported (from an s3:// object) while the server runs is queryable at once."""
    url = s3.put_file(eia_csvs["brent"], "incoming/brent-again.csv")
    r = lakehouse.server.import_files("iceberg.eia_live.brent", url)
    assert "created table and imported" in r.stderr, r.stderr
    sql = 'SELECT "Date", "Price" FROM {t} ORDER BY "Date"'
    helpers.assert_rows_equal(
        helpers.rows(helpers.query(conn, sql.format(t="iceberg.eia_live.brent")), sort=False),
        helpers.duck_rows(duck_csv, sql.format(t="eia.brent"), sort=False),
        what="eia_live.brent",
    )
