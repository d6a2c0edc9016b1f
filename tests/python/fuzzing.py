"""Fuzzing of both endpoints: generated and mutated SQL, and malformed
requests on the wire.

Used by `test_fuzz.py` (fixed seed, bounded count, in CI) and by
`benches/fuzz.py` (longer runs, random seed, against any running server).

What is generated:
- **SQL** from `hypothesis` strategies over the Trino subset Contango accepts
  (queries over the demo's `ticks` and `defects` with typed expressions,
  function calls, aggregates, windows, joins, set operations, CTEs,
  subqueries, metadata statements and session properties), plus **mutations
  of the compatibility corpus** (`tests/compat/corpus/*.json`): tokens
  deleted, repeated, swapped or replaced with extreme literals, statements
  truncated or wrapped in deep parentheses.
- **Trino HTTP**: garbage bodies, headers and paths on `/v1/statement`, and
  malformed HTTP (bad request lines, lengths, chunking) on a raw socket.
- **Flight**: garbage tickets, descriptors, Flight SQL commands with bad
  payloads, actions, handshakes, and DoPut streams with truncated or invalid
  Arrow IPC, sent as raw gRPC frames (`grpcio`, no Flight client in the way).

What every request must get (the *oracle*): a result, or a clear error — on
the Trino endpoint a JSON `error` with an `errorName`, an `errorType` other
than INTERNAL_ERROR and a message; on Flight a gRPC status other than OK and
INTERNAL with a message; on malformed
HTTP a 4xx response or a closed connection. Never a panic (`panicked at` in
the server's log, or "stopped unexpectedly"), never a 5xx other than 503, and
after every batch both endpoints answer `SELECT 1`.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

import helpers

CORPUS = Path(__file__).resolve().parents[1] / "compat" / "corpus"

# Trino's error types (`ErrorType`).
ERROR_TYPES = {"USER_ERROR", "INTERNAL_ERROR", "INSUFFICIENT_RESOURCES", "EXTERNAL"}

# Messages that mean something died instead of failing.
CRASH_MARKERS = ("panicked at", "stopped unexpectedly", "RUST_BACKTRACE")

# Each fuzzed query is bounded: nothing a generator writes may hold the server.
FUZZ_SESSION = "query_max_run_time=10s"


# --------------------------------------------------------------------------- #
# Outcomes
# --------------------------------------------------------------------------- #


@dataclass
class Outcome:
    """What one request got: ok, or the error's name and message."""

    endpoint: str
    request: str
    ok: bool
    error_name: str | None = None
    message: str = ""
    problem: str | None = None  # set when the answer breaks the oracle


@dataclass
class Tally:
    """Every outcome of a run, with the problems first."""

    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.problem]

    def summary(self) -> dict:
        names: dict[str, int] = {}
        for o in self.outcomes:
            key = f"{o.endpoint}:{'ok' if o.ok else o.error_name}"
            names[key] = names.get(key, 0) + 1
        return dict(sorted(names.items()))


def crash_marker(text: str) -> str | None:
    return next((m for m in CRASH_MARKERS if m in text), None)


# --------------------------------------------------------------------------- #
# Clients
# --------------------------------------------------------------------------- #


class TrinoHttp:
    """A bare Trino client-protocol client (keep-alive, follows `nextUri`)."""

    def __init__(self, http_addr: str, user: str, password: str | None, timeout: float = 60.0):
        self.host, port = http_addr.split(":")
        self.port = int(port)
        self.timeout = timeout
        self.headers = {
            "X-Trino-User": user,
            "X-Trino-Catalog": "iceberg",
            "X-Trino-Schema": "market",
            "X-Trino-Session": FUZZ_SESSION,
            "Content-Type": "text/plain; charset=utf-8",
        }
        if password is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def run(self, sql: str | bytes, headers: dict | None = None) -> tuple[int, dict | bytes]:
        """POSTs `sql` and follows `nextUri`: (HTTP status, the last JSON
        document with every page's rows as its `data`, or the raw body)."""
        body = sql.encode() if isinstance(sql, str) else sql
        status, raw = self._request("POST", "/v1/statement", body, {**self.headers, **(headers or {})})
        deadline = time.monotonic() + self.timeout
        rows: list = []
        while True:
            if status != 200:
                return status, raw
            doc = json.loads(raw)
            rows += doc.get("data") or []
            next_uri = doc.get("nextUri")
            if not next_uri or "error" in doc:
                if rows:
                    doc["data"] = rows
                return status, doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"no final answer within {self.timeout} s")
            path = next_uri.split(f"{self.host}:{self.port}", 1)[-1]
            status, raw = self._request("GET", path)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def trino_outcome(client: TrinoHttp, sql: str) -> Outcome:
    """Runs `sql` over the Trino protocol and judges the answer."""
    try:
        status, doc = client.run(sql)
    except Exception as e:  # noqa: BLE001 - a dropped connection or a hang is the finding
        return Outcome("trino", sql, False, None, str(e), f"no answer: {type(e).__name__}: {e}")
    if status != 200:
        return Outcome("trino", sql, False, None, repr(doc)[:300], f"HTTP {status} for a statement")
    error = doc.get("error")
    if error is None:
        return Outcome("trino", sql, True)
    name, kind, message = error.get("errorName"), error.get("errorType"), error.get("message") or ""
    outcome = Outcome("trino", sql, False, name, message)
    if not name or kind not in ERROR_TYPES or not message.strip():
        outcome.problem = f"unclear error: {error!r}"[:500]
    elif kind == "INTERNAL_ERROR":
        outcome.problem = f"internal error (a bug, not a clear error): {message[:300]}"
    elif marker := crash_marker(message):
        outcome.problem = f"crash marker {marker!r}: {message[:300]}"
    return outcome


def flight_outcome(conn, sql: str) -> Outcome:
    """Runs `sql` over Flight SQL (ADBC) and judges the answer."""
    try:
        helpers.query(conn, sql)
        return Outcome("flight", sql, True)
    except Exception as e:  # noqa: BLE001 - every failure is judged below
        text = str(e)
        code = helpers.status_name(e) or type(e).__name__
        outcome = Outcome("flight", sql, False, code, text)
        if not text.strip():
            outcome.problem = f"empty error ({code})"
        elif marker := crash_marker(text):
            outcome.problem = f"crash marker {marker!r}: {text[:300]}"
        elif "connection" in text.lower() and ("refused" in text.lower() or "reset" in text.lower()):
            outcome.problem = f"connection lost: {text[:300]}"
        elif "protocol error" in text:
            outcome.problem = f"the call died (its handler panicked?): {text[:300]}"
        elif grpc_code(text, code) in ("Internal", "Unknown", "INTERNAL", "UNKNOWN"):
            outcome.problem = f"internal error (a bug, not a clear error): {text[:300]}"
        return outcome


def grpc_code(text: str, adbc_status: str) -> str:
    """The gRPC status in an ADBC Flight SQL error ("... (ResourceExhausted;
    DoGet: ...)"); ADBC's own status where the text names none (ADBC maps
    several gRPC codes to its INTERNAL)."""
    found = re.findall(r"\((\w+); \w+", text)
    return found[-1] if found else adbc_status


def flight_session_kwargs() -> dict:
    return {"adbc.flight.sql.rpc.call_header.x-trino-session": FUZZ_SESSION}


# --------------------------------------------------------------------------- #
# Liveness
# --------------------------------------------------------------------------- #


def log_crash(log_path: Path | None, offset: int = 0) -> str | None:
    """The first crash marker in the server log past `offset`, with context."""
    if log_path is None:
        return None
    text = log_path.read_text(errors="replace")[offset:]
    for marker in CRASH_MARKERS:
        i = text.find(marker)
        if i >= 0:
            return text[max(0, i - 400): i + 800]
    return None


def assert_alive(http_addr: str, flight_uri: str, user: str, password: str | None, proc=None, log_path: Path | None = None, within: float = 10.0) -> None:
    """Both endpoints answer `SELECT 1` within `within` seconds; no panic logged."""
    if proc is not None:
        assert proc.poll() is None, f"the server exited with {proc.returncode}"
    started = time.monotonic()
    trino = TrinoHttp(http_addr, user, password, timeout=within)
    try:
        status, doc = trino.run("SELECT 1")
    finally:
        trino.close()
    assert status == 200 and doc.get("data") == [[1]], f"Trino SELECT 1: {status} {doc!r}"[:500]
    with helpers.adbc_connect(flight_uri, user, password) as conn:
        assert helpers.query(conn, "SELECT 1 AS x").to_pylist() == [{"x": 1}]
    elapsed = time.monotonic() - started
    assert elapsed < within, f"SELECT 1 on both endpoints took {elapsed:.1f} s"
    crash = log_crash(log_path)
    assert crash is None, f"panic in the server log:\n{crash}"


# --------------------------------------------------------------------------- #
# SQL generation (hypothesis)
# --------------------------------------------------------------------------- #

TABLES = {
    "ticks": {"commodity": "varchar", "ts": "timestamp", "price": "double", "volume": "bigint", "source": "varchar"},
    "defects": {"commodity": "varchar", "ts": "timestamp", "source": "varchar", "defect": "varchar", "detail": "varchar"},
}
TYPES = ("bigint", "double", "varchar", "boolean", "timestamp", "date", "decimal")

BIGINTS = [0, 1, -1, 2, 7, 10, 100, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1]
DOUBLES = ["0.0", "-0.0", "0.5", "1e308", "-1e308", "1e-308", "4.9e-324", "nan()", "infinity()", "-infinity()", "3.14159", "1E2"]
DECIMALS = ["DECIMAL '0.01'", "DECIMAL '-123456789.123456789'", "DECIMAL '99999999999999999999999999999999999999'", "12.50", "0.000"]
STRINGS = ["", "a", "WTI", "Brent", "%", "_", "\\", "''", "NaN", "2020-04-20", "-36.98", "\u00e9t\u00e9", "\U0001f600", "a\nb", "\u0000x", "[1,2]", '{"a": 1}', "   ", "x" * 300]
TIMESTAMPS = ["TIMESTAMP '2020-04-20 00:00:00'", "TIMESTAMP '1970-01-01 00:00:00.000001'", "TIMESTAMP '2262-04-11 23:47:16'",
              "TIMESTAMP '1677-09-21 00:12:44'", "TIMESTAMP '9999-12-31 23:59:59.999'", "TIMESTAMP '2020-03-08 02:30:00 America/New_York'",
              "current_timestamp", "localtimestamp"]
DATES = ["DATE '2020-04-20'", "DATE '0001-01-01'", "DATE '9999-12-31'", "DATE '1582-10-10'", "current_date"]
UNITS = ["'millisecond'", "'second'", "'minute'", "'hour'", "'day'", "'week'", "'month'", "'quarter'", "'year'", "'fortnight'"]
INTERVALS = ["INTERVAL '1' DAY", "INTERVAL '3' HOUR", "INTERVAL '2' MONTH", "INTERVAL '100000' DAY", "INTERVAL '-1' YEAR", "INTERVAL '0' SECOND"]
PATTERNS = ["'a'", "'(a|b)+'", "'\\d+'", "'^W'", "'[[:alpha:]]'", "'(?i)brent'", "'('", "'a{1000}'", "'(a*)*b'", "'.*'", "''"]
SESSION = {
    "batch_size": ["0", "1", "8192", "1048576", "1048577", "-5", "'x'"],
    "task_concurrency": ["1", "4", "0", "1025", "18446744073709551615"],
    "query_max_run_time": ["'1s'", "'0s'", "'forever'", "'10000d'", "'-1s'"],
    "query_max_execution_time": ["'2s'", "'1ms'"],
    "query_max_memory": ["'1MB'", "'1B'", "'1PB'", "'0B'", "'-1GB'"],
    "enable_dynamic_filtering": ["true", "false", "1"],
    "gpu": ["'auto'", "'off'", "'on'", "'maybe'"],
    "gpu_min_rows": ["0", "-1", "9223372036854775807"],
    "prefer_hash_join": ["true", "false"],
    "repartition_aggregations": ["true", "'no'"],
    "no_such_property": ["1"],
}

# name -> (result type, argument types); "any" takes any expression.
FUNCTIONS = {
    "abs": ("double", ["double"]), "round": ("double", ["double", "bigint"]), "floor": ("double", ["double"]),
    "ceil": ("double", ["double"]), "sqrt": ("double", ["double"]), "ln": ("double", ["double"]),
    "log10": ("double", ["double"]), "power": ("double", ["double", "double"]), "mod": ("bigint", ["bigint", "bigint"]),
    "sign": ("double", ["double"]), "truncate": ("double", ["double"]), "greatest": ("double", ["double", "double"]),
    "least": ("bigint", ["bigint", "bigint"]), "exp": ("double", ["double"]), "cbrt": ("double", ["double"]),
    "width_bucket": ("bigint", ["double", "double", "double", "bigint"]), "from_base": ("bigint", ["varchar", "bigint"]),
    "to_base": ("varchar", ["bigint", "bigint"]), "bitwise_and": ("bigint", ["bigint", "bigint"]),
    "length": ("bigint", ["varchar"]), "strpos": ("bigint", ["varchar", "varchar"]), "upper": ("varchar", ["varchar"]),
    "lower": ("varchar", ["varchar"]), "substr": ("varchar", ["varchar", "bigint", "bigint"]),
    "concat": ("varchar", ["varchar", "varchar"]), "replace": ("varchar", ["varchar", "varchar", "varchar"]),
    "lpad": ("varchar", ["varchar", "bigint", "varchar"]), "rpad": ("varchar", ["varchar", "bigint", "varchar"]),
    "reverse": ("varchar", ["varchar"]), "trim": ("varchar", ["varchar"]), "split_part": ("varchar", ["varchar", "varchar", "bigint"]),
    "repeat": ("varchar", ["varchar", "bigint"]), "chr": ("varchar", ["bigint"]), "codepoint": ("bigint", ["varchar"]),
    "to_hex": ("varchar", ["varbinary"]), "to_utf8": ("varbinary", ["varchar"]), "md5": ("varbinary", ["varbinary"]),
    "normalize": ("varchar", ["varchar"]), "levenshtein_distance": ("bigint", ["varchar", "varchar"]),
    "regexp_like": ("boolean", ["varchar", "pattern"]), "regexp_extract": ("varchar", ["varchar", "pattern", "bigint"]),
    "regexp_replace": ("varchar", ["varchar", "pattern", "varchar"]), "regexp_count": ("bigint", ["varchar", "pattern"]),
    "regexp_position": ("bigint", ["varchar", "pattern", "bigint"]), "regexp_split": ("array", ["varchar", "pattern"]),
    "json_extract_scalar": ("varchar", ["varchar", "jsonpath"]), "json_array_length": ("bigint", ["varchar"]),
    "json_parse": ("json", ["varchar"]), "format": ("varchar", ["fmt", "any"]),
    "date_trunc": ("timestamp", ["unit", "timestamp"]), "date_add": ("timestamp", ["unit", "bigint", "timestamp"]),
    "date_diff": ("bigint", ["unit", "timestamp", "timestamp"]), "date_format": ("varchar", ["timestamp", "datefmt"]),
    "format_datetime": ("varchar", ["timestamp", "datefmt"]), "from_unixtime": ("timestamp", ["double"]),
    "to_unixtime": ("double", ["timestamp"]), "year": ("bigint", ["timestamp"]), "month": ("bigint", ["timestamp"]),
    "day_of_week": ("bigint", ["timestamp"]), "hour": ("bigint", ["timestamp"]), "last_day_of_month": ("date", ["timestamp"]),
    "from_iso8601_timestamp": ("timestamp", ["varchar"]), "date_parse": ("timestamp", ["varchar", "datefmt"]),
    "at_timezone": ("timestamp", ["timestamp", "zone"]), "with_timezone": ("timestamp", ["timestamp", "zone"]),
    "sequence": ("array", ["bigint", "bigint"]), "cardinality": ("bigint", ["array"]), "array_max": ("bigint", ["array"]),
    "array_join": ("varchar", ["array", "varchar"]), "array_position": ("bigint", ["array", "bigint"]),
    "contains": ("boolean", ["array", "bigint"]), "element_at": ("bigint", ["array", "bigint"]),
    "array_distinct": ("array", ["array"]), "array_sort": ("array", ["array"]), "slice": ("array", ["array", "bigint", "bigint"]),
    "array_repeat": ("array", ["bigint", "bigint"]), "flatten": ("array", ["array"]), "array_resize": ("array", ["array", "bigint"]),
    "coalesce": ("double", ["double", "double"]), "nullif": ("bigint", ["bigint", "bigint"]),
    "typeof": ("varchar", ["any"]), "try": ("double", ["double"]), "if": ("bigint", ["boolean", "bigint", "bigint"]),
    "rand": ("double", []), "random": ("double", []), "pi": ("double", []), "e": ("double", []), "now": ("timestamp", []),
}
AGGREGATES = {
    "count": ("bigint", ["any"]), "sum": ("double", ["double"]), "avg": ("double", ["double"]), "min": ("double", ["double"]),
    "max": ("varchar", ["varchar"]), "stddev": ("double", ["double"]), "variance": ("double", ["double"]),
    "approx_distinct": ("bigint", ["any"]), "approx_percentile": ("double", ["double", "fraction"]),
    "arbitrary": ("varchar", ["varchar"]), "count_if": ("bigint", ["boolean"]), "bool_and": ("boolean", ["boolean"]),
    "max_by": ("varchar", ["varchar", "double"]), "min_by": ("timestamp", ["timestamp", "double"]),
    "array_agg": ("array", ["double"]), "listagg": ("varchar", ["varchar"]), "geometric_mean": ("double", ["double"]),
    "corr": ("double", ["double", "double"]), "checksum": ("varbinary", ["any"]), "histogram": ("map", ["varchar"]),
    "map_agg": ("map", ["varchar", "double"]), "vwap": ("double", ["double", "bigint"]), "twap": ("double", ["double", "timestamp"]),
}
WINDOWS = ["row_number()", "rank()", "dense_rank()", "percent_rank()", "ntile(4)", "lag(price)", "lead(price, 2)",
           "first_value(price)", "last_value(volume)", "sum(price)", "avg(price)", "count(*)", "nth_value(price, 3)",
           "zscore(price, INTERVAL '1' DAY, ts)", "zscore(price, INTERVAL '100000' DAY, ts)"]
FRAMES = ["", "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW", "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
          "RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW", "ROWS BETWEEN 5 FOLLOWING AND 2 FOLLOWING",
          "ROWS BETWEEN 9223372036854775807 PRECEDING AND CURRENT ROW"]


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _column(table: str, type_: str) -> list[str]:
    return [c for c, t in TABLES.get(table, {}).items() if t == type_]


def literal(type_: str) -> st.SearchStrategy[str]:
    """A literal of `type_` (with the edge values that broke things before)."""
    if type_ == "bigint":
        return st.one_of(st.sampled_from(BIGINTS), st.integers(-1000, 1000)).map(str) | st.just("-9223372036854775808")
    if type_ == "double":
        return st.sampled_from(DOUBLES) | st.floats(-1e6, 1e6, allow_nan=False).map(repr)
    if type_ == "decimal":
        return st.sampled_from(DECIMALS)
    if type_ == "varchar":
        return (st.sampled_from(STRINGS) | st.text(max_size=20)).map(
            lambda s: quote(s.replace("\x00", "")))
    if type_ == "boolean":
        return st.sampled_from(["TRUE", "FALSE", "NULL", "CAST(NULL AS boolean)"])
    if type_ == "timestamp":
        return st.sampled_from(TIMESTAMPS)
    if type_ == "date":
        return st.sampled_from(DATES)
    if type_ == "pattern":
        return st.sampled_from(PATTERNS)
    if type_ == "unit":
        return st.sampled_from(UNITS)
    if type_ == "fraction":
        return st.sampled_from(["0.5", "0.0", "1.0", "0.99", "1.5", "-0.1"])
    if type_ == "jsonpath":
        return st.sampled_from(["'$.a'", "'$[0]'", "'$'", "'$..x'", "'not a path'"])
    if type_ == "fmt":
        return st.sampled_from(["'%s'", "'%d'", "'%.2f'", "'%x %s'", "'%'"])
    if type_ == "datefmt":
        return st.sampled_from(["'%Y-%m-%d'", "'yyyy-MM-dd'", "'%H:%i:%s'", "''", "'%Q%'"])
    if type_ == "zone":
        return st.sampled_from(["'UTC'", "'America/New_York'", "'+05:30'", "'Mars/Olympus'", "''"])
    if type_ == "array":
        return st.sampled_from(["ARRAY[1, 2, 3]", "ARRAY[]", "sequence(1, 10)", "ARRAY[NULL, 2]", "ARRAY[ARRAY[1], ARRAY[2, 3]]"])
    if type_ == "varbinary":
        return st.sampled_from(["X'00ff'", "to_utf8('WTI')", "X''"])
    return st.sampled_from(["NULL", "1", "'x'", "1.5", "TRUE"])


@functools.lru_cache(maxsize=None)
def expression(table: str, type_: str, depth: int = 3) -> st.SearchStrategy[str]:
    """A scalar expression of (about) `type_` over `table`'s columns."""
    cols = _column(table, type_)
    leaves = [literal(type_)]
    if cols:
        leaves.append(st.sampled_from(cols))
    leaf = st.one_of(*leaves)
    if depth <= 0:
        return leaf

    def sub(t: str) -> st.SearchStrategy[str]:
        if t in TYPES:
            return expression(table, t, depth - 1)
        if t == "any":
            return st.sampled_from(TYPES).flatmap(lambda u: expression(table, u, depth - 1))
        return literal(t)

    calls = [
        st.tuples(*[sub(a) for a in args]).map(lambda xs, n=name: f"{n}({', '.join(xs)})")
        for name, (result, args) in FUNCTIONS.items()
        if result == type_ or (type_ == "double" and result == "bigint")
    ]
    composite = []
    if type_ in ("bigint", "double", "decimal"):
        composite.append(st.tuples(sub(type_), st.sampled_from(["+", "-", "*", "/", "%"]), sub(type_)).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"))
        composite.append(sub(type_).map(lambda x: f"-({x})"))
    if type_ == "varchar":
        composite.append(st.tuples(sub("varchar"), sub("varchar")).map(lambda t: f"({t[0]} || {t[1]})"))
    if type_ == "boolean":
        composite += [
            st.tuples(sub("double"), st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), sub("double")).map(" ".join),
            st.tuples(sub("boolean"), st.sampled_from(["AND", "OR"]), sub("boolean")).map(lambda t: f"({' '.join(t)})"),
            sub("boolean").map(lambda x: f"NOT ({x})"),
            st.tuples(sub("varchar"), literal("varchar")).map(lambda t: f"{t[0]} LIKE {t[1]}"),
            st.tuples(sub("double"), sub("double"), sub("double")).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
            st.tuples(sub("varchar"), st.lists(literal("varchar"), min_size=1, max_size=4)).map(
                lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
            sub("any").map(lambda x: f"{x} IS NULL"),
            sub("double").map(lambda x: f"{x} IS DISTINCT FROM 0"),
        ]
    if type_ == "timestamp":
        composite.append(st.tuples(sub("timestamp"), st.sampled_from(INTERVALS)).map(lambda t: f"({t[0]} + {t[1]})"))
    composite += [
        st.tuples(sub("any"), st.sampled_from(["bigint", "double", "varchar", "boolean", "timestamp", "date", "decimal(10,2)",
                                                "decimal(38,0)", "real", "integer", "smallint", "tinyint", "json", "varbinary"])).map(
            lambda t: f"CAST({t[0]} AS {t[1]})"),
        st.tuples(sub("any"), st.sampled_from(["bigint", "double", "varchar", "date"])).map(lambda t: f"TRY_CAST({t[0]} AS {t[1]})"),
        st.tuples(sub("boolean"), sub(type_), sub(type_)).map(lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"),
        sub(type_).map(lambda x: f"({x})"),
    ]
    return st.one_of(leaf, *calls, *composite)


@st.composite
def select_query(draw, depth: int = 2) -> str:
    """`SELECT ... FROM t [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT]`, or a join, set operation, CTE or subquery."""
    table = draw(st.sampled_from(sorted(TABLES)))
    shape = draw(st.sampled_from(["plain", "aggregate", "window", "join", "setop", "cte", "subquery", "values", "no_from"]))
    where = draw(st.none() | expression(table, "boolean", 2))
    where_sql = f" WHERE {where}" if where else ""
    limit = draw(st.sampled_from(["", " LIMIT 5", " LIMIT 0", " LIMIT 9223372036854775807", " OFFSET 3 LIMIT 2", " FETCH FIRST 3 ROWS ONLY"]))
    if shape == "plain":
        items = draw(st.lists(st.sampled_from(TYPES).flatmap(lambda t: expression(table, t, 2)), min_size=1, max_size=4))
        distinct = draw(st.sampled_from(["", "DISTINCT "]))
        order = draw(st.sampled_from(["", " ORDER BY 1", " ORDER BY 1 DESC NULLS FIRST", " ORDER BY 2"]))
        return f"SELECT {distinct}{', '.join(f'{x} AS c{i}' for i, x in enumerate(items))} FROM {table}{where_sql}{order}{limit}"
    if shape == "aggregate":
        group = draw(st.sampled_from(_column(table, "varchar")))
        aggs = []
        for name in draw(st.lists(st.sampled_from(sorted(AGGREGATES)), min_size=1, max_size=3)):
            _, args = AGGREGATES[name]
            parts = [draw(expression(table, a, 1) if a in TYPES else literal(a) if a != "any" else st.sampled_from(list(TABLES[table]) + ["*"]))
                     for a in args]
            distinct = draw(st.sampled_from(["", "", "DISTINCT "])) if parts and parts[0] != "*" else ""
            filt = draw(st.sampled_from(["", f" FILTER (WHERE {group} <> 'x')"]))
            aggs.append(f"{name}({distinct}{', '.join(parts)}){filt}")
        having = draw(st.sampled_from(["", " HAVING count(*) > 1", " HAVING sum(1) < 0"]))
        grouping = draw(st.sampled_from([f"GROUP BY {group}", f"GROUP BY ROLLUP({group})", f"GROUP BY CUBE({group}, 1)", "GROUP BY ()"]))
        return f"SELECT {group}, {', '.join(aggs)} FROM {table}{where_sql} {grouping}{having}{limit}"
    if shape == "window":
        fn = draw(st.sampled_from(WINDOWS))
        frame = draw(st.sampled_from(FRAMES)) if table == "ticks" else ""
        part = draw(st.sampled_from(["PARTITION BY commodity ", "", "PARTITION BY source, commodity "]))
        fn = fn if table == "ticks" or "price" not in fn and "volume" not in fn else "row_number()"
        return f"SELECT commodity, ts, {fn} OVER ({part}ORDER BY ts {frame}) AS w FROM {table}{where_sql}{limit or ' LIMIT 50'}"
    if shape == "join":
        kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "LEFT JOIN LATERAL", "ASOF JOIN"]))
        cond = draw(st.sampled_from(["a.commodity = d.commodity AND a.ts = d.ts", "a.ts = d.ts", "a.commodity = d.commodity AND a.ts >= d.ts",
                                     "a.source = d.source AND a.ts = d.ts", "USING (commodity, ts)"]))
        on = cond if cond.startswith("USING") else f"ON {cond}"
        return f"SELECT count(*), max(a.price), min(d.defect) FROM ticks a {kind} defects d {on}{limit}"
    if shape == "setop":
        op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "UNION DISTINCT", "EXCEPT ALL"]))
        a = draw(expression(table, "varchar", 1))
        b = draw(expression(table, draw(st.sampled_from(["varchar", "varchar", "bigint"])), 1))
        return f"SELECT {a} AS x FROM {table}{where_sql} {op} SELECT {b} FROM {table}{limit}"
    if shape == "cte":
        inner = draw(select_query(depth - 1)) if depth > 0 else f"SELECT * FROM {table}"
        return f"WITH q AS ({inner}) SELECT count(*) FROM q"
    if shape == "subquery":
        scalar = draw(st.sampled_from(["(SELECT max(price) FROM ticks)", "(SELECT price FROM ticks)", "(SELECT count(*) FROM defects)"]))
        pred = draw(st.sampled_from([f"commodity IN (SELECT commodity FROM defects)", "EXISTS (SELECT 1 FROM defects d WHERE d.ts = t.ts)",
                                     "NOT EXISTS (SELECT 1)", f"ts > ALL (SELECT ts FROM defects)"]))
        return f"SELECT {scalar} AS s, count(*) FROM ticks t WHERE {pred}{limit}"
    if shape == "values":
        n = draw(st.integers(1, 4))
        t = draw(st.sampled_from(TYPES))
        rows = [draw(literal(t)) for _ in range(n)]
        return f"SELECT * FROM (VALUES {', '.join(f'({r})' for r in rows)}) AS v(x){limit}"
    items = draw(st.lists(st.sampled_from(TYPES).flatmap(lambda t: expression("", t, 3)), min_size=1, max_size=3))
    return "SELECT " + ", ".join(items)


@st.composite
def other_statement(draw) -> str:
    """Metadata, session and explain statements."""
    table = draw(st.sampled_from(sorted(TABLES) + ["nope", "market.ticks", "iceberg.market.defects", "system.runtime.queries"]))
    kind = draw(st.sampled_from(["show", "describe", "session", "explain", "information_schema", "system", "prepare", "use"]))
    if kind == "show":
        return draw(st.sampled_from([
            "SHOW CATALOGS", "SHOW SCHEMAS", "SHOW SCHEMAS FROM iceberg", f"SHOW TABLES LIKE {draw(literal('varchar'))}",
            f"SHOW COLUMNS FROM {table}", f"SHOW CREATE TABLE {table}", f"SHOW STATS FOR {table}", "SHOW FUNCTIONS LIKE 'approx%'",
            "SHOW SESSION", f"SHOW STATS FOR (SELECT * FROM {table} WHERE 1 = 0)"]))
    if kind == "describe":
        return f"DESCRIBE {table}"
    if kind == "session":
        name = draw(st.sampled_from(sorted(SESSION)))
        return f"SET SESSION {name} = {draw(st.sampled_from(SESSION[name]))}" if draw(st.booleans()) else f"RESET SESSION {name}"
    if kind == "explain":
        prefix = draw(st.sampled_from(["EXPLAIN ", "EXPLAIN ANALYZE ", "EXPLAIN (TYPE LOGICAL) ", "EXPLAIN (TYPE DISTRIBUTED) ", "EXPLAIN (FORMAT JSON) "]))
        return prefix + draw(select_query(0))
    if kind == "information_schema":
        return draw(st.sampled_from([
            "SELECT table_name FROM information_schema.tables", "SELECT * FROM information_schema.columns WHERE table_name = 'ticks'",
            "SELECT * FROM information_schema.schemata", "SELECT * FROM system.jdbc.types", "SELECT * FROM system.metadata.catalogs"]))
    if kind == "system":
        return draw(st.sampled_from([
            "SELECT count(*) FROM system.runtime.queries", "SELECT * FROM system.runtime.nodes",
            "CALL system.runtime.kill_query(query_id => 'nope', message => 'x')", "SELECT * FROM \"ticks$snapshots\"",
            "SELECT * FROM \"ticks$files\"", "SELECT * FROM \"ticks$history\"", "SELECT * FROM \"nope$files\""]))
    if kind == "prepare":
        inner = draw(select_query(0))
        return draw(st.sampled_from([f"PREPARE p FROM {inner}", "EXECUTE p", "DEALLOCATE PREPARE p", "DESCRIBE OUTPUT p",
                                     f"EXECUTE IMMEDIATE {quote(inner)}", f"EXECUTE IMMEDIATE 'SELECT ?' USING {draw(literal('double'))}"]))
    return draw(st.sampled_from(["USE iceberg.market", "USE nope", "USE system.runtime", "START TRANSACTION", "COMMIT", "ROLLBACK"]))


def statement() -> st.SearchStrategy[str]:
    """Any generated statement."""
    return st.one_of(select_query(), select_query(), select_query(), other_statement())


# --------------------------------------------------------------------------- #
# Corpus mutations
# --------------------------------------------------------------------------- #

TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\w+|\|\||<>|<=|>=|!=|\S|\s+")
EXTREME = ["0", "-1", "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1e309", "NULL", "''",
           "'\U0001f600'", "NaN", "0.0000000000000000000000000000000000001", "99999999999999999999999999999999999999999"]
KEYWORDS = ["SELECT", "FROM", "WHERE", "(", ")", ",", "AND", "NOT", "NULL", "UNION", "JOIN", "OVER", "CAST", "AS", "'", '"',
            ";", "--", "/*", "?", "$1", "ARRAY[", "ROW(", "LATERAL", "UNNEST", "GROUP BY", "ORDER BY", "\u0000", "\\"]


def corpus_statements() -> list[str]:
    """Every statement of the compatibility corpus (sorted: a fixed seed stays fixed)."""
    out = set()
    for path in sorted(CORPUS.glob("*.json")):
        for case in json.loads(path.read_text()):
            out.add(case["sql"])
    return sorted(out)


@st.composite
def mutated(draw, statements: list[str]) -> str:
    """A corpus statement with one to three mutations."""
    tokens = TOKEN.findall(draw(st.sampled_from(statements)))
    for _ in range(draw(st.integers(1, 3))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "repeat", "swap", "extreme", "keyword", "truncate", "nest", "case", "unicode"]))
        if op == "delete":
            del tokens[i]
        elif op == "repeat":
            tokens[i:i] = [tokens[i]] * draw(st.integers(1, 50))
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "extreme":
            numeric = [k for k, t in enumerate(tokens) if t[0].isdigit() or t.startswith("'")]
            k = draw(st.sampled_from(numeric)) if numeric else i
            tokens[k] = draw(st.sampled_from(EXTREME))
        elif op == "keyword":
            tokens.insert(i, " " + draw(st.sampled_from(KEYWORDS)) + " ")
        elif op == "truncate":
            tokens = tokens[:i]
        elif op == "nest":
            n = draw(st.integers(1, 300))
            tokens[i] = "(" * n + tokens[i] + ")" * n
        elif op == "case":
            tokens[i] = tokens[i].swapcase()
        else:
            tokens.insert(i, draw(st.text(min_size=1, max_size=5)))
    sql = "".join(tokens).replace("\x00", "")
    return sql if sql.strip() else "SELECT"


# --------------------------------------------------------------------------- #
# Trino HTTP protocol fuzzing
# --------------------------------------------------------------------------- #

HEADERS = ["X-Trino-User", "X-Trino-Catalog", "X-Trino-Schema", "X-Trino-Session", "X-Trino-Time-Zone", "X-Trino-Language",
           "X-Trino-Prepared-Statement", "X-Trino-Client-Tags", "X-Trino-Client-Capabilities", "X-Trino-Role",
           "X-Trino-Extra-Credential", "X-Trino-Transaction-Id", "X-Trino-Source", "X-Trino-Trace-Token", "Authorization",
           "X-Forwarded-Proto", "Host", "Content-Type", "Accept-Encoding", "X-Trino-Resource-Estimate"]
HEADER_VALUES = ["", "x", "=", ",,,", "a=b=c", "%zz", "%ff%fe", "query_max_run_time=1s,batch_size=0", "p=SELECT%20?",
                 "p=%E2%82", "Basic !!!", "Bearer x", "Basic " + base64.b64encode(b"alice:").decode(), "x" * 20000,
                 "gzip, br, zstd", "America/Nowhere", "+25:00", "1; DROP TABLE ticks", "\t", "ticks$files", "NONE"]
PATHS = ["/v1/statement", "/v1/statement/executing/x/y/1", "/v1/statement/queued/20261203_000000_00000_xxxxx/abc/0",
         "/v1/statement/executing/../../../etc/passwd", "/v1/statement/executing/%00/%ff/-1", "/v1/query", "/v1/query/x",
         "/v1/info", "/v1/info/state", "/v1/thread", "/ui/", "/metrics", "/healthz", "/v1/statement/executing/a/b/18446744073709551616",
         "/" + "a/" * 2000, "/v1/spooled/download/x", "//", "/%2e%2e/%2e%2e/", "/v1/statement?x=" + "%" * 50]
METHODS = ["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "TRACE", "BREW"]


@st.composite
def http_request(draw, user: str, password: str | None) -> tuple[str, str, dict, bytes]:
    """A well-formed HTTP request with fuzzed method, path, headers and body."""
    method = draw(st.sampled_from(METHODS + ["POST"] * 4))
    path = draw(st.sampled_from(PATHS + ["/v1/statement"] * 4))
    headers = {"X-Trino-User": user}
    if password is not None and draw(st.integers(0, 4)):
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    for name in draw(st.lists(st.sampled_from(HEADERS), max_size=4)):
        headers[name] = draw(st.sampled_from(HEADER_VALUES) | st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
    body = draw(st.one_of(
        st.binary(max_size=200),
        statement().map(str.encode),
        st.sampled_from([b"", b"\xff\xfe\x00", "SELECT '\u00e9'".encode("latin-1"), b"SELECT 1" * 50000, b"{\"sql\": 1}"]),
    ))
    return method, path, headers, body


def http_outcome(http_addr: str, request: tuple[str, str, dict, bytes], timeout: float = 30.0) -> Outcome:
    """Sends one fuzzed request; any answer below 500 (or 503) is clear."""
    method, path, headers, body = request
    host, port = http_addr.split(":")
    desc = f"{method} {path[:80]} headers={ {k: v[:40] for k, v in headers.items()} } body={body[:60]!r}"
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v.encode("latin-1", "replace"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        status, raw = response.status, response.read()
    except (ConnectionError, http.client.RemoteDisconnected) as e:
        # A closed connection is a fair answer to an oversized or unreadable request.
        return Outcome("http", desc, False, "closed", str(e))
    except Exception as e:  # noqa: BLE001 - a hang is the finding
        return Outcome("http", desc, False, None, str(e), f"no answer: {type(e).__name__}: {e}")
    finally:
        conn.close()
    outcome = Outcome("http", desc, status < 400, str(status), raw[:200].decode(errors="replace"))
    if status >= 500 and status != 503:
        outcome.problem = f"HTTP {status}: {raw[:300]!r}"
    elif marker := crash_marker(raw.decode(errors="replace")):
        outcome.problem = f"crash marker {marker!r}"
    return outcome


RAW_HTTP = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nSELECT 1",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nSELECT 1",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSELECT 1",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nSELECT 1\r\n0\r\n\r\n",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSELECT 1\r\n",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nX-Trino-User alice\r\n\r\n",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nX-Trino-User: \xff\xfe\r\nContent-Length: 8\r\n\r\nSELECT 1",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nX-Trino-User: a\x00b\r\nContent-Length: 8\r\n\r\nSELECT 1",
    b"POST /v1/statement HTTP/1.1\r\n" + b"X-Trino-Session: a=b\r\n" * 2000 + b"\r\n",
    b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nSELECT 1" * 3,
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # a TLS ClientHello on plain HTTP
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + b"\xff" * 18,
    b"GET /v1/statement/executing/" + b"\xff" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


def raw_http_outcome(http_addr: str, data: bytes, timeout: float = 30.0) -> Outcome:
    """Sends raw bytes, half-closes, and reads the answer: a status line below
    500 (or 503), or a closed connection."""
    host, port = http_addr.split(":")
    desc = f"raw {data[:80]!r}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except (ConnectionResetError, BrokenPipeError) as e:
        return Outcome("raw-http", desc, False, "closed", str(e))
    except Exception as e:  # noqa: BLE001 - a hang is the finding
        return Outcome("raw-http", desc, False, None, str(e), f"no answer: {type(e).__name__}: {e}")
    answer = b"".join(chunks)
    if not answer:
        return Outcome("raw-http", desc, False, "closed")
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3})", answer)]
    outcome = Outcome("raw-http", desc, bool(statuses) and statuses[0] < 400, ",".join(map(str, statuses)) or "garbage",
                      answer[:200].decode(errors="replace"))
    if any(s >= 500 and s != 503 for s in statuses):
        outcome.problem = f"5xx answer: {answer[:300]!r}"
    elif not statuses and not answer.startswith(b"\x00"):
        # HTTP/2 preface answers with frames; anything else must be HTTP/1.
        outcome.problem = f"no HTTP status in the answer: {answer[:200]!r}"
    return outcome


# --------------------------------------------------------------------------- #
# Flight protocol fuzzing (raw gRPC)
# --------------------------------------------------------------------------- #

FLIGHT = "/arrow.flight.protocol.FlightService/"
SQL_COMMANDS = ["CommandStatementQuery", "CommandStatementUpdate", "CommandPreparedStatementQuery", "CommandPreparedStatementUpdate",
                "CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables", "CommandGetTableTypes", "CommandGetPrimaryKeys",
                "CommandGetExportedKeys", "CommandGetImportedKeys", "CommandGetCrossReference", "CommandGetSqlInfo",
                "CommandGetXdbcTypeInfo", "CommandStatementIngest", "CommandStatementSubstraitPlan", "TicketStatementQuery",
                "ActionCreatePreparedStatementRequest", "NoSuchCommand"]
ACTIONS = ["CreatePreparedStatement", "ClosePreparedStatement", "CancelQuery", "CancelFlightInfo", "RenewFlightEndpoint",
           "BeginTransaction", "EndTransaction", "BeginSavepoint", "EndSavepoint", "CreatePreparedSubstraitPlan",
           "SetSessionOptions", "GetSessionOptions", "CloseSession", "", "x" * 1000]


def pb_fuzz_payload() -> st.SearchStrategy[bytes]:
    """Protobuf-ish bytes: random, or fields with random numbers, wire types and lengths."""
    field_ = st.tuples(st.integers(1, 20), st.sampled_from([0, 1, 2, 5, 3, 7]), st.binary(max_size=40)).map(
        lambda t: helpers.pb_varint((t[0] << 3) | t[1]) + (helpers.pb_varint(len(t[2])) if t[1] == 2 else b"") + t[2])
    lying = st.tuples(st.integers(1, 5), st.integers(0, 2**40)).map(
        lambda t: helpers.pb_varint((t[0] << 3) | 2) + helpers.pb_varint(t[1]) + b"abc")
    return st.one_of(st.binary(max_size=100), st.lists(field_, max_size=5).map(b"".join), lying,
                     st.just(helpers.pb_varint(2**63)), statement().map(lambda s: helpers.pb_bytes_field(1, s.encode())))


@st.composite
def flight_command(draw) -> bytes:
    """An `Any`-wrapped Flight SQL command with a fuzzed payload, or raw bytes."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=80))
    name = draw(st.sampled_from(SQL_COMMANDS))
    return helpers.sql_any(name, draw(pb_fuzz_payload()))


def descriptor(cmd: bytes, path: list[bytes] | None = None) -> bytes:
    if path is not None:
        return helpers.pb_varint(1 << 3) + helpers.pb_varint(1) + b"".join(helpers.pb_bytes_field(3, p) for p in path)
    return helpers.pb_varint(1 << 3) + helpers.pb_varint(2) + helpers.pb_bytes_field(2, cmd)


def ipc_schema_message() -> bytes:
    """A valid Arrow IPC schema message (flatbuffer) for one int64 column `x`, without its framing."""
    import pyarrow as pa

    return pa.schema([("x", pa.int64())]).serialize().to_pybytes()


@st.composite
def flight_call(draw) -> tuple[str, str, list[bytes]]:
    """(kind, method, request messages) for one raw gRPC call."""
    kind = draw(st.sampled_from(["DoGet", "GetFlightInfo", "GetSchema", "DoAction", "DoPut", "Handshake", "ListFlights",
                                 "PollFlightInfo", "DoExchange", "DoPut", "DoGet"]))
    if kind == "DoGet":
        ticket = draw(st.one_of(flight_command(), st.binary(max_size=60),
                                st.binary(min_size=1, max_size=40).map(lambda h: helpers.sql_any("TicketStatementQuery", helpers.pb_bytes_field(1, h)))))
        return kind, "unary_stream", [helpers.pb_bytes_field(1, ticket)]
    if kind in ("GetFlightInfo", "GetSchema", "PollFlightInfo"):
        if draw(st.integers(0, 6)) == 0:
            return kind, "unary_unary", [descriptor(b"", draw(st.lists(st.binary(max_size=20), max_size=3)))]
        if draw(st.integers(0, 6)) == 0:
            return kind, "unary_unary", [draw(st.binary(max_size=60))]
        return kind, "unary_unary", [descriptor(draw(flight_command()))]
    if kind == "DoAction":
        name = draw(st.sampled_from(ACTIONS))
        body = draw(st.one_of(pb_fuzz_payload(), flight_command()))
        return kind, "unary_stream", [helpers.pb_bytes_field(1, name.encode()) + helpers.pb_bytes_field(2, body)]
    if kind == "Handshake":
        return kind, "stream_stream", [draw(st.binary(max_size=60)) for _ in range(draw(st.integers(0, 3)))]
    if kind == "ListFlights":
        return kind, "unary_stream", [helpers.pb_bytes_field(1, draw(st.binary(max_size=40)))]
    # DoPut / DoExchange: a descriptor, then IPC messages that are garbage, truncated or out of order.
    first = helpers.pb_bytes_field(1, descriptor(draw(st.sampled_from([
        helpers.sql_any("CommandStatementUpdate", helpers.pb_bytes_field(1, b"INSERT INTO ticks VALUES (1)")),
        helpers.sql_any("CommandStatementIngest", helpers.pb_bytes_field(2, b"fuzz_ingest")),
        helpers.sql_any("CommandPreparedStatementQuery", helpers.pb_bytes_field(1, b"no-such-handle")),
        helpers.sql_any("CommandStatementQuery", helpers.pb_bytes_field(1, b"SELECT 1")),
        b"garbage",
    ]))))
    schema = ipc_schema_message()
    messages = [first]
    for _ in range(draw(st.integers(0, 4))):
        cut = draw(st.integers(0, len(schema)))
        header = draw(st.sampled_from([schema, schema[:cut], schema[cut:], b"", bytes(16)]) | st.binary(max_size=64))
        body = draw(st.binary(max_size=64))
        messages.append(helpers.pb_bytes_field(2, header) + helpers.pb_bytes_field(1000, body))
    if draw(st.booleans()):
        messages.append(draw(st.binary(max_size=50)))
    return kind, "stream_stream", messages


class RawFlight:
    """Raw gRPC calls on the Flight port (bytes in, bytes out)."""

    def __init__(self, flight_addr: str, token: tuple[bytes, bytes] | None):
        import grpc

        self.grpc = grpc
        self.channel = grpc.insecure_channel(flight_addr, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.metadata = [(token[0].decode(), token[1].decode())] if token else []

    def call(self, kind: str, style: str, messages: list[bytes], timeout: float = 30.0) -> Outcome:
        grpc = self.grpc
        ident = lambda b: b  # noqa: E731
        desc = f"{kind} {[m[:60] for m in messages]!r}"[:400]
        try:
            if style == "unary_unary":
                self.channel.unary_unary(FLIGHT + kind, request_serializer=ident, response_deserializer=ident)(
                    messages[0], timeout=timeout, metadata=self.metadata)
            elif style == "unary_stream":
                for _ in self.channel.unary_stream(FLIGHT + kind, request_serializer=ident, response_deserializer=ident)(
                        messages[0], timeout=timeout, metadata=self.metadata):
                    pass
            else:
                for _ in self.channel.stream_stream(FLIGHT + kind, request_serializer=ident, response_deserializer=ident)(
                        iter(messages), timeout=timeout, metadata=self.metadata):
                    pass
            return Outcome("flight-raw", desc, True)
        except grpc.RpcError as e:
            code, details = e.code(), e.details() or ""
            outcome = Outcome("flight-raw", desc, False, code.name, details)
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED,):
                outcome.problem = f"no answer within {timeout} s"
            elif code == grpc.StatusCode.UNAVAILABLE:
                outcome.problem = f"server unavailable: {details}"
            elif code == grpc.StatusCode.UNKNOWN and not details:
                outcome.problem = "UNKNOWN status without a message"
            elif marker := crash_marker(details):
                outcome.problem = f"crash marker {marker!r}: {details[:300]}"
            return outcome

    def close(self) -> None:
        self.channel.close()


def flight_token(flight_uri: str, user: str, password: str | None):
    """The bearer header a Basic handshake hands back (None without auth)."""
    if password is None:
        return None
    import pyarrow.flight as flight

    client = flight.FlightClient(flight_uri)
    try:
        return client.authenticate_basic_token(user, password)
    finally:
        client.close()
