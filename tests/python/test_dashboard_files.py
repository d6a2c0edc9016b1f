"""The dashboards shipped in deploy/, run against a demo server the way their
tools run them.

- deploy/grafana/contango.json (Grafana: Trino data source plugin + Prometheus).
  Every `rawSQL` target and Trino variable query is interpolated as Grafana's
  frontend does it (multi-value and All variables quoted and comma-joined,
  the plugin's `interpolateQueryStr`), its macros are expanded exactly as the
  plugin's backend formats them (pkg/trino/macros.go of trinodb/grafana-trino:
  `$__timeFilter`, `$__timeGroup`, `$__timeFrom`, `$__timeTo`, `$__dateFilter`,
  `$__unixEpochFilter`, `$__unixEpochGroup`, `$__parseTime`) over the panel's
  time range (the dashboard's, or the panel's relative `timeFrom`), and the SQL
  goes through the Trino protocol with the `trino` client, as the plugin's Go
  client does. Every Prometheus `expr` (and `label_values` variable) may only
  select metrics that /metrics exports, with a sample that satisfies its label
  matchers.
- deploy/superset/contango_dashboard/ (a Superset export bundle). Every virtual
  dataset's SQL runs through SQLAlchemy's `trino` dialect with the bundle's
  database URI (host and port replaced; the dataset's schema in the URI as
  Superset's Trino engine spec puts it), and every chart's query as Superset
  builds it over its dataset (`FROM (<sql>) AS virtual_table`, Superset's Trino
  time grains, identifiers quoted by the dialect).

Each query must succeed and return at least one row.

The server: a fresh demo market (`contango demo --no-serve`, its own catalog so
that the session's market catalog keeps only its own tables) served with auth
off and a `[[streams]]` entry reading a Kafka topic into
iceberg.market.live_ticks with 1-minute bars, fed with four minutes of ticks
ending now and three messages the stream rejects.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import urllib.request
import uuid as uuidlib
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import DEMO_ROWS, run_contango, start_contango, stop_process, wait_for
from test_dashboards import SUPERSET_GRAINS
from test_kafka_streams import produce, stream_config

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_FILE = ROOT / "deploy" / "grafana" / "contango.json"
SUPERSET_DIR = ROOT / "deploy" / "superset" / "contango_dashboard"

TRINO_PLUGIN = "trino-datasource"
PROMETHEUS = "prometheus"


# --------------------------------------------------------------------------- #
# Reading the files
# --------------------------------------------------------------------------- #


def load_yaml(path: Path):
    """PyYAML, the loader Superset itself uses."""
    import yaml

    return yaml.safe_load(path.read_text())


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


GRAFANA = json.loads(GRAFANA_FILE.read_text())
GRAFANA_VARIABLES = {v["name"]: v for v in GRAFANA.get("templating", {}).get("list", [])}


def datasource_type(ref) -> str | None:
    """The plugin type a datasource reference resolves to (through a
    datasource variable such as `${trino}`)."""
    if ref is None:
        return None
    uid, typ = (ref, None) if isinstance(ref, str) else (ref.get("uid"), ref.get("type"))
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid or "")
    if m and GRAFANA_VARIABLES.get(m.group(1), {}).get("type") == "datasource":
        return GRAFANA_VARIABLES[m.group(1)]["query"]
    return typ


def grafana_targets(kind: str) -> dict[str, tuple[dict, dict]]:
    """'panel title [refId]' -> (panel, target) for the targets of one data source type."""
    out = {}
    for p in all_panels(GRAFANA["panels"]):
        for t in p.get("targets", []):
            if datasource_type(t.get("datasource") or p.get("datasource")) == kind:
                key = f"{p['title']} [{t['refId']}]"
                assert key not in out, f"two {kind} targets are named {key}"
                out[key] = (p, t)
    return out


TRINO_TARGETS = grafana_targets(TRINO_PLUGIN)
PROM_TARGETS = grafana_targets(PROMETHEUS)
TRINO_VARIABLES = {n: v for n, v in GRAFANA_VARIABLES.items()
                   if v["type"] == "query" and datasource_type(v.get("datasource")) == TRINO_PLUGIN}
PROM_VARIABLES = {n: v for n, v in GRAFANA_VARIABLES.items()
                  if v["type"] == "query" and datasource_type(v.get("datasource")) == PROMETHEUS}


def variable_query(v) -> str:
    q = v["query"]
    if isinstance(q, dict):  # TrinoQuery {rawSQL}, StandardVariableQuery {query}, Prometheus {query, qryType}
        q = q.get("rawSQL") or q.get("query")
    return q


SUPERSET_METADATA = load_yaml(SUPERSET_DIR / "metadata.yaml")
SUPERSET_DATABASES = [load_yaml(p) for p in sorted((SUPERSET_DIR / "databases").glob("*.yaml"))]
SUPERSET_DATASETS = {d["table_name"]: d for d in (load_yaml(p) for p in sorted((SUPERSET_DIR / "datasets").rglob("*.yaml")))}
SUPERSET_CHARTS = {c["slice_name"]: c for c in (load_yaml(p) for p in sorted((SUPERSET_DIR / "charts").glob("*.yaml")))}
SUPERSET_DASHBOARDS = [load_yaml(p) for p in sorted((SUPERSET_DIR / "dashboards").glob("*.yaml"))]
DATASET_BY_UUID = {d["uuid"]: d for d in SUPERSET_DATASETS.values()}


# --------------------------------------------------------------------------- #
# Grafana: time ranges, variables, the Trino plugin's macros
# --------------------------------------------------------------------------- #

UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)'?\s*", text)
    assert m, f"not a Grafana duration: {text!r}"
    return float(m.group(1)) * UNIT_SECONDS[m.group(2)]


def grafana_time(text: str, now: dt.datetime) -> dt.datetime:
    if text == "now":
        return now
    m = re.fullmatch(r"now-(.+)", text)
    if m:
        return now - dt.timedelta(seconds=duration_seconds(m.group(1)))
    if re.fullmatch(r"\d+", text):
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.timezone.utc)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def panel_time_range(panel: dict, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The panel's relative time override (`timeFrom`), else the dashboard's range."""
    if panel.get("timeFrom"):
        return now - dt.timedelta(seconds=duration_seconds(panel["timeFrom"].removeprefix("now-"))), now
    return grafana_time(GRAFANA["time"]["from"], now), grafana_time(GRAFANA["time"]["to"], now)


NICE_INTERVALS = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400]


def auto_interval(frm: dt.datetime, to: dt.datetime, max_data_points: int = 1000) -> str:
    """`$__interval`: the range over the panel's data points, rounded up to a round interval."""
    raw = (to - frm).total_seconds() / max_data_points
    secs = next((n for n in NICE_INTERVALS if n >= raw), NICE_INTERVALS[-1])
    for unit in ("w", "d", "h", "m", "s"):
        if secs % UNIT_SECONDS[unit] == 0:
            return f"{int(secs // UNIT_SECONDS[unit])}{unit}"
    raise AssertionError(secs)


VARIABLE_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def interpolate(text: str, values: dict[str, str]) -> str:
    """Grafana's template variable syntaxes; unknown names (the plugin's
    `$__macros`) are left for the backend."""
    def sub(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))
    return VARIABLE_RE.sub(sub, text)


def trino_variable_value(variable: dict, options: list[str]) -> str:
    """The variable's current selection formatted as the plugin's
    interpolateQueryStr formats it."""
    current = (variable.get("current") or {}).get("value")
    selected = current if isinstance(current, list) else [current] if current else []
    if "$__all" in selected:
        selected = options
    else:
        selected = [v for v in selected if v in options] or options[:1]
    if variable.get("multi") or variable.get("includeAll"):
        return ",".join("'" + v.replace("'", "''") + "'" for v in selected)
    return selected[0].replace("'", "''")


def go_float(x: float) -> str:
    """Go's `%v` of a float64 (the plugin formats the group interval with it)."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    t = Decimal(repr(abs(float(x)))).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    point = len(digits) + t.exponent
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


TIMESTAMP_FORMAT = "'yyyy-MM-dd HH:mm:ss'"


def _utc(t: dt.datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return t.astimezone(dt.timezone.utc).strftime(fmt)


def _parse_time(target: str, fmt: str) -> str:
    if fmt == "":
        return target
    if fmt == TIMESTAMP_FORMAT:
        return f"TIMESTAMP {target}"
    return f"parse_datetime({target},{fmt})"


def _time_group(args, epoch: bool) -> str:
    assert len(args) >= 2, "macro $__timeGroup needs time column and interval"
    secs = go_float(duration_seconds(args[1].strip("'")))
    col = _parse_time(args[0], args[2]) if len(args) == 3 else args[0]
    inner = col if epoch else f"TO_UNIXTIME({col})"
    return f"FROM_UNIXTIME(FLOOR({inner}/{secs})*{secs})"


MACROS = {
    "timeFilter": lambda a, f, t: f"{_parse_time(a[0], a[1] if len(a) > 1 else '')} BETWEEN TIMESTAMP '{_utc(f)}' AND TIMESTAMP '{_utc(t)}'",
    "timeFrom": lambda a, f, t: f"TIMESTAMP '{_utc(f)}'",
    "timeTo": lambda a, f, t: f"TIMESTAMP '{_utc(t)}'",
    "timeGroup": lambda a, f, t: _time_group(a, epoch=False),
    "unixEpochGroup": lambda a, f, t: _time_group(a, epoch=True),
    "dateFilter": lambda a, f, t: f"{a[0]} BETWEEN date '{_utc(f, '%Y-%m-%d')}' AND date '{_utc(t, '%Y-%m-%d')}'",
    "unixEpochFilter": lambda a, f, t: f"{a[0]} BETWEEN {int(f.timestamp())} AND {int(t.timestamp())}",
    "parseTime": lambda a, f, t: _parse_time(a[0], a[1] if len(a) > 1 else TIMESTAMP_FORMAT),
}


def _split_args(text: str) -> list[str]:
    args, depth, quote, cur = [], 0, False, ""
    for c in text:
        if c == "'":
            quote = not quote
        elif not quote and c == "(":
            depth += 1
        elif not quote and c == ")":
            depth -= 1
        elif not quote and depth == 0 and c == ",":
            args.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        args.append(cur.strip())
    return args


def expand_macros(sql: str, frm: dt.datetime, to: dt.datetime) -> str:
    """The plugin's backend (sqlds) macro expansion."""
    out, i = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < i:
            continue
        name = m.group(1)
        assert name in MACROS, f"the Trino plugin has no macro $__{name}"
        end, args = m.end(), []
        if end < len(sql) and sql[end] == "(":
            depth, k = 0, end
            while True:
                assert k < len(sql), f"unbalanced $__{name}(...)"
                depth += {"(": 1, ")": -1}.get(sql[k], 0)
                if depth == 0:
                    break
                k += 1
            args, end = _split_args(sql[end + 1:k]), k + 1
        out += [sql[i:m.start()], MACROS[name](args, frm, to)]
        i = end
    out.append(sql[i:])
    return "".join(out)


def grafana_sql(panel: dict, raw_sql: str, variables: dict[str, str]) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    frm, to = panel_time_range(panel, now)
    values = dict(variables)
    values["__interval"] = panel.get("interval") or auto_interval(frm, to, panel.get("maxDataPoints") or 1000)
    values["__interval_ms"] = str(int(duration_seconds(values["__interval"]) * 1000))
    return expand_macros(interpolate(raw_sql, values), frm, to)


# --------------------------------------------------------------------------- #
# Prometheus: selectors of an expression, samples of the exposition
# --------------------------------------------------------------------------- #

LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
BINARY_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}
MATCHER_RE = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?\s*')


def _matchers(expr: str, i: int) -> tuple[list[tuple[str, str, str]], int]:
    assert expr[i] == "{"
    i += 1
    out = []
    while expr[i] != "}":
        m = MATCHER_RE.match(expr, i)
        assert m, f"bad label matcher at {expr[i:]!r}"
        out.append((m.group(1), m.group(2), m.group(3)))
        i = m.end()
    return out, i + 1


def prom_selectors(expr: str) -> list[tuple[str | None, list[tuple[str, str, str]]]]:
    """(metric name, label matchers) of every vector selector in a PromQL expression."""
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            i = j + 1
        elif c == "[":
            i = expr.index("]", i) + 1
        elif c == "{":
            matchers, i = _matchers(expr, i)
            name = next((v for label, op, v in matchers if label == "__name__" and op == "="), None)
            out.append((name, [m for m in matchers if m[0] != "__name__"]))
        elif c.isalpha() or c in "_:":
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in "_:"):
                j += 1
            word, k = expr[i:j], j
            while k < n and expr[k].isspace():
                k += 1
            if word in LABEL_LIST_KEYWORDS:
                i = expr.index(")", k) + 1 if k < n and expr[k] == "(" else j
            elif word.lower() in BINARY_KEYWORDS | AGGREGATIONS or (k < n and expr[k] == "("):
                i = j  # an operator, aggregation or function call: its arguments are scanned next
            else:
                matchers = []
                if k < n and expr[k] == "{":
                    matchers, j = _matchers(expr, k)
                out.append((word, matchers))
                i = j
        elif c.isdigit() or c == ".":
            j = i + 1
            while j < n and (expr[j].isalnum() or expr[j] in "._" or (expr[j] in "+-" and expr[j - 1] in "eE")):
                j += 1
            i = j
        else:
            i += 1
    return out


PROM_BUILTINS = {"__rate_interval": "1m", "__interval": "1m", "__interval_ms": "60000", "__range": "1h",
                 "__range_s": "3600", "__range_ms": "3600000"}


def prom_interpolate(expr: str) -> str:
    """Grafana's variables in a PromQL expression: the builtins, and every
    dashboard variable as its All value (`.*`)."""
    return VARIABLE_RE.sub(lambda m: PROM_BUILTINS.get(m.group(1) or m.group(2) or m.group(3), ".*"), expr)


SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+(?:\s+-?\d+)?$")
LABEL_RE = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[str, list[dict[str, str]]]:
    """Prometheus text format: metric name -> the label sets of its samples."""
    samples: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"unparseable exposition line: {line!r}"
        labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                  for k, v in LABEL_RE.findall(m.group(2) or "")}
        samples.setdefault(m.group(1), []).append(labels)
    return samples


def matches(labels: dict[str, str], matchers) -> bool:
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have):
            return False
        if op == "!~" and re.fullmatch(value, have):
            return False
    return True


def unexported(expr: str, samples: dict[str, list[dict[str, str]]]) -> list[str]:
    problems = []
    selectors = prom_selectors(expr)
    if not selectors:
        problems.append(f"no metric selector in {expr!r}")
    for name, matchers in selectors:
        if name is None:
            problems.append(f"selector without a metric name in {expr!r}")
        elif name not in samples:
            problems.append(f"{name} is not exported")
        elif not any(matches(labels, matchers) for labels in samples[name]):
            problems.append(f"no {name} sample matches {matchers}: {samples[name][:5]}")
    return problems


# --------------------------------------------------------------------------- #
# Superset: the dataset URL and the chart queries
# --------------------------------------------------------------------------- #


def superset_url(server, schema: str | None):
    import sqlalchemy as sa

    (database,) = SUPERSET_DATABASES
    host, port = server.http_addr.split(":")
    url = sa.engine.make_url(database["sqlalchemy_uri"]).set(host=host, port=int(port))
    if schema:  # TrinoEngineSpec.adjust_engine_params: catalog/schema in the URL's database
        url = url.set(database=f"{url.database.split('/')[0]}/{schema}")
    return url


def superset_rows(server, dataset: dict, sql: str) -> list:
    import sqlalchemy as sa

    engine = sa.create_engine(superset_url(server, dataset.get("schema")))
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).fetchall()
    finally:
        engine.dispose()


def quote(name: str) -> str:
    from trino.sqlalchemy.dialect import TrinoDialect

    return TrinoDialect().identifier_preparer.quote(name)


def superset_metric(metric, dataset: dict) -> tuple[str, str]:
    """(SQL expression, label) of a saved metric name or an adhoc metric."""
    if isinstance(metric, str):
        saved = {m["metric_name"]: m["expression"] for m in dataset.get("metrics") or []}
        assert metric in saved, f"metric {metric!r} is not a metric of dataset {dataset['table_name']}"
        return saved[metric], metric
    if metric["expressionType"] == "SQL":
        return metric["sqlExpression"], metric["label"]
    assert metric["expressionType"] == "SIMPLE", metric
    return f"{metric['aggregate']}({quote(metric['column']['column_name'])})", metric["label"]


def superset_filters(params: dict) -> list[str]:
    where = []
    for f in params.get("adhoc_filters") or []:
        assert f.get("clause", "WHERE") == "WHERE", f
        if f["expressionType"] == "SQL":
            where.append(f"({f['sqlExpression']})")
        elif f["operator"] == "TEMPORAL_RANGE":
            assert f["comparator"] == "No filter", f"time range filters are not rendered here: {f}"
        else:
            raise AssertionError(f"filter not rendered here: {f}")
    return where


def superset_chart_sql(chart: dict, dataset: dict) -> str:
    """The query Superset runs for `chart` over its virtual dataset."""
    p = chart["params"]
    viz = p["viz_type"]
    source = f"(\n{dataset['sql'].strip().rstrip(';')}\n) AS virtual_table"
    where = superset_filters(p)
    temporal = {c["column_name"] for c in dataset["columns"] if c.get("is_dttm")}
    select: list[str] = []
    group: list[str] = []
    order: list[str] = []
    limit = p.get("row_limit") or 10000
    metrics = [superset_metric(m, dataset) for m in (p.get("metrics") or ([p["metric"]] if p.get("metric") else []))]

    if viz == "table" and p.get("query_mode") == "raw":
        select = [f"{quote(c)} AS {quote(c)}" for c in p["all_columns"]]
        for item in p.get("order_by_cols") or []:
            col, asc = json.loads(item)
            order.append(f"{quote(col)} {'ASC' if asc else 'DESC'}")
    else:
        dims = []
        if p.get("x_axis"):
            x = p["x_axis"]
            grain = p.get("time_grain_sqla")
            x_expr = SUPERSET_GRAINS[grain].format(col=quote(x)) if grain and x in temporal else quote(x)
            dims.append((x_expr, x))
        dims += [(quote(g), g) for g in p.get("groupby") or []]
        select = [f"{e} AS {quote(label)}" for e, label in dims] + [f"{e} AS {quote(label)}" for e, label in metrics]
        group = [e for e, _ in dims]
        if metrics and viz != "big_number_total":
            order = [f"{quote(metrics[0][1])} DESC"]
        if viz == "big_number_total":
            limit = 50000
    assert select, f"chart {chart['slice_name']} selects nothing"
    sql = f"SELECT {', '.join(select)}\nFROM {source}"
    if where:
        sql += f"\nWHERE {' AND '.join(where)}"
    if group:
        sql += f"\nGROUP BY {', '.join(group)}"
    if order:
        sql += f"\nORDER BY {', '.join(order)}"
    return sql + f"\nLIMIT {int(limit)}"


# --------------------------------------------------------------------------- #
# The files themselves (no server)
# --------------------------------------------------------------------------- #


def test_grafana_dashboard_is_complete():
    assert 36 <= GRAFANA["schemaVersion"] <= 41
    assert GRAFANA["uid"] and GRAFANA["title"]
    sources = {v["query"] for v in GRAFANA_VARIABLES.values() if v["type"] == "datasource"}
    assert sources == {TRINO_PLUGIN, PROMETHEUS}
    ids = [p["id"] for p in all_panels(GRAFANA["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for p in all_panels(GRAFANA["panels"]):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p.get("targets"), f"panel {p['title']} has no query"
        for t in p["targets"]:
            kind = datasource_type(t.get("datasource") or p.get("datasource"))
            assert kind in (TRINO_PLUGIN, PROMETHEUS), f"{p['title']}: unknown data source {t.get('datasource')}"
            if kind == TRINO_PLUGIN:
                assert t.get("rawSQL", "").strip() and t.get("format") in (0, 1), (p["title"], t)
                assert not t["rawSQL"].rstrip().endswith(";"), p["title"]
            else:
                assert t.get("expr", "").strip(), (p["title"], t)
    sql_panels = {title.rsplit(" [", 1)[0] for title in TRINO_TARGETS}
    assert len(sql_panels) >= 6, sql_panels
    assert PROM_TARGETS and TRINO_VARIABLES
    text = json.dumps(GRAFANA)
    for table in ("iceberg.market.ticks", "iceberg.quality.summary", "iceberg.quality.checks",
                  "iceberg.quality.freshness", "system.runtime.streams", "anomalies(", "time_bucket(",
                  "open_price(", "close_price(", "vwap("):
        assert table in text, f"the Grafana dashboard does not use {table}"
    for metric in ("contango_quality_score", "contango_gpu_available", "contango_stream_consumer_lag",
                   "contango_queries_total", "contango_query_duration_seconds_bucket"):
        assert metric in text, f"the Grafana dashboard does not chart {metric}"


def test_superset_bundle_is_consistent():
    assert SUPERSET_METADATA["type"] == "Dashboard" and SUPERSET_METADATA["version"] == "1.0.0"
    (database,) = SUPERSET_DATABASES
    assert database["sqlalchemy_uri"] == "trino://analyst@127.0.0.1:8080/iceberg"
    uuids = [database["uuid"]] + [d["uuid"] for d in SUPERSET_DATASETS.values()] \
        + [c["uuid"] for c in SUPERSET_CHARTS.values()] + [d["uuid"] for d in SUPERSET_DASHBOARDS]
    assert len(uuids) == len(set(uuids)), "uuids are unique"
    for u in uuids:
        assert str(uuidlib.UUID(u)) == u

    assert len(SUPERSET_DATASETS) >= 6
    for name, d in SUPERSET_DATASETS.items():
        assert d["database_uuid"] == database["uuid"], name
        assert d["sql"].strip() and not d["sql"].strip().endswith(";"), name
        columns = {c["column_name"] for c in d["columns"]}
        assert columns, name
        assert d.get("main_dttm_col") in columns | {None}, name
        assert len({m["metric_name"] for m in d.get("metrics") or []}) == len(d.get("metrics") or []), name

    assert SUPERSET_CHARTS
    for name, c in SUPERSET_CHARTS.items():
        assert c["dataset_uuid"] in DATASET_BY_UUID, f"chart {name} references no dataset of the bundle"
        assert c["viz_type"] == c["params"]["viz_type"], name
        superset_chart_sql(c, DATASET_BY_UUID[c["dataset_uuid"]])  # renders: metrics and columns exist

    (dashboard,) = SUPERSET_DASHBOARDS
    position = dashboard["position"]
    placed = set()
    for key, node in position.items():
        if not isinstance(node, dict):
            continue
        assert node["id"] == key
        for child in node.get("children") or []:
            assert child in position, f"{key} has a missing child {child}"
        if node["type"] == "CHART":
            placed.add(node["meta"]["uuid"])
    chart_uuids = {c["uuid"] for c in SUPERSET_CHARTS.values()}
    assert placed <= chart_uuids, f"the dashboard places unknown charts: {placed - chart_uuids}"
    assert placed == chart_uuids, f"charts not on the dashboard: {chart_uuids - placed}"


# --------------------------------------------------------------------------- #
# The demo server with a live stream
# --------------------------------------------------------------------------- #

LIVE_COMMODITIES = {"WTI": 71.5, "BRENT": 75.2, "HENRY_HUB": 3.1, "GOLD": 2350.0}
LIVE_TICKS = 240  # one a second over the four minutes before now


def trino_rows(server, sql: str, user: str = "grafana") -> list:
    """Through the Trino protocol as Grafana's plugin sends it: no default
    catalog or schema, times in UTC."""
    import trino

    host, port = server.http_addr.split(":")
    conn = trino.dbapi.connect(host=host, port=int(port), user=user, http_scheme="http", timezone="UTC")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def scalar(server, sql: str):
    return trino_rows(server, sql, user="analyst")[0][0]


def http_get_text(url: str, timeout: float = 10.0) -> str:
    """GET on loopback, never through a proxy from the environment."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        assert r.status == 200, r.status
        return r.read().decode()


@pytest.fixture(scope="module")
def demo(contango_bin, kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboards")
    data_dir = tmp / "data"
    data_dir.mkdir()
    run_contango(contango_bin, "demo", "--data-dir", str(data_dir), "--rows", str(DEMO_ROWS), "--no-serve", timeout=300)
    topic = kafka.create_topic("dashboard-prices", 2)
    config = stream_config(tmp / "contango.toml", kafka, name="live", topic=topic, table="iceberg.market.live_ticks",
                           batch_interval_ms=200, lateness_secs=5, rollups=["1m"])
    server = start_contango(contango_bin, data_dir, config, tmp, env={"CONTANGO_AUTH_ENABLED": "false"})
    try:
        end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=1)
        names = list(LIVE_COMMODITIES)
        ticks = []
        for i in range(LIVE_TICKS):
            c = names[i % len(names)]
            ticks.append({
                "commodity": c,
                "price": round(LIVE_COMMODITIES[c] * (1 + 0.002 * math.sin(i / 9)), 4),
                "volume": 1 + i % 25,
                "timestamp": (end - dt.timedelta(seconds=LIVE_TICKS - 1 - i)).isoformat().replace("+00:00", "Z"),
                "source": "ICE",
            })
        stamp = end.isoformat().replace("+00:00", "Z")
        rejected = [
            b'{"commodity": "WTI", "price": ',
            {"commodity": "WTI", "price": -5.0, "volume": 1, "timestamp": stamp, "source": "ICE"},
            {"commodity": "BRENT", "volume": 1, "timestamp": stamp, "source": "ICE"},
        ]
        produce(kafka, topic, ticks + rejected,
                key=lambda i, m: m.get("commodity") if isinstance(m, dict) else None)

        def ready(what, sql, predicate, timeout=60):
            wait_for(lambda: predicate(scalar(server, sql)), timeout, what, server.proc, server.log_path)

        ready("live ticks", "SELECT count(*) FROM iceberg.market.live_ticks", lambda n: n == LIVE_TICKS)
        ready("rejected messages", "SELECT count(*) FROM iceberg.market.live_ticks_rejected", lambda n: n == len(rejected))
        ready("every received row committed", "SELECT sum(tail_rows) FROM system.runtime.streams", lambda n: n == 0)
        ready("closed 1-minute bars", "SELECT count(*) FROM iceberg.market.live_ticks_bars_1m", lambda n: n >= len(names))
        ready("a metrics_history run after the stream's commits",
              "SELECT count(*) FROM iceberg.quality.metrics_history", lambda n: n > 0, timeout=90)
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="module")
def grafana_variables(demo) -> dict[str, str]:
    """The Trino query variables, run and formatted as the plugin interpolates them."""
    values = {}
    for name, v in TRINO_VARIABLES.items():
        options = list(dict.fromkeys(str(r[0]) for r in trino_rows(demo, variable_query(v)) if r and r[0] is not None))
        assert options, f"variable {name} has no values"
        values[name] = trino_variable_value(v, options)
    return values


@pytest.fixture(scope="module")
def exposition(demo) -> dict[str, list[dict[str, str]]]:
    """/metrics once the server has run queries (one failing, for the error
    counters) and a quality history run has published its metrics."""
    with pytest.raises(Exception):
        trino_rows(demo, "SELECT * FROM iceberg.market.no_such_table")
    assert trino_rows(demo, "SELECT count(*) FROM iceberg.market.ticks")

    def published():
        samples = parse_exposition(http_get_text(demo.http_url + "/metrics"))
        wanted = ("contango_quality_score", "contango_quality_check_passed", "contango_stream_consumer_lag",
                  "contango_query_errors_total")
        return samples if all(name in samples for name in wanted) else None

    return wait_for(published, 60, "quality, stream and query metrics on /metrics", demo.proc, demo.log_path)


# --------------------------------------------------------------------------- #
# Every query, through the tool's endpoint
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", sorted(TRINO_VARIABLES))
def test_grafana_variable_query_returns_rows(demo, name):
    rows = trino_rows(demo, variable_query(TRINO_VARIABLES[name]))
    assert rows, f"variable {name}: no values"


@pytest.mark.parametrize("target", list(TRINO_TARGETS))
def test_grafana_trino_query_returns_rows(demo, grafana_variables, target):
    panel, t = TRINO_TARGETS[target]
    sql = grafana_sql(panel, t["rawSQL"], grafana_variables)
    assert "$" not in sql, f"unexpanded variable or macro:\n{sql}"
    rows = trino_rows(demo, sql)
    assert rows, f"{target}: no rows from\n{sql}"


@pytest.mark.parametrize("target", list(PROM_TARGETS))
def test_grafana_prometheus_expr_selects_exported_metrics(exposition, target):
    expr = prom_interpolate(PROM_TARGETS[target][1]["expr"])
    problems = unexported(expr, exposition)
    assert not problems, f"{target}: {expr}\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(PROM_VARIABLES))
def test_grafana_prometheus_variable_selects_exported_labels(exposition, name):
    query = variable_query(PROM_VARIABLES[name])
    m = re.fullmatch(r"\s*label_values\((?:(.+),)?\s*(\w+)\s*\)\s*", query)
    assert m and m.group(1), f"variable {name}: expected label_values(selector, label), got {query!r}"
    selector, label = prom_interpolate(m.group(1)), m.group(2)
    assert not unexported(selector, exposition), unexported(selector, exposition)
    (metric, matchers), = prom_selectors(selector)
    values = {s[label] for s in exposition[metric] if label in s and matches(s, matchers)}
    assert values, f"variable {name}: no {metric} sample has a {label} label"


@pytest.mark.parametrize("name", sorted(SUPERSET_DATASETS))
def test_superset_dataset_sql_returns_rows(demo, name):
    dataset = SUPERSET_DATASETS[name]
    rows = superset_rows(demo, dataset, dataset["sql"])
    assert rows, f"dataset {name}: no rows from\n{dataset['sql']}"


@pytest.mark.parametrize("name", sorted(SUPERSET_CHARTS))
def test_superset_chart_query_returns_rows(demo, name):
    chart = SUPERSET_CHARTS[name]
    dataset = DATASET_BY_UUID[chart["dataset_uuid"]]
    sql = superset_chart_sql(chart, dataset)
    rows = superset_rows(demo, dataset, sql)
    assert rows, f"chart {name}: no rows from\n{sql}"
