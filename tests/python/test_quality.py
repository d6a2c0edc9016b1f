"""Data-quality views (`iceberg.quality.*`), their history, alerts and Prometheus
metrics, each checked against an independent computation.

Oracles: DuckDB over the synthetic market read with pyiceberg (`market.ticks`
and its defect labels `market.defects`) and over the raw EIA CSV files (WTI's
−36.98 of 2020-04-20 is the one `Price > 0` violation, Henry Hub's one missing
price is 2018-01-05); pyiceberg for snapshots and for `quality.metrics_history`;
the Deequ strategies recomputed here in exact (rational) arithmetic from the
history rows.

Check names are never spelled out here: checks are found by rule_type,
column_name and metric, and the names the server reports are then compared
between views, the summary and /metrics.
"""

from __future__ import annotations

import math
import re
import time
import urllib.request
from collections import defaultdict
from datetime import date, datetime, time as dtime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest

import helpers
from conftest import run_contango, start_contango, stop_process, tail, trino_connect, write_config

UTC = timezone.utc

# table_name -> (DuckDB oracle view, time column, key columns, columns in table order)
TABLES = {
    "market.ticks": ("ticks", "ts", ["commodity", "ts", "source"], ["commodity", "ts", "price", "volume", "source"]),
    "eia.wti": ("wti", "Date", ["Date"], ["Date", "Price"]),
    "eia.brent": ("brent", "Date", ["Date"], ["Date", "Price"]),
    "eia.henry_hub": ("henry_hub", "Date", ["Date"], ["Date", "Price"]),
}
EIA = ["eia.wti", "eia.brent", "eia.henry_hub"]
IN_TABLES = "(" + ", ".join(f"'{t}'" for t in TABLES) + ")"

# Completeness thresholds the config below implies: 1.0 for key and time columns,
# 0.99 for the others, Henry Hub's Price raised to 1.0.
THRESHOLDS = {
    "market.ticks": {"commodity": 1.0, "ts": 1.0, "source": 1.0, "price": 0.99, "volume": 0.99},
    "eia.wti": {"Date": 1.0, "Price": 0.99},
    "eia.brent": {"Date": 1.0, "Price": 0.99},
    "eia.henry_hub": {"Date": 1.0, "Price": 1.0},
}
BRENT_MAX_STALENESS = 10 * 365 * 86400  # generous: Brent's last price is months old, never years
BRENT_EXPECTED_ROWS_PER_HOUR = 2.0  # a daily series has one row per hour-with-rows: every hour is "anomalous"

ALERTS = {"max_rate_increase": 1.0, "max_rate_decrease": 0.5, "deviation_factor": 3.0, "min_history": 2}
HISTORY_INTERVAL_S = 2

QUALITY_CONFIG = f"""
[quality]
enabled = true
discover = true
interval_secs = {HISTORY_INTERVAL_S}
history = true

[quality.alerts]
max_rate_increase = {ALERTS["max_rate_increase"]}
max_rate_decrease = {ALERTS["max_rate_decrease"]}
deviation_factor = {ALERTS["deviation_factor"]}
min_history = {ALERTS["min_history"]}

[[quality.tables]]
table = "eia.wti"
time_column = "Date"
keys = ["Date"]
ranges = [ {{ column = "Price", greater_than = 0.0 }} ]

[[quality.tables]]
table = "eia.brent"
time_column = "Date"
keys = ["Date"]
max_staleness_secs = {BRENT_MAX_STALENESS}
expected_rows_per_hour = {int(BRENT_EXPECTED_ROWS_PER_HOUR)}
ranges = [ {{ column = "Price", greater_than = 0.0 }} ]

[[quality.tables]]
table = "eia.henry_hub"
time_column = "Date"
keys = ["Date"]
ranges = [ {{ column = "Price", greater_than = 0.0 }} ]
min_completeness = {{ Price = 1.0 }}
"""

HISTORY_COLUMNS = ["table_name", "check_name", "column_name", "metric", "value", "passed", "computed_at", "snapshot_id", "mode"]


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def qs(contango_bin, market_server, eia_server, session_tmp):
    """A server over the market + EIA data with the quality config above (auth off)."""
    config = write_config(session_tmp / "quality.toml")
    with open(config, "a") as f:
        f.write(QUALITY_CONFIG)
    started = time.time()
    server = start_contango(contango_bin, market_server.data_dir, config, session_tmp,
                            env={"CONTANGO_AUTH_ENABLED": "false"})
    server.started_at = started
    try:
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="module")
def oracle(market_catalog, eia_csvs):
    """DuckDB (UTC) with `ticks`, `defects` (pyiceberg) and `wti`, `brent`,
    `henry_hub` (the raw CSV files, explicit column types)."""
    con = helpers.duck(
        ticks=market_catalog.load_table("market.ticks").scan().to_arrow(),
        defects=market_catalog.load_table("market.defects").scan().to_arrow(),
    )
    for series, path in eia_csvs.items():
        rel = con.read_csv(str(path), header=True, dtype={"Date": "DATE", "Price": "DOUBLE"})
        con.register(f"_{series}_csv", rel)
        con.execute(f'CREATE VIEW {series} AS SELECT "Date", "Price" FROM _{series}_csv')
    return con


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


def label_count(oracle, kind: str) -> int:
    return one(oracle, f"SELECT count(*) FROM defects WHERE defect = '{kind}'")


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def q(server, sql: str) -> list[dict]:
    """Rows of `sql` through the trino client, as dicts."""
    cur = trino_connect(server).cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in rows]


def view(server, name: str, where: str = f"table_name IN {IN_TABLES}") -> list[dict]:
    return q(server, f"SELECT * FROM iceberg.quality.{name} WHERE {where}")


def utc(v):
    """Aware datetimes in UTC; naive ones (DuckDB TIMESTAMP) taken as UTC; dates as midnight UTC."""
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, date):
        return datetime.combine(v, dtime(), UTC)
    return v


def close(a, b, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def ts_literal(t: datetime) -> str:
    return f"TIMESTAMPTZ '{t.astimezone(UTC).isoformat()}'"


def poll(predicate, timeout: float, what: str, server=None, interval: float = 0.3):
    """Polls `predicate` until truthy (bounded); the failure names what was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
            last = f"predicate returned {value!r}"
        except Exception as e:  # noqa: BLE001 - not ready yet
            last = f"{type(e).__name__}: {e}"
        time.sleep(interval)
    log = f"\nserver log:\n{tail(server.log_path)}" if server is not None else ""
    raise AssertionError(f"{what}: not true after {timeout} s (last: {last}){log}")


def validity_rule(server, table: str, rule_type: str, column: str) -> dict:
    rows = view(server, "validity", f"table_name = '{table}' AND rule_type = '{rule_type}' AND column_name = '{column}'")
    assert len(rows) == 1, f"{table}: expected one {rule_type} rule on {column}, got {rows}"
    return rows[0]


def scrape(server) -> list[tuple[str, dict, float]]:
    """/metrics as (name, labels, value) samples (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server.http_url + "/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        assert m, f"unparseable /metrics line: {line!r}"
        labels = {k: re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), v)
                  for k, v in label.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def find_samples(samples, name: str, **labels) -> list[float]:
    return [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]


# --------------------------------------------------------------------------- #
# Deequ strategies recomputed from history rows
# --------------------------------------------------------------------------- #


def series_of(history: list[dict]) -> dict[tuple, list[tuple[datetime, float]]]:
    """(table, check, column, metric) -> [(computed_at, value)] oldest first; NULL/non-finite values skipped."""
    out = defaultdict(list)
    for r in history:
        v = r["value"]
        if v is None or not math.isfinite(v):
            continue
        out[(r["table_name"], r["check_name"], r["column_name"], r["metric"])].append((utc(r["computed_at"]), v))
    for pts in out.values():
        pts.sort()
    return out


def expected_alerts(history: list[dict], thresholds, settings: dict):
    """The alerts the spec's strategies raise over `history`:
    RelativeRateOfChange (Size only): value/previous − 1 > max_rate_increase or
    1 − value/previous > max_rate_decrease; OnlineNormal: |value − mean(previous)| >
    factor · stddev(previous) once min_history points precede; SimpleThreshold:
    value < threshold (`thresholds(table, check, column, metric)`; None: not judged).
    Returns (expected, ambiguous, judged_threshold): alert keys
    (table, check, column, metric, computed_at, strategy); ambiguous ones are where
    population and sample stddev disagree (the spec does not say which) or a value
    lies within 1e-9 of a boundary; SimpleThreshold is only judged where a threshold is known."""
    expected, ambiguous, judged = set(), set(), set()
    inc, dec = Fraction(settings["max_rate_increase"]), Fraction(settings["max_rate_decrease"])
    f2 = Fraction(settings["deviation_factor"]) ** 2
    for key, pts in series_of(history).items():
        metric = key[3]
        for i, (t, v) in enumerate(pts):
            point = key + (t,)
            thr = thresholds(*key)
            if thr is not None:
                judged.add(point + ("SimpleThreshold",))
                if v < thr:
                    expected.add(point + ("SimpleThreshold",))
            if metric == "Size" and i > 0 and pts[i - 1][1] != 0:
                rate = Fraction(v) / Fraction(pts[i - 1][1]) - 1
                k = point + ("RelativeRateOfChange",)
                if abs(rate - inc) < Fraction(1, 10**9) or abs(-rate - dec) < Fraction(1, 10**9):
                    ambiguous.add(k)
                elif rate > inc or -rate > dec:
                    expected.add(k)
            # OnlineNormal watches the rates (a Size or a lag is expected to move).
            if i >= settings["min_history"] and metric in ("Completeness", "Compliance", "Uniqueness", "Distinctness", "Consistency"):
                prev = [Fraction(x) for _, x in pts[:i]]
                n = len(prev)
                mean = sum(prev) / n
                ss = sum((x - mean) ** 2 for x in prev)
                d2 = (Fraction(v) - mean) ** 2
                k = point + ("OnlineNormal",)
                pop, samp = d2 > f2 * ss / n, d2 > f2 * ss / (n - 1)
                near = any(
                    lim > 0 and abs(d2 / lim - 1) < Fraction(1, 10**6) for lim in (f2 * ss / n, f2 * ss / (n - 1))
                ) or (ss == 0 and 0 < d2 <= Fraction(1, 10**18) * max(Fraction(v) ** 2, 1))
                if pop != samp or near:
                    ambiguous.add(k)
                elif pop:
                    expected.add(k)
    return expected, ambiguous, judged


def alert_key(a: dict) -> tuple:
    return (a["table_name"], a["check_name"], a["column_name"], a["metric"], utc(a["computed_at"]), a["strategy"])


def compare_alerts(alerts: list[dict], history: list[dict], thresholds, settings, what: str):
    """Compares the alerts view with the strategies recomputed from `history`, for
    points up to each table's newest history point read (later runs may have
    landed between the two reads; a point's alerts depend only on earlier points)."""
    cutoff = {}
    for r in history:
        cutoff[r["table_name"]] = max(cutoff.get(r["table_name"], utc(r["computed_at"])), utc(r["computed_at"]))
    alerts = [a for a in alerts if a["table_name"] in cutoff and utc(a["computed_at"]) <= cutoff[a["table_name"]]]
    expected, ambiguous, judged = expected_alerts(history, thresholds, settings)
    values = {key + (t,): v for key, pts in series_of(history).items() for t, v in pts}
    for a in alerts:
        assert a["strategy"] in ("RelativeRateOfChange", "SimpleThreshold", "OnlineNormal"), a
        assert a["detail"], f"{what}: an alert without detail: {a}"
        point = alert_key(a)[:5]
        assert point in values, f"{what}: alert for a point that is not in metrics_history: {a}"
        assert close(a["value"], values[point]), f"{what}: alert value {a['value']} != history value {values[point]}"
    got = {alert_key(a) for a in alerts}
    assert len(got) == len(alerts), f"{what}: duplicate alerts"

    def comparable(k):
        return k not in ambiguous and (k[5] != "SimpleThreshold" or k in judged)

    missing = sorted((k for k in expected if comparable(k) and k not in got), key=helpers.sort_key)
    extra = sorted((k for k in got if comparable(k) and k not in expected), key=helpers.sort_key)
    assert not missing and not extra, f"{what}: alerts missing {missing[:5]}, unexpected {extra[:5]}"
    for a in alerts:
        if a["strategy"] == "RelativeRateOfChange":
            key = alert_key(a)
            pts = series_of(history)[key[:4]]
            i = [t for t, _ in pts].index(key[4])
            assert close(a["previous_value"], pts[i - 1][1]), a
    return expected, got


def thresholds_from_views(completeness: list[dict], validity: list[dict]):
    compl = {(r["table_name"], r["column_name"]): r["threshold"] for r in completeness}
    valid = {(r["table_name"], r["check_name"]): r["threshold"] for r in validity}

    def threshold(table, check, column, metric):
        if metric == "Completeness":
            return compl.get((table, column))
        if metric == "Compliance":
            return valid.get((table, check))
        if metric == "Uniqueness":
            return 1.0
        return None  # Distinctness, Size, Freshness, Volume, Consistency: not judged here

    return threshold


def read_history(data_dir: Path, tables) -> list[dict]:
    """metrics_history read with pyiceberg (a fresh catalog: the newest snapshot)."""
    t = helpers.sqlite_catalog(data_dir).load_table("quality.metrics_history")
    rows = t.scan().to_arrow().to_pylist()
    return [r for r in rows if r["table_name"] in tables]


# --------------------------------------------------------------------------- #
# Discovery
# --------------------------------------------------------------------------- #


def test_discovery_monitors_tick_shaped_and_configured_tables(qs, market_catalog):
    monitored = {r["table_name"] for r in q(qs, "SELECT table_name FROM iceberg.quality.summary")}
    assert set(TABLES) <= monitored, monitored
    # market.defects has commodity and ts but no price: not tick-shaped.
    assert "market.defects" not in monitored
    assert not any(t.startswith("quality.") for t in monitored), monitored
    # Every other tick-shaped table of the catalog (e.g. eia_ticks.daily from the anomaly tests) is discovered.
    for ns in market_catalog.list_namespaces():
        for ident in market_catalog.list_tables(ns):
            name = ".".join(ident)
            cols = {f.name for f in market_catalog.load_table(name).schema().fields}
            if {"commodity", "ts", "price"} <= cols:
                assert name in monitored, f"tick-shaped {name} is not monitored"


# --------------------------------------------------------------------------- #
# Completeness
# --------------------------------------------------------------------------- #


def test_completeness_equals_duckdb_null_counts(qs, oracle):
    got = {(r["table_name"], r["column_name"]): r for r in view(qs, "completeness")}
    for table, (v, _, _, columns) in TABLES.items():
        assert sorted(c for t, c in got if t == table) == sorted(columns), f"{table}: one row per column"
        n = one(oracle, f"SELECT count(*) FROM {v}")
        for c in columns:
            r = got[(table, c)]
            nulls = one(oracle, f'SELECT count(*) - count("{c}") FROM {v}')
            assert r["metric"] == "Completeness"
            assert (r["row_count"], r["null_count"]) == (n, nulls), (table, c, r)
            assert close(r["null_rate"], nulls / n) and close(r["value"], 1 - nulls / n), r
            assert r["threshold"] == THRESHOLDS[table][c], r
            assert r["passed"] == (r["value"] >= r["threshold"]), r

    # The real series: Henry Hub has exactly one missing price, on 2018-01-05; WTI and Brent none.
    assert oracle.execute('SELECT "Date" FROM henry_hub WHERE "Price" IS NULL').fetchall() == [(date(2018, 1, 5),)]
    hh = got[("eia.henry_hub", "Price")]
    assert hh["null_count"] == 1 and hh["passed"] is False, hh  # threshold 1.0 in the config
    assert got[("eia.henry_hub", "Date")]["passed"] is True
    for t in ("eia.wti", "eia.brent"):
        assert got[(t, "Price")]["null_count"] == 0 and got[(t, "Price")]["passed"] is True

    # The market: nulls are exactly the labelled null_price / null_volume ticks.
    for column, kind in (("price", "null_price"), ("volume", "null_volume")):
        labelled = label_count(oracle, kind)
        matched = one(oracle, f"""SELECT count(*) FROM ticks t JOIN defects d
            ON d.commodity = t.commodity AND d.ts = t.ts AND d.source = t.source AND d.defect = '{kind}'
            WHERE t.{column} IS NULL""")
        assert matched == labelled == got[("market.ticks", column)]["null_count"], (column, matched, labelled)
    for c in ("commodity", "ts", "source"):
        assert got[("market.ticks", c)]["null_count"] == 0


# --------------------------------------------------------------------------- #
# Validity
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("table", EIA)
def test_eia_price_range_equals_duckdb(qs, oracle, table):
    v = TABLES[table][0]
    rules = view(qs, "validity", f"table_name = '{table}'")
    # The configured range on a DOUBLE column also checks finiteness; a time column
    # is checked for future timestamps.
    assert sorted((r["rule_type"], r["column_name"]) for r in rules) == [
        ("finite", "Price"), ("future", "Date"), ("range", "Price")], rules
    for other in rules:
        if other["rule_type"] != "range":
            assert (other["violations"], other["passed"]) == (0, True), other
    [r] = [r for r in rules if r["rule_type"] == "range"]
    n = one(oracle, f'SELECT count("Price") FROM {v}')
    bad = one(oracle, f'SELECT count(*) FROM {v} WHERE "Price" <= 0')
    assert r["metric"] == "Compliance" and r["check_name"], r
    assert (r["row_count"], r["violations"]) == (n, bad), r
    assert close(r["value"], 1 - bad / n) and r["threshold"] == 1.0, r
    assert r["passed"] == (bad == 0), r


def test_wti_negative_price_is_the_one_violation(qs, oracle):
    r = validity_rule(qs, "eia.wti", "range", "Price")
    assert r["violations"] == 1 and r["passed"] is False, r
    assert oracle.execute('SELECT "Date", "Price" FROM wti WHERE "Price" <= 0').fetchall() == [(date(2020, 4, 20), -36.98)]
    for t in ("eia.brent", "eia.henry_hub"):
        other = validity_rule(qs, t, "range", "Price")
        assert other["violations"] == 0 and other["value"] == 1.0 and other["passed"] is True, other


def test_market_tick_defaults_equal_duckdb_and_labels(qs, oracle):
    rules = view(qs, "validity", "table_name = 'market.ticks'")
    assert sorted((r["rule_type"], r["column_name"]) for r in rules) == sorted(
        [("range", "price"), ("finite", "price"), ("range", "volume"), ("future", "ts")]
    ), rules
    assert len({r["check_name"] for r in rules}) == len(rules), "check names are unique per table"
    by = {(r["rule_type"], r["column_name"]): r for r in rules}
    future = ts_literal(datetime.now(UTC) + timedelta(seconds=60))

    expected = {
        ("range", "price"): (one(oracle, "SELECT count(price) FROM ticks"),
                             one(oracle, "SELECT count(*) FROM ticks WHERE isfinite(price) AND price <= 0")),
        ("finite", "price"): (one(oracle, "SELECT count(price) FROM ticks"),
                              one(oracle, "SELECT count(*) FROM ticks WHERE NOT isfinite(price)")),
        ("range", "volume"): (one(oracle, "SELECT count(volume) FROM ticks"),
                              one(oracle, "SELECT count(*) FROM ticks WHERE volume < 0")),
        ("future", "ts"): (one(oracle, "SELECT count(ts) FROM ticks"),
                           one(oracle, f"SELECT count(*) FROM ticks WHERE ts > {future}")),
    }
    for k, (n, bad) in expected.items():
        r = by[k]
        assert r["metric"] == "Compliance" and r["threshold"] == 1.0, r
        assert (r["row_count"], r["violations"]) == (n, bad), (k, r, (n, bad))
        assert close(r["value"], 1 - bad / n) and r["passed"] == (bad == 0), r

    # The violations are exactly the labelled defects (the labels name the very rows).
    for (rule, column, kind, predicate) in (
        ("range", "price", "negative", "t.price <= 0"),
        ("future", "ts", "future_ts", f"t.ts > {future}"),
    ):
        labelled = label_count(oracle, kind)
        matched = one(oracle, f"""SELECT count(*) FROM ticks t JOIN defects d
            ON d.commodity = t.commodity AND d.ts = t.ts AND d.source = t.source AND d.defect = '{kind}'
            WHERE {predicate}""")
        assert by[(rule, column)]["violations"] == labelled == matched, (kind, labelled, matched, by[(rule, column)])
    assert label_count(oracle, "negative") > 0, "the market has negative-price defects"
    assert by[("finite", "price")]["violations"] == 0 and by[("range", "volume")]["violations"] == 0


# --------------------------------------------------------------------------- #
# Uniqueness
# --------------------------------------------------------------------------- #


def test_uniqueness_equals_duckdb_group_by(qs, oracle):
    got = {r["table_name"]: r for r in view(qs, "uniqueness")}
    assert set(got) == set(TABLES), got.keys()
    for table, (v, _, keys, _) in TABLES.items():
        k = ", ".join(f'"{c}"' for c in keys)
        rows, distinct, once = oracle.execute(
            f"SELECT sum(n), count(*), count(*) FILTER (WHERE n = 1) FROM (SELECT {k}, count(*) AS n FROM {v} GROUP BY {k})"
        ).fetchone()
        r = got[table]
        assert r["key_columns"] == ", ".join(keys), r
        assert (r["row_count"], r["distinct_keys"], r["duplicate_rows"]) == (rows, distinct, rows - distinct), (table, r)
        assert close(r["duplicate_rate"], (rows - distinct) / rows), r
        assert close(r["uniqueness"], once / rows) and close(r["distinctness"], distinct / rows), r
        assert r["passed"] == (rows == distinct), r
    for t in EIA:
        assert got[t]["duplicate_rows"] == 0 and got[t]["passed"] is True, got[t]

    # Each `duplicate` label repeats its row once; nothing else collides here.
    ticks = got["market.ticks"]
    labelled = label_count(oracle, "duplicate")
    repeated = one(oracle, """SELECT count(*) FROM defects d WHERE d.defect = 'duplicate' AND
        (SELECT count(*) FROM ticks t WHERE t.commodity = d.commodity AND t.ts = d.ts AND t.source = d.source) >= 2""")
    assert repeated == labelled
    assert ticks["duplicate_rows"] >= labelled
    # DuckDB agrees with the labels (seed 42, 20k rows: no accidental key collisions), so equality holds.
    assert one(oracle, "SELECT count(*) - count(DISTINCT (commodity, ts, source)) FROM ticks") == labelled
    assert ticks["duplicate_rows"] == labelled
    assert ticks["passed"] == (labelled == 0)


# --------------------------------------------------------------------------- #
# Freshness
# --------------------------------------------------------------------------- #


def test_freshness_equals_duckdb_and_snapshots(qs, oracle, market_catalog):
    before = datetime.now(UTC)
    got = {r["table_name"]: r for r in view(qs, "freshness")}
    after = datetime.now(UTC)
    assert set(got) == set(TABLES)
    for table, (v, tcol, _, _) in TABLES.items():
        r = got[table]
        assert r["metric"] == "Freshness"
        if tcol == "Date":
            newest = utc(one(oracle, f"SELECT max(\"Date\") FROM {v} WHERE \"Date\" <= DATE '{before.date()}'"))
        else:
            newest = utc(one(oracle, f"SELECT max(ts) FROM {v} WHERE ts <= {ts_literal(before)}"))
        assert utc(r["max_event_time"]) == newest, (table, r["max_event_time"], newest)
        snap = market_catalog.load_table(table).current_snapshot()
        commit = datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC)
        assert utc(r["last_commit_time"]) == commit, (table, r["last_commit_time"], commit)
        lag_lo, lag_hi = (before - newest).total_seconds() - 1, (after - newest).total_seconds() + 1
        assert lag_lo <= r["event_lag_seconds"] <= lag_hi, (table, r["event_lag_seconds"], lag_lo, lag_hi)
        age_lo, age_hi = (before - commit).total_seconds() - 1, (after - commit).total_seconds() + 1
        assert age_lo <= r["commit_age_seconds"] <= age_hi, (table, r["commit_age_seconds"], age_lo, age_hi)
        if table == "eia.brent":
            assert r["max_staleness_seconds"] == BRENT_MAX_STALENESS
            assert r["event_lag_seconds"] <= BRENT_MAX_STALENESS and r["passed"] is True, r
        else:  # no limit configured (market.ticks is a batch table): not scored
            assert r["max_staleness_seconds"] is None and r["passed"] is None, r


# --------------------------------------------------------------------------- #
# Volume
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("table", list(TABLES))
def test_volume_equals_duckdb_windows(qs, oracle, table):
    v, tcol, _, _ = TABLES[table]
    now = datetime.now(UTC)
    if tcol == "Date":  # a DATE: its hour is midnight UTC
        t, cut = 'CAST("Date" AS TIMESTAMP)', f"TIMESTAMP '{now.replace(tzinfo=None).isoformat(sep=' ')}'"
    else:
        t, cut = tcol, ts_literal(now)
    # Future rows (the market's future_ts defect is ~100 years ahead) are excluded.
    expected = oracle.execute(f"""
        WITH h AS (SELECT date_trunc('hour', {t}) AS hour, count(*) AS n FROM {v} WHERE {t} <= {cut} GROUP BY 1)
        SELECT hour, n, avg(n) OVER w, stddev_samp(n) OVER w, count(*) OVER w FROM h
        WINDOW w AS (ORDER BY hour ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) ORDER BY hour""").fetchall()
    got = q(qs, f"SELECT * FROM iceberg.quality.volume WHERE table_name = '{table}' ORDER BY hour")
    assert len(got) == len(expected) > 0, (table, len(got), len(expected))
    limit = BRENT_EXPECTED_ROWS_PER_HOUR if table == "eia.brent" else None
    for r, (hour, n, mean, sd, previous) in zip(got, expected):
        assert utc(r["hour"]) == utc(hour) and r["row_count"] == n, (table, r, hour, n)
        assert close(r["trailing_mean"], mean) and close(r["trailing_stddev"], sd, abs_=1e-9), (table, r, mean, sd)
        z = (n - mean) / sd if sd else None
        assert close(r["zscore"], z), (table, r, z)
        assert r["expected_rows_per_hour"] == limit, r
        if z is not None and abs(abs(z) - 3) < 1e-9:
            continue  # on the boundary: either answer is right
        anomalous = (z is not None and abs(z) > 3 and previous >= 8) or (limit is not None and n < limit)
        assert r["anomalous"] is anomalous, (table, r, z, previous)
    if table == "market.ticks":
        assert sum(r["row_count"] for r in got) == one(oracle, "SELECT count(*) FROM ticks") - label_count(oracle, "future_ts")


# --------------------------------------------------------------------------- #
# Checks and summary
# --------------------------------------------------------------------------- #


def test_checks_agree_with_the_detail_views(qs, oracle):
    checks = view(qs, "checks")
    by_table = defaultdict(list)
    for c in checks:
        by_table[c["table_name"]].append(c)
    assert set(by_table) == set(TABLES)
    for table, rows in by_table.items():
        names = [c["check_name"] for c in rows]
        assert len(set(names)) == len(names), f"{table}: check names repeat: {sorted(names)}"
        assert {c["metric"] for c in rows} <= {"Completeness", "Compliance", "Uniqueness", "Distinctness", "Size",
                                                "Freshness", "Volume", "Consistency"}, rows

    def pick(table, metric, column=None, check=None):
        found = [c for c in by_table[table] if c["metric"] == metric
                 and (column is None or c["column_name"] == column) and (check is None or c["check_name"] == check)]
        assert len(found) == 1, f"{table}: one {metric} check {column or ''} {check or ''} expected, got {found}"
        return found[0]

    for r in view(qs, "completeness"):
        c = pick(r["table_name"], "Completeness", column=r["column_name"])
        assert close(c["value"], r["value"]) and c["passed"] == r["passed"], (c, r)
    for r in view(qs, "validity"):
        c = pick(r["table_name"], "Compliance", column=r["column_name"], check=r["check_name"])
        assert close(c["value"], r["value"]) and c["passed"] == r["passed"], (c, r)
    for r in view(qs, "uniqueness"):
        c = pick(r["table_name"], "Uniqueness")
        assert close(c["value"], r["uniqueness"]) and c["passed"] == r["passed"], (c, r)
        assert close(pick(r["table_name"], "Distinctness")["value"], r["distinctness"])
    for r in view(qs, "freshness"):
        assert pick(r["table_name"], "Freshness")["passed"] == r["passed"], r
    for table, (v, _, _, _) in TABLES.items():
        assert pick(table, "Size")["value"] == one(oracle, f"SELECT count(*) FROM {v}")


def test_summary_scores_the_checks(qs, oracle):
    checks = view(qs, "checks")
    summary = {r["table_name"]: r for r in view(qs, "summary")}
    assert set(summary) == set(TABLES)
    failing_names = {}
    for table, (v, _, _, _) in TABLES.items():
        rows = [c for c in checks if c["table_name"] == table]
        scored = [c for c in rows if c["passed"] is not None]
        passed = sum(1 for c in scored if c["passed"])
        failed = sorted(c["check_name"] for c in scored if not c["passed"])
        s = summary[table]
        assert s["checks"] == len(scored) > 0 and s["failed"] == len(failed), (s, len(scored), failed)
        assert close(s["score"], 100.0 * passed / len(scored)), (s, passed, len(scored))
        # Comma-separated and sorted ('' when none); either ", " or "," separates.
        # Check names may hold commas ("unique (commodity, ts, source)"): '; ' separates them.
        assert s["failing"] == "; ".join(failed), (s["failing"], failed)
        assert s["row_count"] == one(oracle, f"SELECT count(*) FROM {v}")
        failing_names[table] = set(failed)

    def name(table, metric, column):
        return next(c["check_name"] for c in checks
                    if c["table_name"] == table and c["metric"] == metric and c["column_name"] == column)

    wti_range = validity_rule(qs, "eia.wti", "range", "Price")["check_name"]
    assert wti_range in failing_names["eia.wti"]
    assert name("eia.wti", "Completeness", "Price") not in failing_names["eia.wti"]
    assert summary["eia.wti"]["score"] < 100
    # Henry Hub: one null against a threshold of 1.0 fails; its prices are all > 0.
    assert name("eia.henry_hub", "Completeness", "Price") in failing_names["eia.henry_hub"]
    assert validity_rule(qs, "eia.henry_hub", "range", "Price")["check_name"] not in failing_names["eia.henry_hub"]
    brent_failing = {c["metric"] for c in checks if c["table_name"] == "eia.brent" and c["check_name"] in failing_names["eia.brent"]}
    assert not brent_failing & {"Completeness", "Compliance", "Uniqueness", "Freshness"}, brent_failing
    # The market: negative prices, a future timestamp, duplicate rows.
    market = failing_names["market.ticks"]
    assert validity_rule(qs, "market.ticks", "range", "price")["check_name"] in market
    assert validity_rule(qs, "market.ticks", "future", "ts")["check_name"] in market
    assert any(c["metric"] == "Uniqueness" and c["check_name"] in market for c in checks if c["table_name"] == "market.ticks")
    assert validity_rule(qs, "market.ticks", "range", "volume")["check_name"] not in market


# --------------------------------------------------------------------------- #
# metrics_history, alerts, Prometheus (the schedule runs every 2 s)
# --------------------------------------------------------------------------- #


def full_runs(server, table: str) -> list:
    return [r["computed_at"] for r in q(server, f"""SELECT DISTINCT computed_at FROM iceberg.quality.metrics_history
        WHERE table_name = '{table}' AND mode = 'full' ORDER BY computed_at""")]


def test_metrics_history_records_full_runs(qs, market_catalog):
    poll(lambda: all(full_runs(qs, t) for t in TABLES), 60,
         f"metrics_history rows (mode 'full') for {sorted(TABLES)} with interval_secs = {HISTORY_INTERVAL_S}", qs)
    checks = view(qs, "checks")
    for table in TABLES:
        full = q(qs, f"SELECT * FROM iceberg.quality.metrics_history WHERE table_name = '{table}' AND mode = 'full'")
        latest = max(utc(r["computed_at"]) for r in full)
        run = [r for r in full if utc(r["computed_at"]) == latest]
        # One row per check, all at the table's current snapshot.
        keys = sorted(((r["check_name"], r["column_name"], r["metric"]) for r in run), key=helpers.sort_key)
        assert keys == sorted(((c["check_name"], c["column_name"], c["metric"]) for c in checks if c["table_name"] == table),
                              key=helpers.sort_key), table
        snapshot = market_catalog.load_table(table).current_snapshot().snapshot_id
        assert {r["snapshot_id"] for r in run} == {snapshot}, (table, {r["snapshot_id"] for r in run}, snapshot)
        # Values of the data-only metrics equal the live checks (the data did not change).
        live = {(c["check_name"], c["column_name"], c["metric"]): c["value"] for c in checks if c["table_name"] == table}
        for r in run:
            if r["metric"] in ("Completeness", "Compliance", "Uniqueness", "Distinctness", "Size"):
                assert close(r["value"], live[(r["check_name"], r["column_name"], r["metric"])]), r
        if table == "eia.wti":
            rule = validity_rule(qs, "eia.wti", "range", "Price")
            [h] = [r for r in run if r["metric"] == "Compliance" and r["column_name"] == "Price"
                   and r["check_name"] == rule["check_name"]]
            assert close(h["value"], rule["value"]) and h["value"] < 1, (h, rule)

    # pyiceberg reads the same table (namespace quality).
    table = helpers.sqlite_catalog(qs.data_dir).load_table("quality.metrics_history")
    arrow = table.scan().to_arrow()
    assert arrow.schema.names == HISTORY_COLUMNS
    wti = [r for r in arrow.to_pylist() if r["table_name"] == "eia.wti" and r["mode"] == "full"]
    trino_rows = q(qs, "SELECT * FROM iceberg.quality.metrics_history WHERE table_name = 'eia.wti' AND mode = 'full'")
    as_key = lambda r: (r["check_name"], r["column_name"], r["metric"], utc(r["computed_at"]), r["snapshot_id"], r["value"])  # noqa: E731
    # Trino read later: it holds every row pyiceberg saw (and maybe a newer run).
    assert {as_key(r) for r in wti} <= {as_key(r) for r in trino_rows}
    assert wti


def test_alerts_match_the_strategies_over_history(qs):
    wti_rule = validity_rule(qs, "eia.wti", "range", "Price")
    # Enough runs for OnlineNormal (min_history = 2) to judge at least two points.
    need = ALERTS["min_history"] + 2
    poll(lambda: len(full_runs(qs, "eia.wti")) >= need, 60, f"{need} history runs for eia.wti", qs)
    thresholds = thresholds_from_views(view(qs, "completeness"), view(qs, "validity"))
    history = read_history(qs.data_dir, TABLES)
    alerts = view(qs, "alerts")
    expected, got = compare_alerts(alerts, history, thresholds, ALERTS, "main server")

    wti_points = {utc(r["computed_at"]) for r in history if r["table_name"] == "eia.wti" and r["metric"] == "Compliance"
                  and r["check_name"] == wti_rule["check_name"]}
    assert len(wti_points) >= need
    wti_alerts = {k[4] for k in got if k[:4] == ("eia.wti", wti_rule["check_name"], "Price", "Compliance")
                  and k[5] == "SimpleThreshold"}
    assert wti_alerts == wti_points, "every history point of WTI's failing range check raises SimpleThreshold"
    hh_null = {k for k in got if k[0] == "eia.henry_hub" and k[2] == "Price" and k[3] == "Completeness"
               and k[5] == "SimpleThreshold"}
    assert hh_null, "Henry Hub's Price completeness (threshold 1.0) raises SimpleThreshold"
    assert not {k for k in got if k[0] == "eia.brent" and k[3] in ("Compliance", "Completeness")}
    print(f"alerts: {len(got)} ({sorted({k[5] for k in got})}); expected {len(expected)}")


def test_prometheus_quality_metrics(qs):
    rule = validity_rule(qs, "eia.wti", "range", "Price")

    def scraped():
        s = scrape(qs)
        return s if all(find_samples(s, "contango_quality_score", table=t) for t in TABLES) else None

    samples = poll(scraped, 60, "contango_quality_score for every monitored table on /metrics", qs)
    summary = {r["table_name"]: r for r in view(qs, "summary")}
    for table in TABLES:
        assert find_samples(samples, "contango_quality_score", table=table) == [pytest.approx(summary[table]["score"], rel=1e-12)]
    labels = {"table": "eia.wti", "check": rule["check_name"], "column": "Price", "metric": "Compliance"}
    assert find_samples(samples, "contango_quality_check_passed", **labels) == [0.0], labels
    assert find_samples(samples, "contango_quality_check_value", **labels) == [pytest.approx(rule["value"], rel=1e-12)]
    ok = validity_rule(qs, "eia.brent", "range", "Price")
    assert find_samples(samples, "contango_quality_check_passed", table="eia.brent", check=ok["check_name"],
                        column="Price", metric="Compliance") == [1.0]
    assert all(v in (0.0, 1.0) for n, _, v in samples if n == "contango_quality_check_passed")
    assert all(0.0 <= v <= 100.0 for n, _, v in samples if n == "contango_quality_score")
    [last_run] = [v for n, _, v in samples if n == "contango_quality_last_run_timestamp_seconds"]
    assert qs.started_at <= last_run <= time.time() + 1, (qs.started_at, last_run)


# --------------------------------------------------------------------------- #
# Bad rules: `contango serve` refuses to start, naming the table and column
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "rule,needles",
    [
        ('table = "market.ticks"\nranges = [ { column = "no_such_column", greater_than = 0.0 } ]',
         ["market.ticks", "no_such_column"]),
        ('table = "market.ticks"\npatterns = [ { column = "source", regex = "^[A-Z" } ]',
         ["market.ticks", "source", "^[A-Z"]),
        ('table = "eia.wti"\ntime_column = "Date"\nkeys = ["Day"]', ["eia.wti", "Day"]),
    ],
    ids=["unknown-range-column", "invalid-regex", "unknown-key-column"],
)
def test_bad_rule_refuses_to_start(contango_bin, eia_server, tmp_path, rule, needles):
    config = write_config(tmp_path / "bad-quality.toml")
    with open(config, "a") as f:
        f.write(f"\n[quality]\ninterval_secs = 0\n\n[[quality.tables]]\n{rule}\n")
    r = run_contango(
        contango_bin, "serve", "--config", str(config), "--data-dir", str(eia_server.data_dir),
        "--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", check=False, timeout=30,
    )
    assert r.returncode != 0, f"serve started with a bad rule:\n{r.stderr}"
    for needle in needles:
        assert needle in r.stderr, f"{needle!r} not in:\n{r.stderr}"


def test_unknown_quality_key_refuses_to_start(contango_bin, tmp_path):
    config = write_config(tmp_path / "typo.toml")
    with open(config, "a") as f:
        f.write("\n[quality]\nintervl_secs = 2\n")
    r = run_contango(
        contango_bin, "serve", "--config", str(config), "--data-dir", str(tmp_path / "data"),
        "--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", check=False, timeout=30,
    )
    assert r.returncode != 0 and "intervl_secs" in r.stderr, r.stderr


# --------------------------------------------------------------------------- #
# A Kafka-streamed table: 'incremental' history after each commit
# --------------------------------------------------------------------------- #


def test_stream_commits_write_incremental_history(contango_bin, kafka, tmp_path):
    from test_kafka_streams import produce, sql, scalar, stream_config, tick

    topic = kafka.create_topic("prices-quality", 1)
    table, name = "iceberg.live.ticks_quality", "live.ticks_quality"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = stream_config(tmp_path / "stream-quality.toml", kafka, name="quality", topic=topic, table=table,
                           batch_interval_ms=200, rollups=[])
    with open(config, "a") as f:
        # A schedule too: full runs leave streamed tables to their commits (no rescans).
        f.write("\n[quality]\ninterval_secs = 1\n")
    server = start_contango(contango_bin, data_dir, config, tmp_path)

    def rows(query):
        return sql(server, query).to_pylist()

    def committed(n):
        return (scalar(server, f"SELECT count(*) FROM {table}") == n
                and scalar(server, "SELECT sum(tail_rows) FROM system.runtime.streams") == 0)

    try:
        base = datetime.now(UTC) - timedelta(seconds=30)  # fresh: within the 300 s default staleness
        produce(kafka, topic, [tick(i, base) for i in range(100)])
        poll(lambda: committed(100), 60, "first 100 ticks committed", server)
        # 400 more (Size 100 -> 500: a rate of change above 1.0 however the commits split)
        # and 3 with price 0, which the stream rejects (negative_price: price must be > 0).
        zeros = [tick(10_000 + j, base, price=0) for j in range(3)]
        produce(kafka, topic, [tick(i, base) for i in range(100, 500)] + zeros)
        poll(lambda: committed(500) and scalar(server, f"SELECT count(*) FROM {table}_rejected") == 3,
             60, "500 ticks committed and 3 rejected", server)
        assert {r["reason"] for r in rows(f"SELECT reason FROM {table}_rejected")} == {"negative_price"}

        ice = helpers.sqlite_catalog(data_dir)

        def history_caught_up():
            t = ice.load_table(name)
            # The stream's commits: the snapshots that record Kafka offsets.
            snaps = {s.snapshot_id for s in t.metadata.snapshots
                     if s.summary and "contango.kafka.offsets" in s.summary.additional_properties}
            hist = rows(f"SELECT * FROM iceberg.quality.metrics_history WHERE table_name = '{name}'")
            sizes = [r for r in hist if r["metric"] == "Size"]
            latest = max(sizes, key=lambda r: r["computed_at"]) if sizes else None
            ok = (latest is not None and latest["value"] == 500 == t.scan().to_arrow().num_rows
                  and latest["snapshot_id"] == t.current_snapshot().snapshot_id
                  and snaps <= {r["snapshot_id"] for r in sizes})
            return (t, hist) if ok else None

        t, hist = poll(history_caught_up, 60, "incremental history for every commit, latest Size = 500", server)
        assert {r["mode"] for r in hist} == {"incremental"}, {r["mode"] for r in hist}
        # Freshness per commit, from the newest event time in the commit's file statistics.
        fresh_hist = [r for r in hist if r["metric"] == "Freshness"]
        assert fresh_hist and all(r["passed"] and 0 <= r["value"] <= 300 for r in fresh_hist), fresh_hist
        # Once a scheduled run has finished, still no full rows: it left the streamed table out.
        poll(lambda: "quality metrics recorded" in server.log_path.read_text(), 30, "a scheduled full run", server)
        assert scalar(server, "SELECT count(*) FROM iceberg.quality.metrics_history WHERE mode = 'full'") == 0
        # Each Size point is the row count of the snapshot it names (pyiceberg time travel).
        for r in hist:
            if r["metric"] == "Size":
                assert r["value"] == t.scan(snapshot_id=r["snapshot_id"]).to_arrow().num_rows, r

        # The zero prices never reached the table: the price > 0 rule holds, in the view and the history.
        rule = rows(f"SELECT * FROM iceberg.quality.validity WHERE table_name = '{name}' "
                    "AND rule_type = 'range' AND column_name = 'price'")
        assert len(rule) == 1 and rule[0]["violations"] == 0 and rule[0]["row_count"] == 500, rule
        latest = max(r["computed_at"] for r in hist)
        [h] = [r for r in hist if r["computed_at"] == latest and r["metric"] == "Compliance"
               and r["check_name"] == rule[0]["check_name"]]
        assert h["value"] == 1.0
        fresh = rows(f"SELECT * FROM iceberg.quality.freshness WHERE table_name = '{name}'")
        assert fresh[0]["max_staleness_seconds"] == 300, fresh  # the default for streamed tables

        # Alerts over the incremental history: RelativeRateOfChange on Size among them.
        thresholds = thresholds_from_views(
            rows(f"SELECT * FROM iceberg.quality.completeness WHERE table_name = '{name}'"),
            rows(f"SELECT * FROM iceberg.quality.validity WHERE table_name = '{name}'"),
        )
        alerts = rows(f"SELECT * FROM iceberg.quality.alerts WHERE table_name = '{name}'")
        settings = {"max_rate_increase": 1.0, "max_rate_decrease": 0.5, "deviation_factor": 3.0, "min_history": 5}
        expected, got = compare_alerts(alerts, hist, thresholds, settings, "stream")
        sizes = [v for _, v in sorted((r["computed_at"], r["value"]) for r in hist if r["metric"] == "Size")]
        assert sizes == sorted(sizes) and 100 in sizes and sizes[-1] == 500, sizes
        if len(sizes) - sizes.index(100) <= 3:
            # 100 -> 500 in one or two commits: some step grows by more than 100 %.
            assert any(k[5] == "RelativeRateOfChange" and k[3] == "Size" for k in got), (sizes, got)
        print("stream Size history:", sizes, "alerts:", sorted({k[5] for k in got}))
    finally:
        stop_process(server.proc)


# --------------------------------------------------------------------------- #
# A table that cannot be read
# --------------------------------------------------------------------------- #


def test_unreadable_table_is_left_out_and_the_server_keeps_serving(contango_bin, tmp_path):
    """A monitored table whose metadata is gone (deleted files, unreachable storage)
    neither stops `serve` nor breaks the views for the other tables."""
    from conftest import contango_import

    data = tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path / "c.toml")
    csv = tmp_path / "ticks.csv"
    csv.write_text("commodity,ts,price,source\nWTI,2025-01-02T00:00:00Z,71.5,EIA\nWTI,2025-01-03T00:00:00Z,-1.0,EIA\n")
    for t in ("iceberg.good.ticks", "iceberg.bad.ticks"):
        contango_import(contango_bin, config, data, t, csv)
    for f in (data / "warehouse" / "bad" / "ticks" / "metadata").glob("*.metadata.json"):
        f.unlink()
    server = start_contango(contango_bin, data, config, tmp_path, env={"CONTANGO_AUTH_ENABLED": "false"})
    try:
        summary = q(server, "SELECT table_name, failing FROM iceberg.quality.summary")
        assert [r["table_name"] for r in summary] == ["good.ticks"], summary
        assert "price > 0" in summary[0]["failing"], summary
        assert "bad.ticks" in server.log_path.read_text() and "not monitored now" in server.log_path.read_text()
        assert server.healthz()["status"] == "ok"
    finally:
        stop_process(server.proc)
