"""Bad SQL, bad parameters, refused statements and bad imports against the market server:
each fails with an error that names the problem, and nothing is harmed."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import adbc_driver_manager.dbapi as dbapi
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import helpers

BASELINE_SQL = (
    "SELECT commodity, count(*) AS n, count(price) AS n_price, min(price) AS lo, max(price) AS hi, sum(volume) AS vol "
    "FROM {t} GROUP BY commodity"
)


@pytest.fixture(scope="module")
def oracle(market_catalog):
    return helpers.duck(ticks=market_catalog.load_table("market.ticks").scan().to_arrow())


@pytest.fixture(scope="module")
def baseline(conn, oracle):
    got = helpers.rows(helpers.query(conn, BASELINE_SQL.format(t="ticks")))
    assert got == helpers.duck_rows(oracle, BASELINE_SQL.format(t="ticks"))
    return got


def copy_target(tmp: Path) -> Path:
    return tmp / "contango-should-not-exist.csv"


# (id, sql, params, ADBC status, substrings the message must contain)
def bad_statements(tmp: Path):
    target = copy_target(tmp)
    return [
        ("unknown-table", "SELECT * FROM market.no_such_table", None, "NOT_FOUND", ["no_such_table", "not found"]),
        ("unknown-schema", "SELECT * FROM nowhere.ticks", None, "NOT_FOUND", ["nowhere"]),
        ("unknown-column", "SELECT no_such_column FROM ticks", None, "INVALID_ARGUMENT", ["no_such_column"]),
        ("syntax-error", "SELEC commodity FROM ticks", None, "INVALID_ARGUMENT", ["SELEC"]),
        ("unknown-function", "SELECT no_such_fn(price) FROM ticks", None, "INVALID_ARGUMENT", ["no_such_fn"]),
        ("too-many-params", "SELECT * FROM ticks WHERE price > ?", (1.0, 2.0), "INVALID_ARGUMENT", ["1 parameter", "2 value"]),
        ("too-few-params", "SELECT * FROM ticks WHERE commodity = ? AND price > ?", ("WTI",), "INVALID_ARGUMENT", ["2 parameter", "1 value"]),
        ("wrong-param-type", "SELECT * FROM ticks WHERE price > ?", ("abc",), "INVALID_ARGUMENT", ["$1", "abc"]),
        ("wrong-param-type-int", "SELECT * FROM ticks WHERE volume > $1", ("lots",), "INVALID_ARGUMENT", ["$1", "lots"]),
        ("external-table", "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", None, "UNAUTHORIZED", ["CREATE EXTERNAL TABLE", "/etc/passwd"]),
        ("copy-to", f"COPY (SELECT 1) TO '{target}'", None, "UNAUTHORIZED", ["COPY"]),
        ("copy-to-stored-as", f"COPY (SELECT * FROM ticks) TO '{target}' STORED AS CSV", None, "UNAUTHORIZED", ["COPY"]),
        ("insert", "INSERT INTO ticks VALUES ('WTI', now(), 1.0, 1, 'X')", None, "UNAUTHORIZED", ["INSERT"]),
        ("insert-select", "INSERT INTO market.defects SELECT * FROM market.defects", None, "UNAUTHORIZED", ["INSERT"]),
        ("drop", "DROP TABLE ticks", None, "UNAUTHORIZED", ["DROP"]),
        ("delete", "DELETE FROM ticks", None, "UNAUTHORIZED", ["DELETE"]),
        ("create-table-as", "CREATE TABLE t2 AS SELECT * FROM ticks", None, "UNAUTHORIZED", ["CREATE"]),
        ("set", "SET datafusion.execution.batch_size = 1", None, "UNAUTHORIZED", ["variables"]),
        ("two-statements", "SELECT 1; DROP TABLE ticks", None, None, []),
    ]


CASE_IDS = [c[0] for c in bad_statements(Path("/tmp"))]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bad_statement_is_rejected(conn, tmp_path, case_id):
    _, sql, params, status, needles = next(c for c in bad_statements(tmp_path) if c[0] == case_id)
    with pytest.raises(dbapi.Error) as e:
        helpers.query(conn, sql, params)
    msg = str(e.value)
    if status is not None:
        assert helpers.status_name(e.value) == status, msg
    else:
        assert helpers.status_name(e.value) in ("INVALID_ARGUMENT", "UNAUTHORIZED"), msg
    for needle in needles:
        assert needle.lower() in msg.lower(), f"{needle!r} not in {msg!r}"
    assert not copy_target(tmp_path).exists()


def test_nothing_harmed_after_bad_input(market_server, conn, oracle, baseline, tmp_path):
    for _, sql, params, _, _ in bad_statements(tmp_path):
        with pytest.raises(dbapi.Error):
            helpers.query(conn, sql, params)
    assert not copy_target(tmp_path).exists()
    assert not Path("/tmp/contango-should-not-exist.csv").exists()
    # The refused CREATE EXTERNAL TABLE registered nothing.
    with pytest.raises(dbapi.Error) as e:
        helpers.query(conn, "SELECT * FROM x")
    assert helpers.status_name(e.value) == "NOT_FOUND", str(e.value)
    # Same answer as before, on the same connection and on a new one, and equal to the oracle.
    assert helpers.rows(helpers.query(conn, BASELINE_SQL.format(t="ticks"))) == baseline
    fresh = market_server.connect()
    try:
        assert helpers.rows(helpers.query(fresh, BASELINE_SQL.format(t="iceberg.market.ticks"))) == baseline
    finally:
        fresh.close()
    assert helpers.duck_rows(oracle, BASELINE_SQL.format(t="ticks")) == baseline


def test_copy_with_absolute_tmp_path_not_written(conn):
    path = Path("/tmp/contango-should-not-exist.csv")
    existed = path.exists()
    with pytest.raises(dbapi.Error) as e:
        helpers.query(conn, f"COPY (SELECT 1) TO '{path}'")
    assert helpers.status_name(e.value) == "UNAUTHORIZED", str(e.value)
    if not existed:
        assert not path.exists()


def test_reading_server_files_through_functions_is_refused(conn):
    """No table function or external table may expose the server's files."""
    for sql in [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_csv('/etc/passwd')",
    ]:
        with pytest.raises(dbapi.Error) as e:
            helpers.query(conn, sql)
        assert "root:" not in str(e.value)


def test_cli_sql_reports_errors(market_server):
    r = market_server.contango(
        "sql", "--flight-addr", market_server.flight_addr, "--user", market_server.user, "--password", market_server.password,
        "SELECT * FROM market.no_such_table", check=False, timeout=60,
    )
    assert r.returncode == 1, r
    assert "error: NotFound" in r.stderr and "no_such_table" in r.stderr, r.stderr


def test_cli_sql_wrong_password_reports_code(market_server):
    """`contango sql` failures print `error: <Code>: message`, also for a failed handshake."""
    r = market_server.contango(
        "sql", "--flight-addr", market_server.flight_addr, "--user", market_server.user, "--password", "wrong",
        "SELECT 1", check=False, timeout=60,
    )
    assert r.returncode == 1, r
    assert "invalid credentials for user 'alice'" in r.stderr, r.stderr
    assert re.search(r"^error: Unauthenticated: ", r.stderr, re.MULTILINE), r.stderr


def test_cli_sql_prints_result(market_server, oracle):
    r = market_server.contango(
        "sql", "--flight-addr", market_server.flight_addr, "--user", market_server.user, "--password", market_server.password,
        "SELECT count(*) AS n FROM ticks WHERE commodity = 'WTI'", timeout=60,
    )
    n = helpers.duck_rows(oracle, "SELECT count(*) FROM ticks WHERE commodity = 'WTI'")[0][0]
    assert f"| {n} " in r.stdout, r.stdout


# --- imports -------------------------------------------------------------- #


def _count(conn, table: str) -> int:
    return helpers.query(conn, f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()


@pytest.fixture(scope="module")
def prices_table(market_server, conn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-import")
    good = tmp / "prices.csv"
    good.write_text("Date,Price\n2024-01-02,71.5\n2024-01-03,72.25\n2024-01-04,-1.5\n")
    r = market_server.import_files("iceberg.badinput.prices", good)
    assert "imported 3 rows" in r.stderr, r.stderr
    return "badinput.prices", tmp


def _assert_unchanged(market_server, conn, table: str):
    expected = [
        (datetime.date(2024, 1, 2), 71.5),
        (datetime.date(2024, 1, 3), 72.25),
        (datetime.date(2024, 1, 4), -1.5),
    ]
    assert helpers.rows(helpers.query(conn, f'SELECT "Date", "Price" FROM {table}')) == expected
    read = helpers.sqlite_catalog(market_server.data_dir).load_table(table).scan().to_arrow()
    assert helpers.rows(read) == expected


@pytest.mark.parametrize(
    "name,content,why",
    [
        ("text-price.csv", "Date,Price\n2024-02-01,abc\n2024-02-02,def\n", "Price"),
        ("extra-column.csv", "Date,Price,Venue\n2024-02-01,1.0,ICE\n", "Venue"),
        ("renamed.csv", "Day,Value\n2024-02-01,1.0\n", "Day"),
    ],
)
def test_import_schema_does_not_fit(market_server, conn, prices_table, name, content, why):
    table, tmp = prices_table
    bad = tmp / name
    bad.write_text(content)
    r = market_server.import_files(f"iceberg.{table}", bad, check=False)
    assert r.returncode != 0, r.stderr
    assert "schema does not fit" in r.stderr, r.stderr
    assert why in r.stderr, r.stderr
    assert _count(conn, table) == 3
    _assert_unchanged(market_server, conn, table)


def test_import_parquet_wrong_type_does_not_fit(market_server, conn, prices_table):
    table, tmp = prices_table
    bad = tmp / "wrong-type.parquet"
    pq.write_table(pa.table({"Date": ["2024-02-01"], "Price": ["not a number"]}), bad)
    r = market_server.import_files(f"iceberg.{table}", bad, check=False)
    assert r.returncode != 0 and "schema does not fit" in r.stderr, r.stderr
    _assert_unchanged(market_server, conn, table)


def test_import_missing_file_fails(market_server, conn, prices_table):
    table, tmp = prices_table
    missing = tmp / "does-not-exist.csv"
    r = market_server.import_files(f"iceberg.{table}", missing, check=False)
    assert r.returncode != 0
    assert "does-not-exist.csv" in r.stderr and "does not exist" in r.stderr, r.stderr
    _assert_unchanged(market_server, conn, table)


def test_import_bad_table_name_fails(market_server, conn, prices_table):
    _, tmp = prices_table
    good = tmp / "prices.csv"
    reserved = ["iceberg.badinput.prices$files", "iceberg.badinput.prices@v1", "iceberg.bad$ns.prices"]
    for name, needle in [("other.badinput.prices", "unknown catalog"), ("prices", "must be")] + [
        (n, "is reserved") for n in reserved
    ]:
        r = market_server.import_files(name, good, check=False)
        assert r.returncode != 0, r.stderr
        assert needle in r.stderr, r.stderr
    # Nothing was created under those names (they used to be created and then unqueryable).
    tables = helpers.query(conn, "SELECT table_schema, table_name FROM information_schema.tables").to_pylist()
    assert not [t for t in tables if "$" in t["table_name"] + t["table_schema"] or "@" in t["table_name"]], tables


def test_import_unknown_extension_needs_format(market_server, prices_table):
    _, tmp = prices_table
    odd = tmp / "prices.data"
    odd.write_text("Date,Price\n2024-03-01,9.5\n")
    r = market_server.import_files("iceberg.badinput.prices", odd, check=False)
    assert r.returncode != 0 and "--format" in r.stderr, r.stderr


# --- the same policy on the plain statement path (raw Flight, no prepared statement) --- #


@pytest.mark.parametrize(
    "sql,needle",
    [
        ("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", "/etc/passwd"),
        ("COPY (SELECT 1) TO '{target}'", "COPY"),
        ("INSERT INTO ticks VALUES ('WTI', now(), 1.0, 1, 'X')", "INSERT"),
        ("DROP TABLE market.ticks", "DROP"),
        ("EXPLAIN COPY (SELECT 1) TO '{target}'", "COPY"),
    ],
)
def test_refused_on_statement_path(market_server, tmp_path, sql, needle):
    import pyarrow.flight as flight

    target = copy_target(tmp_path)
    client = flight.FlightClient(market_server.flight_uri)
    try:
        opts = flight.FlightCallOptions(
            headers=[client.authenticate_basic_token(market_server.user, market_server.password)],
            timeout=helpers.RPC_TIMEOUT_S,
        )
        with pytest.raises(flight.FlightUnauthorizedError, match=re.escape(needle)):
            info = client.get_flight_info(helpers.statement_query(sql.format(target=target)), opts)
            client.do_get(info.endpoints[0].ticket, opts).read_all()
    finally:
        client.close()
    assert not target.exists()


def _files(root) -> list:
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_failed_import_leaves_nothing_behind(market_server, conn, prices_table):
    """Issue 22 deliverable 6: a CSV whose last row is bad used to leave the
    Parquet files written before it (and a new, empty table) behind."""
    table, tmp = prices_table
    bad = tmp / "last-row-bad.csv"
    rows = [f"2023-{1 + i % 12:02}-{1 + i % 28:02},{i}.5" for i in range(30_000)]
    bad.write_text("Date,Price\n" + "\n".join(rows) + "\n2023-12-31,not-a-number\n")
    warehouse = market_server.data_dir / "warehouse"

    # Into a new table: no table, no files.
    r = market_server.import_files("iceberg.badinput.lastrow", bad, check=False)
    assert r.returncode != 0, r.stderr
    tables = helpers.query(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'badinput'")
    assert "lastrow" not in tables.column(0).to_pylist()
    assert _files(warehouse / "badinput" / "lastrow") == []

    # Into an existing table: its rows and its files are as they were.
    before = _files(warehouse / "badinput" / "prices")
    r = market_server.import_files(f"iceberg.{table}", bad, check=False)
    assert r.returncode != 0, r.stderr
    assert _files(warehouse / "badinput" / "prices") == before
    _assert_unchanged(market_server, conn, table)
