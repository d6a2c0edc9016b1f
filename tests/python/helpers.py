"""Shared helpers: clients for the server under test and the independent oracles."""

from __future__ import annotations

import datetime
import decimal
import math
from pathlib import Path

import pyarrow as pa

# Every client call is bounded so that a hung server fails the test instead of hanging it.
RPC_TIMEOUT_S = 60


def adbc_connect(uri: str, user: str | None, password: str | None, **db_kwargs):
    """ADBC Flight SQL (DB-API) connection with Basic credentials and bounded RPCs."""
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi as flight_sql

    kwargs = {
        adbc_driver_flightsql.DatabaseOptions.TIMEOUT_QUERY.value: str(RPC_TIMEOUT_S),
        adbc_driver_flightsql.DatabaseOptions.TIMEOUT_FETCH.value: str(RPC_TIMEOUT_S),
        adbc_driver_flightsql.DatabaseOptions.TIMEOUT_UPDATE.value: str(RPC_TIMEOUT_S),
    }
    if user is not None:
        kwargs["username"] = user
    if password is not None:
        kwargs["password"] = password
    kwargs.update(db_kwargs)
    return flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True)


def query(conn, sql: str, params=None) -> pa.Table:
    """Runs `sql` on an ADBC connection and returns the Arrow result."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


def sqlite_catalog(data_dir: Path):
    """pyiceberg SqlCatalog over a contango data dir (catalog.db + warehouse)."""
    from pyiceberg.catalog import load_catalog

    data_dir = Path(data_dir).resolve()
    return load_catalog(
        "iceberg",
        type="sql",
        uri=f"sqlite:///{data_dir}/catalog.db",
        warehouse=f"file://{data_dir}/warehouse",
    )


def _normalize_value(v):
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.timezone.utc)
    return v


def _normalize_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_timestamp(t) and t.tz is not None:
        # "+00:00" and "UTC" are the same zone; pick one so that values compare.
        return col.cast(pa.timestamp(t.unit, tz="UTC"))
    if pa.types.is_large_string(t) or t == pa.string_view():
        return col.cast(pa.string())
    return col


def rows(table: pa.Table, sort: bool = True) -> list[tuple]:
    """Table rows as tuples (timestamps in UTC); sorted (None first) unless sort=False."""
    cols = [_normalize_column(table.column(i)).to_pylist() for i in range(table.num_columns)]
    out = [tuple(_normalize_value(v) for v in r) for r in zip(*cols)] if cols else []
    if sort:
        out.sort(key=sort_key)
    return out


def sort_key(row: tuple):
    return tuple((v is None, "" if v is None else v) for v in row)


def duck(**tables):
    """A DuckDB connection (UTC) with the given Arrow tables registered as views."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, table in tables.items():
        con.register(name, table)
    return con


def duck_rows(con, sql: str, params=None, sort: bool = True) -> list[tuple]:
    return rows(con.execute(sql, params or []).fetch_arrow_table(), sort=sort)


def assert_rows_equal(actual: list[tuple], expected: list[tuple], rel_tol: float = 0.0, what: str = "rows"):
    """Exact equality, or floats within `rel_tol`; the first difference is reported."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert len(a) == len(e), f"{what} row {i}: {a} vs {e}"
        for j, (x, y) in enumerate(zip(a, e)):
            if isinstance(x, float) and isinstance(y, float) and rel_tol:
                ok = math.isclose(x, y, rel_tol=rel_tol) or (math.isnan(x) and math.isnan(y))
            elif isinstance(x, (float, decimal.Decimal)) and isinstance(y, (float, decimal.Decimal)):
                ok = x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
            else:
                ok = x == y
            assert ok, f"{what} row {i} column {j}: {x!r} != {y!r}\n  actual:   {a}\n  expected: {e}"


def trino_timestamp(t: datetime.datetime) -> str:
    """A Trino `timestamp(6) with time zone` literal of an aware datetime, in UTC."""
    return f"TIMESTAMP '{t.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M:%S.%f} UTC'"


def scan_predicates(plan: str) -> list[str]:
    """The filters each table scan of an EXPLAIN received: the `predicate=` of
    DataFusion's Parquet scan (`DataSourceExec`, how Iceberg tables are read)
    or the predicate line of iceberg-datafusion's `IcebergTableScan` (the
    fallback), or the `predicate=` of `AcceleratedScanExec` (a table held in
    memory), one string per scan."""
    import re

    found = []
    accelerated = False
    for line in plan.splitlines():
        if "IcebergTableScan" in line:
            found.append(line)
        elif "AcceleratedScanExec" in line:
            # A table held in memory: its predicate prunes chunks; the memory
            # scan below it is the same scan.
            m = re.search(r", predicate=(.*)$", line)
            found.append(m.group(1) if m else "")
            accelerated = True
        elif "DataSourceExec" in line and accelerated:
            accelerated = False
        elif "DataSourceExec" in line:
            m = re.search(r"[ ,]predicate=(.*?)(, pruning_predicate=|, required_guarantees=|$)", line)
            found.append(m.group(1) if m else "")
    return found


def pushed(predicate: str, column: str, op: str, value) -> bool:
    """Whether a scan predicate from [`scan_predicates`] holds `column op value`
    (an aware datetime is compared as epoch microseconds, as DataFusion shows it;
    `value=None` asks only for `column op`)."""
    import re

    if isinstance(value, datetime.datetime):
        value = (value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)
    tail = "" if value is None else " " + re.escape(str(value)) + r"(?![\w.])"
    native = re.search(rf"(?<![\w]){re.escape(column)}@\d+ {re.escape(op)}{tail}", predicate)
    if native:
        return True
    shown = "" if value is None else " " + (f'"{value}"' if isinstance(value, str) else str(value))
    return f"{column} {op}{shown}" in predicate


def error_text(exc: BaseException) -> str:
    return str(exc)


def status_name(exc: BaseException) -> str | None:
    """ADBC status code name (NOT_FOUND, INVALID_ARGUMENT, UNAUTHORIZED, ...) of an ADBC error."""
    code = getattr(exc, "status_code", None)
    return getattr(code, "name", None)


# --- Flight SQL commands as hand-encoded protobuf (no Flight SQL client library) --- #

SQL_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."


def pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_fields(buf: bytes) -> dict[int, bytes]:
    """Length-delimited fields of a protobuf message (varints skipped)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, i = _read_varint(buf, i)
            out[number] = buf[i:i + length]
            i += length
        elif wire == 0:
            _, i = _read_varint(buf, i)
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def pb_bytes_field(number: int, data: bytes) -> bytes:
    return pb_varint((number << 3) | 2) + pb_varint(len(data)) + data


def pb_bool_field(number: int, value: bool) -> bytes:
    return pb_varint(number << 3) + pb_varint(int(value))


def sql_any(message: str, body: bytes = b"") -> bytes:
    """google.protobuf.Any{type_url = SQL_PREFIX + message, value = body}."""
    return pb_bytes_field(1, (SQL_PREFIX + message).encode()) + pb_bytes_field(2, body)


def statement_query(sql: str):
    import pyarrow.flight as flight

    return flight.FlightDescriptor.for_command(sql_any("CommandStatementQuery", pb_bytes_field(1, sql.encode())))


def statement_ticket(handle: bytes):
    import pyarrow.flight as flight

    return flight.Ticket(sql_any("TicketStatementQuery", pb_bytes_field(1, handle)))
