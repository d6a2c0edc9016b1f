"""The Iceberg REST catalog against a real REST catalog server (issue 22,
deliverable 10): rustberg, installed by the test command, with an API key
(sent as Iceberg clients send credentials, `Authorization: Bearer`), a redb
catalog file and a local-filesystem warehouse.

Contango imports into and reads through the REST catalog; pyiceberg, talking
to the same server, is the independent oracle in both directions (it reads
what Contango committed, Contango reads what it committed), DuckDB over the
source CSV the oracle for values. Then the catalog goes away: `SELECT 1`
still answers at once, statements that need the catalog fail clearly with
Trino's ICEBERG_CATALOG_ERROR, and once the server is back the same queries
answer without restarting Contango. A wrong key is refused with a message
that says so, never GENERIC_INTERNAL_ERROR.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from pathlib import Path

import pytest

import helpers
from conftest import (
    PASSWORD,
    USER,
    _required_path,
    child_env,
    contango_import,
    free_port,
    wait_for,
)
from test_faults import (  # noqa: F401 - `expected` is a fixture
    SUMMARY,
    Restartable,
    answers_within,
    clear_failure,
    expected,
    serve_wti,
    summary,
    trino_error_name,
)

# rustberg's API keys: `rb_` and base64url material.
KEY = "rb_" + secrets.token_urlsafe(32)
NO_COMMIT_KEY = "rb_" + secrets.token_urlsafe(32)


class RestCatalog:
    def __init__(self, uri: str, warehouse: Path, process: Restartable):
        self.uri, self.warehouse, self.process = uri, warehouse, process

    def pyiceberg(self, token: str = KEY):
        from pyiceberg.catalog import load_catalog

        return load_catalog("rest", type="rest", uri=self.uri, token=token, warehouse=f"file://{self.warehouse}")


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def rest_catalog(tmp_path_factory):
    bin = _required_path("RUSTBERG_BIN", "the rustberg Iceberg REST catalog server")
    root = tmp_path_factory.mktemp("rest-catalog")
    warehouse = root / "warehouse"
    warehouse.mkdir()
    # The built-in policy for administrators, and a role that may create,
    # read and drop but not commit (Cedar's `Update`).
    policies = root / "policies.cedar"
    policies.write_text(
        'permit(principal in Rustberg::Group::"admin", action, resource)\n'
        "  when { resource.tenant == principal.tenant };\n"
        'permit(principal in Rustberg::Group::"nocommit", action in [Rustberg::Action::"Read", '
        'Rustberg::Action::"List", Rustberg::Action::"Create", Rustberg::Action::"Delete"], resource)\n'
        "  when { resource.tenant == principal.tenant };\n"
    )
    config = root / "rustberg.toml"
    config.write_text(
        f"[server.auth]\npolicy_file = {json.dumps(str(policies))}\n"
        "[[server.auth.api_keys]]\n"
        'name = "contango"\ntenant = "default"\nroles = ["admin"]\nkey_env = "RUSTBERG_KEY_CONTANGO"\n'
        "[[server.auth.api_keys]]\n"
        'name = "nocommit"\ntenant = "default"\nroles = ["nocommit"]\nkey_env = "RUSTBERG_KEY_NOCOMMIT"\n'
    )
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    process = Restartable(
        [str(bin), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--warehouse", f"file://{warehouse}", "--catalog-url", f"file://{root / 'catalog'}",
         "--insecure-http"],
        port, root / "rustberg.log",
        lambda: _get(f"{uri}/v1/config", KEY) == 200,
        {"env": child_env({"RUSTBERG_KEY_CONTANGO": KEY, "RUSTBERG_KEY_NOCOMMIT": NO_COMMIT_KEY, "RUST_LOG": "warn"})},
    )
    process.start()
    try:
        yield RestCatalog(uri, warehouse, process)
    finally:
        process.stop()


def rest_config(path: Path, catalog: RestCatalog, token: str = KEY) -> Path:
    path.write_text(
        "[auth]\nenabled = true\ninsecure_basic = \"loopback\"\n[auth.users]\n"
        f"{USER} = {json.dumps(PASSWORD)}\n"
        "[catalog]\ntype = \"rest\"\n"
        f"uri = {json.dumps(catalog.uri)}\nwarehouse = {json.dumps(str(catalog.warehouse))}\n"
        f"token = {json.dumps(token)}\n"
    )
    return path


@pytest.fixture(scope="module")
def served(contango_bin, rest_catalog, eia_csvs, tmp_path_factory):
    """WTI imported through the REST catalog, and a server reading it."""
    tmp = tmp_path_factory.mktemp("rest-served")
    yield from serve_wti(contango_bin, rest_config(tmp / "rest.toml", rest_catalog), tmp, eia_csvs)


def test_import_and_query_through_the_rest_catalog(served, rest_catalog, expected):
    assert summary(served) == expected
    # The 2020-04-20 settlement, through the Trino endpoint too.
    assert trino_error_name(served, SUMMARY) is None
    with served.connect() as conn:
        rows = helpers.query(conn, "SELECT \"Price\" FROM eia.wti WHERE \"Date\" = DATE '2020-04-20'").to_pylist()
    assert rows == [{"Price": -36.98}]
    # pyiceberg, through the same server, reads what Contango committed.
    table = rest_catalog.pyiceberg().load_table("eia.wti")
    arrow = table.scan().to_arrow()
    con = helpers.duck(t=arrow)
    assert con.execute('SELECT count(*), round(sum("Price"), 4), min("Price") FROM t').fetchone() == expected
    assert len(table.snapshots()) == 1


def test_contango_reads_what_pyiceberg_commits(served, rest_catalog):
    import pyarrow as pa

    catalog = rest_catalog.pyiceberg()
    catalog.create_namespace_if_not_exists("desk")
    rows = pa.table({
        "sym": pa.array(["CL", "NG", "CL"], pa.string()),
        "px": pa.array([-36.98, 1.79, 12.34], pa.float64()),
    })
    table = catalog.create_table("desk.marks", schema=rows.schema)
    table.append(rows)

    def listed():
        with served.connect() as conn:
            return helpers.query(conn, "SELECT sym, sum(px) AS px FROM desk.marks GROUP BY sym ORDER BY sym").to_pylist()

    # A table created by another client appears without restarting Contango.
    wait_for(lambda: listed() == [{"sym": "CL", "px": pytest.approx(-24.64)}, {"sym": "NG", "px": 1.79}], 30,
             "Contango reads the table pyiceberg created")
    table.append(pa.table({"sym": pa.array(["NG"]), "px": pa.array([2.0])}))
    wait_for(lambda: listed()[1] == {"sym": "NG", "px": pytest.approx(3.79)}, 30,
             "Contango reads pyiceberg's next snapshot")


def test_rest_catalog_unreachable(served, rest_catalog, expected):
    assert summary(served) == expected
    rest_catalog.process.stop()
    try:
        outcome = clear_failure(served, "SHOW TABLES FROM eia")
        if outcome != "answered":
            assert "catalog" in outcome.lower(), outcome
        answers_within(served, 2.0)
        # A statement that needs the catalog: Trino's Iceberg connector name.
        assert trino_error_name(served, SUMMARY + " WHERE \"Price\" > -1000") == "ICEBERG_CATALOG_ERROR"
        answers_within(served, 2.0)
    finally:
        rest_catalog.process.start()
    wait_for(lambda: summary(served) == expected, 60, "queries answer again once the catalog is back")


def test_wrong_key_is_a_clear_error(contango_bin, rest_catalog, served, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = rest_config(tmp_path / "wrong.toml", rest_catalog, token="rb_" + secrets.token_urlsafe(32))
    small = tmp_path / "small.csv"
    small.write_text("ts,price\n2020-04-20 00:00:00,-36.98\n")
    started = time.monotonic()
    r = contango_import(contango_bin, config, data_dir, "iceberg.eia.other", small, check=False)
    assert r.returncode != 0
    assert time.monotonic() - started < 60
    message = r.stderr.lower()
    assert "panicked" not in message
    assert "catalog" in message and ("401" in message or "unauthorized" in message or "credentials" in message), r.stderr
    # Nothing was created with the wrong key.
    assert "other" not in [t[1] for t in rest_catalog.pyiceberg().list_tables("eia")]


def test_import_refused_at_commit_leaves_nothing(contango_bin, rest_catalog, served, eia_csvs, tmp_path):
    """The catalog refuses the commit (a key that may create tables but not
    commit to them): the import fails clearly, the data files it wrote are
    deleted and the table it created is dropped (issue 22, deliverable 6)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = rest_config(tmp_path / "nocommit.toml", rest_catalog, token=NO_COMMIT_KEY)
    r = contango_import(contango_bin, config, data_dir, "iceberg.eia.refused", eia_csvs["wti"], check=False)
    assert r.returncode != 0, r.stderr
    assert "panicked" not in r.stderr, r.stderr
    assert any(w in r.stderr.lower() for w in ("403", "forbidden", "not permitted")), r.stderr
    assert "refused" not in [t[1] for t in rest_catalog.pyiceberg().list_tables("eia")]
    left = [p for p in rest_catalog.warehouse.rglob("*") if p.is_file() and "refused" in str(p)]
    assert left == [], left
    # The same import with a key that may commit lands, and reads as the CSV.
    ok = rest_config(tmp_path / "ok.toml", rest_catalog)
    r = contango_import(contango_bin, ok, data_dir, "iceberg.eia.refused", eia_csvs["wti"])
    assert "imported" in r.stderr, r.stderr
    assert len(rest_catalog.pyiceberg().load_table("eia.refused").scan().to_arrow()) == \
        len(rest_catalog.pyiceberg().load_table("eia.wti").scan().to_arrow())
