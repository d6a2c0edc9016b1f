"""The Trino-dialect compatibility corpus (tests/compat/corpus/*.json), run on both
endpoints: the `trino` client over /v1/statement and ADBC over Flight SQL.

Each case gives the SQL, the expected column names with Trino types, and the
expected rows written as Trino's JSON client protocol encodes them (from the Trino
documentation's examples or computed by hand), or a DuckDB query computing them
over the same tables read independently with pyiceberg. One expected value serves
both endpoints: the trino client hands back the raw protocol values
(`legacy_primitive_types=True`), and Flight's Arrow values are converted into the
same encoding. See tests/compat/README.md for the format.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import zoneinfo
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import helpers
from conftest import trino_connect

CORPUS = Path(__file__).resolve().parents[1] / "compat" / "corpus"
DEFAULT_TOLERANCE = 1e-9
CASE_KEYS = {
    "id", "sql", "columns", "rows", "ordered", "source", "tolerance", "duckdb_sql", "tables",
    "project", "distinct", "contains", "note", "known_gap",
}


def load_corpus() -> list[dict]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        for case in json.loads(path.read_text()):
            case["file"] = path.stem
            cases.append(case)
    return cases


CASES = load_corpus()


def test_corpus_is_well_formed():
    ids = [c["id"] for c in CASES]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"duplicate case ids: {duplicates}"
    assert len(CASES) >= 170
    for c in CASES:
        assert set(c) - {"file"} <= CASE_KEYS, f"{c['id']}: unknown keys {set(c) - CASE_KEYS - {'file'}}"
        assert c["sql"] and c["source"], f"{c['id']}: sql and source are required"
        assert c["source"].startswith(("https://trino.io/docs/", "hand-computed: ", "duckdb")), c["id"]
        assert all(len(col) == 2 for col in c["columns"]), c["id"]
        parse_type(c["columns"][0][1]) if c["columns"] else None
        if c["rows"] == "duckdb":
            assert c.get("duckdb_sql") and c.get("tables"), f"{c['id']}: duckdb rows need duckdb_sql and tables"
        elif c["rows"] is not None:
            assert all(len(r) == len(c.get("project") or c["columns"]) for r in c["rows"]), c["id"]


# --------------------------------------------------------------------------- #
# Trino types
# --------------------------------------------------------------------------- #


def split_top(s: str) -> list[str]:
    """Splits on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    parts.append(cur.strip())
    return parts


def parse_type(t: str) -> tuple:
    """A Trino type name as a tuple: ("array", elem), ("map", k, v), ("row", [(name, type)]),
    ("timestamp", p, with_tz), ("decimal", p, s), ("time", p) or (base,)."""
    t = t.strip()
    lower = t.lower()
    if lower.startswith("array(") and lower.endswith(")"):
        return ("array", parse_type(t[6:-1]))
    if lower.startswith("map(") and lower.endswith(")"):
        k, v = split_top(t[4:-1])
        return ("map", parse_type(k), parse_type(v))
    if lower.startswith("row(") and lower.endswith(")"):
        fields = []
        for f in split_top(t[4:-1]):
            name, ftype = f.split(" ", 1)
            fields.append((name.strip('"'), parse_type(ftype)))
        return ("row", fields)
    if lower.startswith("timestamp"):
        with_tz = lower.endswith("with time zone")
        p = int(lower.split("(", 1)[1].split(")", 1)[0]) if "(" in lower else 3
        return ("timestamp", p, with_tz)
    if lower.startswith("time"):
        p = int(lower.split("(", 1)[1].split(")", 1)[0]) if "(" in lower else 3
        return ("time", p)
    if lower.startswith("decimal"):
        p, s = (int(x) for x in lower.split("(", 1)[1].rstrip(")").split(","))
        return ("decimal", p, s)
    if lower.startswith("varchar"):
        return ("varchar",)
    return (lower,)


def comparable_type(t: str) -> str:
    """The type name as compared: bounded `varchar(n)` is `varchar` (Arrow strings carry
    no length, so Contango has only unbounded varchar)."""
    return type_name(parse_type(t))


def type_name(p: tuple) -> str:
    kind = p[0]
    if kind == "array":
        return f"array({type_name(p[1])})"
    if kind == "map":
        return f"map({type_name(p[1])}, {type_name(p[2])})"
    if kind == "row":
        return "row(" + ", ".join(f"{n} {type_name(t)}" for n, t in p[1]) + ")"
    if kind == "timestamp":
        return f"timestamp({p[1]})" + (" with time zone" if p[2] else "")
    if kind == "time":
        return f"time({p[1]})"
    if kind == "decimal":
        return f"decimal({p[1]},{p[2]})"
    return kind


def arrow_to_trino(t: pa.DataType) -> str:
    """Trino's name for an Arrow type (an independent restatement of the type map)."""
    simple = [
        (pa.types.is_boolean, "boolean"), (pa.types.is_int8, "tinyint"), (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"), (pa.types.is_int64, "bigint"), (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double"), (pa.types.is_date, "date"), (pa.types.is_null, "unknown"),
        (pa.types.is_uint8, "smallint"), (pa.types.is_uint16, "integer"), (pa.types.is_uint32, "bigint"),
    ]
    for check, name in simple:
        if check(t):
            return name
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "varchar"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        return "varbinary"
    if pa.types.is_decimal(t):
        return f"decimal({min(t.precision, 38)},{t.scale})"
    if pa.types.is_timestamp(t):
        p = {"s": 0, "ms": 3, "us": 6, "ns": 9}[t.unit]
        return f"timestamp({p}) with time zone" if t.tz else f"timestamp({p})"
    if pa.types.is_time(t):
        return f"time({ {'s': 0, 'ms': 3, 'us': 6, 'ns': 9}[t.unit] })"
    if pa.types.is_dictionary(t):
        return arrow_to_trino(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list_view(t):
        return f"array({arrow_to_trino(t.value_type)})"
    if pa.types.is_map(t):
        return f"map({arrow_to_trino(t.key_type)}, {arrow_to_trino(t.item_type)})"
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f"{t.field(i).name} {arrow_to_trino(t.field(i).type)}" for i in range(t.num_fields)) + ")"
    if pa.types.is_interval(t):
        return "interval day to second"
    if pa.types.is_duration(t):
        return "interval day to second"
    return str(t)


# --------------------------------------------------------------------------- #
# Arrow values -> Trino JSON encoding
# --------------------------------------------------------------------------- #

UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def format_fraction(frac: int, digits_in: int, p: int) -> str:
    """`.fff` with `p` digits from a fraction of `digits_in` digits (truncated or padded)."""
    if p == 0:
        return ""
    s = str(frac).rjust(digits_in, "0") if digits_in else ""
    return "." + (s + "0" * p)[:p]


def zone_label(tz: str) -> str:
    return "UTC" if tz in ("UTC", "+00:00", "Z", "Etc/UTC", "+0000") else tz


def encode_timestamps(arr: pa.Array, p: int, with_tz: bool) -> list:
    unit = arr.type.unit
    digits = UNIT_DIGITS[unit]
    tz = arr.type.tz
    ints = pc.cast(arr.cast(pa.timestamp(unit)), pa.int64()).to_pylist()
    zone = None
    if with_tz and tz:
        zone = datetime.timezone.utc if zone_label(tz) == "UTC" else (
            datetime.timezone(datetime.timedelta(hours=int(tz[:3]), minutes=int(tz[0] + tz[4:6])))
            if tz[0] in "+-" else zoneinfo.ZoneInfo(tz)
        )
    out = []
    for v in ints:
        if v is None:
            out.append(None)
            continue
        sec, frac = divmod(v, 10**digits)
        dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=sec)
        if zone is not None:
            dt = dt.astimezone(zone)
        text = dt.strftime("%Y-%m-%d %H:%M:%S") + format_fraction(frac, digits, p)
        if with_tz:
            text += " " + (zone_label(tz) if tz else "UTC")
        out.append(text)
    return out


def encode_times(arr: pa.Array, p: int) -> list:
    digits = UNIT_DIGITS[arr.type.unit]
    ints = pc.cast(arr, pa.int64() if arr.type.bit_width == 64 else pa.int32()).to_pylist()
    out = []
    for v in ints:
        if v is None:
            out.append(None)
            continue
        sec, frac = divmod(v, 10**digits)
        out.append(f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}" + format_fraction(frac, digits, p))
    return out


def encode_double(v):
    if v is None:
        return None
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def encode_decimal(v, scale: int):
    if v is None:
        return None
    return format(decimal.Decimal(v).quantize(decimal.Decimal(1).scaleb(-scale)), "f")


def encode_python(v, t: tuple):
    """A plain Python value (from Arrow's to_pylist) of Trino type `t`, JSON-encoded."""
    if v is None:
        return None
    kind = t[0]
    if kind in ("bigint", "integer", "smallint", "tinyint") and isinstance(v, (int, decimal.Decimal)):
        return int(v)
    if kind in ("double", "real"):
        return encode_double(float(v))
    if kind == "decimal":
        return encode_decimal(v, t[2])
    if kind == "date":
        return v.isoformat()
    if kind == "varbinary":
        return base64.b64encode(bytes(v)).decode()
    if kind == "timestamp":
        if v.tzinfo is not None:
            label = "UTC" if v.utcoffset() == datetime.timedelta(0) and str(v.tzinfo) in ("UTC", "+00:00") else str(v.tzinfo)
            text = v.strftime("%Y-%m-%d %H:%M:%S") + format_fraction(v.microsecond, 6, t[1])
            return text + (" " + label if t[2] else "")
        return v.strftime("%Y-%m-%d %H:%M:%S") + format_fraction(v.microsecond, 6, t[1])
    if kind == "array":
        return [encode_python(x, t[1]) for x in v]
    if kind == "map":
        pairs = v.items() if isinstance(v, dict) else v
        return {str(encode_python(k, t[1])): encode_python(x, t[2]) for k, x in pairs}
    if kind == "row":
        values = list(v.values()) if isinstance(v, dict) else list(v)
        return [encode_python(x, ft) for x, (_, ft) in zip(values, t[1])]
    if kind == "interval day to second":
        if isinstance(v, datetime.timedelta):
            total_ms = round(v / datetime.timedelta(milliseconds=1))
        else:  # MonthDayNano
            total_ms = v.days * 86_400_000 + v.nanoseconds // 1_000_000
        sign = "-" if total_ms < 0 else ""
        total_ms = abs(total_ms)
        days, rem = divmod(total_ms, 86_400_000)
        return f"{sign}{days} {rem // 3_600_000:02d}:{rem // 60_000 % 60:02d}:{rem // 1000 % 60:02d}.{rem % 1000:03d}"
    return v


def encode_column(arr: pa.ChunkedArray, trino_type: str) -> list:
    """An Arrow column in Trino's JSON encoding, read as Trino type `trino_type`."""
    t = parse_type(trino_type)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if t[0] == "timestamp" and pa.types.is_timestamp(arr.type):
        return encode_timestamps(arr, t[1], t[2])
    if t[0] == "time" and pa.types.is_time(arr.type):
        return encode_times(arr, t[1])
    return [encode_python(v, t) for v in arr.to_pylist()]


def encode_table(table: pa.Table, types: list[str]) -> list[list]:
    cols = [encode_column(table.column(i), types[i]) for i in range(table.num_columns)]
    return [list(r) for r in zip(*cols)] if cols else []


# --------------------------------------------------------------------------- #
# Comparison
# --------------------------------------------------------------------------- #


def normalise(v, t: tuple):
    """A JSON-encoded value in the form compared (doubles as floats, map keys as text)."""
    if v is None:
        return None
    kind = t[0]
    if kind in ("double", "real"):
        return float(v) if not isinstance(v, str) else {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v)
    if kind == "array":
        return [normalise(x, t[1]) for x in v] if isinstance(v, list) else v
    if kind == "map":
        return {str(k): normalise(x, t[2]) for k, x in v.items()} if isinstance(v, dict) else v
    if kind == "row":
        return [normalise(x, ft) for x, (_, ft) in zip(v, t[1])] if isinstance(v, list) else v
    return v


def same(actual, expected, t: tuple, tol: float) -> bool:
    a, e = normalise(actual, t), normalise(expected, t)
    return values_equal(a, e, tol)


def values_equal(a, e, tol: float) -> bool:
    if isinstance(a, bool) or isinstance(e, bool):
        return a is e
    if isinstance(a, float) or isinstance(e, float):
        if not isinstance(a, (int, float)) or not isinstance(e, (int, float)):
            return False
        if math.isnan(e) or math.isnan(a):
            return math.isnan(e) and math.isnan(a)
        return a == e or math.isclose(a, e, rel_tol=tol, abs_tol=tol if e == 0 else 0.0)
    if isinstance(a, int) and isinstance(e, int):
        return a == e if tol <= DEFAULT_TOLERANCE else math.isclose(a, e, rel_tol=tol)
    if isinstance(a, list) and isinstance(e, list):
        return len(a) == len(e) and all(values_equal(x, y, tol) for x, y in zip(a, e))
    if isinstance(a, dict) and isinstance(e, dict):
        return a.keys() == e.keys() and all(values_equal(a[k], e[k], tol) for k in a)
    if isinstance(a, str) and isinstance(e, str) and tol > DEFAULT_TOLERANCE:
        try:  # decimals compared numerically when the case allows a tolerance
            x, y = decimal.Decimal(a), decimal.Decimal(e)
            return math.isclose(float(x), float(y), rel_tol=tol)
        except decimal.InvalidOperation:
            pass
    return type(a) is type(e) and a == e


def row_key(row: list) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def rows_match(got: list[list], want: list[list], types: list[tuple], tol: float) -> bool:
    return len(got) == len(want) and all(
        len(g) == len(w) and all(same(x, y, t, tol) for x, y, t in zip(g, w, types)) for g, w in zip(got, want)
    )


def first_difference(got: list[list], want: list[list], types: list[tuple], tol: float) -> str:
    if len(got) != len(want):
        return f"{len(got)} rows, expected {len(want)}\n  got (first 10):  {got[:10]}\n  want (first 10): {want[:10]}"
    for i, (g, w) in enumerate(zip(got, want)):
        for j, (x, y, t) in enumerate(zip(g, w, types)):
            if not same(x, y, t, tol):
                return f"row {i} column {j} ({type_name(t)}): got {x!r}, expected {y!r}\n  got:  {g}\n  want: {w}"
    return "no difference"


# --------------------------------------------------------------------------- #
# Endpoints
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def trino_cursor(trino_server):
    conn = trino_connect(trino_server, legacy_primitive_types=True, timezone="UTC")
    yield conn.cursor()
    conn.close()


@pytest.fixture(scope="module")
def flight_conn(trino_server):
    conn = helpers.adbc_connect(
        trino_server.flight_uri, None, None,
        **{
            "adbc.flight.sql.rpc.call_header.x-trino-catalog": "iceberg",
            "adbc.flight.sql.rpc.call_header.x-trino-schema": "market",
            "adbc.flight.sql.rpc.call_header.x-trino-time-zone": "UTC",
        },
    )
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def oracle_tables(market_catalog, eia_server):
    """Tables read with pyiceberg, loaded on first use (name as `schema.table`)."""
    cache: dict[str, pa.Table] = {}

    def load(name: str) -> pa.Table:
        if name not in cache:
            cache[name] = market_catalog.load_table(name).scan().to_arrow()
        return cache[name]

    return load


def run_trino(cur, sql: str, expected_types: list[str]):
    cur.execute(sql)
    rows = cur.fetchall()
    return [[d[0], d[1]] for d in cur.description], [list(r) for r in rows]


def run_flight(conn, sql: str, expected_types: list[str]):
    with conn.cursor() as c:
        c.execute(sql)
        table = c.fetch_arrow_table()
    columns = [[f.name, arrow_to_trino(f.type)] for f in table.schema]
    # Values are encoded as the column's own (Arrow-derived) type; a type mismatch is
    # reported by the column check first.
    return columns, encode_table(table, [t for _, t in columns])


def expected_rows(case: dict, oracle_tables) -> list[list] | None:
    if case["rows"] != "duckdb":
        return case["rows"]
    tables = {name.split(".")[-1]: oracle_tables(name) for name in case["tables"]}
    result = helpers.duck(**tables).execute(case["duckdb_sql"]).fetch_arrow_table()
    types = [t for _, t in case["columns"]]
    assert result.num_columns == len(types), f"{case['id']}: duckdb_sql gives {result.num_columns} columns"
    return encode_table(result, types)


def project(case: dict, columns: list, rows: list[list]) -> tuple[list, list[list]]:
    names = case.get("project")
    if not names:
        return columns, rows
    index = [[c[0] for c in columns].index(n) for n in names]
    rows = [[r[i] for i in index] for r in rows]
    if case.get("distinct"):
        seen, unique = set(), []
        for r in rows:
            if row_key(r) not in seen:
                seen.add(row_key(r))
                unique.append(r)
        rows = unique
    return [columns[i] for i in index], rows


def _param(case: dict):
    """A case; a documented gap (`known_gap`) is a strict xfail, so fixing it is noticed."""
    marks = [pytest.mark.xfail(reason=case["known_gap"], strict=True)] if case.get("known_gap") else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("endpoint", ["trino", "flight"])
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: dict, endpoint: str, trino_cursor, flight_conn, oracle_tables):
    want_columns = [[n, comparable_type(t)] for n, t in case["columns"]]
    run = run_trino if endpoint == "trino" else run_flight
    columns, rows = run(trino_cursor if endpoint == "trino" else flight_conn, case["sql"], [t for _, t in case["columns"]])
    columns = [[n, comparable_type(t)] for n, t in columns]
    what = f"{case['id']} on {endpoint} (source: {case['source']})"
    assert columns == want_columns, f"{what}: columns got {columns}, want {want_columns}"

    want = expected_rows(case, oracle_tables)
    if want is None:
        return
    _, rows = project(case, columns, rows)
    types = [parse_type(t) for _, t in case["columns"]]
    if case.get("project"):
        names = [c[0] for c in case["columns"]]
        types = [types[names.index(n)] for n in case["project"]]
    tol = float(case.get("tolerance", DEFAULT_TOLERANCE))

    if case.get("contains"):
        missing = [w for w in want if not any(rows_match([g], [w], types, tol) for g in rows)]
        assert not missing, f"{what}: rows missing {missing}\n  got: {rows[:50]}"
        return
    if not case.get("ordered"):
        rows = sorted(rows, key=row_key)
        want = sorted(want, key=row_key)
    assert rows_match(rows, want, types, tol), f"{what}: {first_difference(rows, want, types, tol)}"
