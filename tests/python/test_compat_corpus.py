"""The Trino-dialect compatibility corpus (tests/compat/*.sql), run on both
endpoints: the `trino` client over /v1/statement and ADBC over Flight SQL.

Each case gives the SQL, the expected column names with Trino types, and the
expected rows — from the Trino documentation's examples or computed by hand —
or a DuckDB query computing them over the same tables (read with pyiceberg).
See tests/compat/README.md for the format."""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import helpers
from conftest import trino_connect

CORPUS = Path(__file__).resolve().parents[1] / "compat"


@dataclass
class Case:
    name: str
    file: str
    sql: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[str]] | None = None
    duckdb: str | None = None
    ordered: bool = False
    tolerance: float = 1e-9
    source: str = ""


def parse_corpus() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.glob("*.sql")):
        blocks = re.split(r"^-- name: ", path.read_text(), flags=re.M)[1:]
        for block in blocks:
            lines = block.splitlines()
            case = Case(name=lines[0].strip(), file=path.stem, sql="")
            sql_lines: list[str] = []
            rows: list[list[str]] | None = None
            for line in lines[1:]:
                if line.startswith("-- source:"):
                    case.source = line.split(":", 1)[1].strip()
                elif line.startswith("-- columns:"):
                    spec = line.split(":", 1)[1].strip()
                    case.columns = [tuple(c.strip().split(" ", 1)) for c in spec.split(",,")]
                elif line.startswith("-- ordered"):
                    case.ordered = True
                elif line.startswith("-- tolerance:"):
                    case.tolerance = float(line.split(":", 1)[1])
                elif line.startswith("-- duckdb:"):
                    case.duckdb = line.split(":", 1)[1].strip()
                elif line.startswith("-- rows:"):
                    rows = []
                elif rows is not None and line.startswith("-- "):
                    rows.append([v.strip() for v in line[3:].split(" | ")])
                elif rows is not None and line.strip() == "--":
                    rows.append([""])
                elif line.strip() and not line.startswith("--"):
                    sql_lines.append(line)
            case.sql = "\n".join(sql_lines).strip().rstrip(";")
            case.rows = rows
            assert case.source, f"{case.name}: every case names its source"
            assert case.rows is not None or case.duckdb, f"{case.name}: rows or duckdb"
            cases.append(case)
    return cases


CASES = parse_corpus()


def test_corpus_is_large_and_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 150


# --------------------------------------------------------------------------- #
# Comparison
# --------------------------------------------------------------------------- #


def arrow_to_trino(t: pa.DataType) -> str:
    """Trino's name for an Arrow type (an independent restatement of the map)."""
    if pa.types.is_boolean(t):
        return "boolean"
    for check, name in [
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double"),
        (pa.types.is_date32, "date"),
    ]:
        if check(t):
            return name
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "varchar"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "varbinary"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        p = {"s": 0, "ms": 3, "us": 6, "ns": 9}[t.unit]
        return f"timestamp({p}) with time zone" if t.tz else f"timestamp({p})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array({arrow_to_trino(t.value_type)})"
    if pa.types.is_map(t):
        return f"map({arrow_to_trino(t.key_type)}, {arrow_to_trino(t.item_type)})"
    if pa.types.is_null(t):
        return "unknown"
    return str(t)


def same(actual, expected: str, trino_type: str, tol: float) -> bool:
    """Whether a client value equals the expected text of a `trino_type` value."""
    if expected == "NULL":
        return actual is None
    if actual is None:
        return False
    t = trino_type
    if t == "boolean":
        return actual is (expected == "true")
    if t in ("bigint", "integer", "smallint", "tinyint"):
        return int(actual) == int(expected) and not isinstance(actual, float)
    if t in ("double", "real"):
        if expected in ("NaN", "Infinity", "-Infinity"):
            return (math.isnan(actual) and expected == "NaN") or actual == float(expected)
        e = float(expected)
        return math.isclose(float(actual), e, rel_tol=tol, abs_tol=tol if e == 0 else 0.0)
    if t.startswith("decimal"):
        return Decimal(str(actual)) == Decimal(expected)
    if t == "date":
        return actual == datetime.date.fromisoformat(expected)
    if t.startswith("timestamp") and t.endswith("with time zone"):
        local, zone = expected.rsplit(" ", 1)
        from zoneinfo import ZoneInfo

        want = datetime.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))
        return actual.tzinfo is not None and actual == want
    if t.startswith("timestamp"):
        return actual.tzinfo is None and actual == datetime.datetime.fromisoformat(expected)
    if t.startswith("array") or t.startswith("map"):
        return normalise_json(actual) == json.loads(expected)
    if t == "varbinary":
        return bytes(actual).hex() == expected.lower()
    return str(actual) == expected


def normalise_json(v):
    if isinstance(v, dict):
        return {str(k): normalise_json(x) for k, x in v.items()}
    if isinstance(v, list) and v and isinstance(v[0], tuple):
        return {str(k): normalise_json(x) for k, x in v}  # Arrow maps arrive as pairs
    if isinstance(v, (list, tuple)):
        return [normalise_json(x) for x in v]
    if isinstance(v, Decimal):
        return float(v)
    return v


def to_text(v) -> str:
    """A client value as expected-row text (for DuckDB-computed expectations)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc)
            return v.replace(tzinfo=None).isoformat(sep=" ") + " UTC"
        return v.isoformat(sep=" ")
    if isinstance(v, (datetime.date, Decimal, int, float, str)):
        return str(v)
    return json.dumps(normalise_json(v))


# --------------------------------------------------------------------------- #
# Endpoints
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def trino_cursor(trino_server):
    conn = trino_connect(trino_server)
    yield conn.cursor()
    conn.close()


@pytest.fixture(scope="module")
def flight_conn(trino_server):
    conn = helpers.adbc_connect(
        trino_server.flight_uri, None, None,
        **{"adbc.flight.sql.rpc.call_header.x-trino-schema": "market"},
    )
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def oracle(market_catalog):
    tables = {t[-1]: market_catalog.load_table(f"market.{t[-1]}").scan().to_arrow() for t in market_catalog.list_tables("market")}
    return helpers.duck(**tables)


def run_trino(cur, sql):
    cur.execute(sql)
    rows = cur.fetchall()
    return [(d[0], d[1]) for d in cur.description], [list(r) for r in rows]


def run_flight(conn, sql):
    with conn.cursor() as c:
        c.execute(sql)
        table = c.fetch_arrow_table()
    columns = [(f.name, arrow_to_trino(f.type)) for f in table.schema]
    rows = [list(r.values()) for r in table.to_pylist()]
    return columns, rows


@pytest.mark.parametrize("endpoint", ["trino", "flight"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}:{c.name}" for c in CASES])
def test_case(case: Case, endpoint, trino_cursor, flight_conn, oracle):
    if endpoint == "trino":
        columns, rows = run_trino(trino_cursor, case.sql)
    else:
        columns, rows = run_flight(flight_conn, case.sql)
    if case.columns:
        assert columns == [tuple(c) for c in case.columns], f"{case.name}: columns ({case.source})"
    types = [t for _, t in columns]
    if case.duckdb:
        expected = [[to_text(v) for v in r] for r in helpers.duck_rows(oracle, case.duckdb, sort=False)]
    else:
        expected = case.rows
    assert len(rows) == len(expected), f"{case.name}: {len(rows)} rows, expected {len(expected)}: {rows[:5]}"
    if case.duckdb and not case.ordered:
        rows = sorted(rows, key=lambda r: [to_text(v) for v in r])
        expected = sorted(expected)
    for i, (got, want) in enumerate(zip(rows, expected)):
        assert len(got) == len(want), f"{case.name} row {i}: {got} vs {want}"
        for v, w, t in zip(got, want, types):
            assert same(v, w, t, case.tolerance), f"{case.name} row {i}: got {v!r}, expected {w} ({t}; {case.source})"
