"""`anomalies(table, method, window, threshold)` scored against independent
labels: the synthetic market's `defects` table (precision and recall per defect
type, computed here) and the real EIA series (WTI's −36.98 on 2020-04-20, the
Henry Hub spike of the February 2021 freeze)."""

from __future__ import annotations

import collections
import csv
import datetime

import pytest

import helpers
from conftest import trino_connect
from helpers import trino_timestamp


def q(server, sql, gpu="off"):
    """Rows of `sql`; `gpu = 'on'` runs the scan on the GPU operators (their
    CPU reference kernels where there is no GPU)."""
    cur = trino_connect(server, session_properties={"gpu": gpu}).cursor()
    cur.execute(sql)
    return cur.fetchall()


def keys(rows):
    return {(r[0], r[1], r[2].astimezone(datetime.timezone.utc)) for r in rows}


def labels(server, kind):
    return keys(q(server, f"SELECT commodity, source, ts FROM iceberg.market.defects WHERE defect = '{kind}'"))


def score(flagged: set, labelled: set) -> tuple[float, float]:
    hit = len(flagged & labelled)
    precision = hit / len(flagged) if flagged else 1.0
    recall = hit / len(labelled) if labelled else 1.0
    return precision, recall


@pytest.mark.parametrize("gpu", ["off", "on"])
def test_negative_prices_match_labels_exactly(trino_server, gpu):
    flagged = keys(q(trino_server, "SELECT commodity, source, ts FROM anomalies(table => 'iceberg.market.ticks', method => 'negative')", gpu=gpu))
    labelled = labels(trino_server, "negative")
    assert labelled, "the synthetic market has negative-price defects"
    assert score(flagged, labelled) == (1.0, 1.0)


@pytest.mark.parametrize("gpu", ["off", "on"])
def test_price_level_defects_found_by_zscore_and_jump(trino_server, gpu):
    """Spikes and negative prices are the price-level defects of the synthetic market."""
    spikes = labels(trino_server, "spike")
    level = spikes | labels(trino_server, "negative")
    assert spikes
    z = keys(q(trino_server, "SELECT commodity, source, ts FROM anomalies('iceberg.market.ticks', 'zscore', 20, 8)", gpu=gpu))
    jump = keys(q(trino_server, "SELECT commodity, source, ts FROM anomalies('iceberg.market.ticks', 'jump', 20, 8)", gpu=gpu))
    z_precision, z_recall = score(z, level)
    j_precision, j_recall = score(jump, spikes)
    print(f"zscore(20, 8) vs spike+negative: precision {z_precision:.3f} recall {z_recall:.3f}")
    print(f"jump(20, 8) vs spike: precision {j_precision:.3f} recall {j_recall:.3f}")
    assert z_recall == 1.0 and z_precision >= 0.75
    assert j_recall == 1.0 and len(jump & level) / len(jump) >= 0.6
    mad = keys(q(trino_server, "SELECT commodity, source, ts FROM anomalies('iceberg.market.ticks', 'mad', 20, 10)", gpu=gpu))
    m_precision, m_recall = score(mad, level)
    print(f"mad(20, 10) vs spike+negative: precision {m_precision:.3f} recall {m_recall:.3f}")
    assert m_recall == 1.0, (m_precision, m_recall)


@pytest.mark.parametrize("gpu", ["off", "on"])
def test_stale_runs_match_labels(trino_server, gpu):
    labelled = labels(trino_server, "stale")
    assert labelled
    flagged = keys(q(trino_server, "SELECT commodity, source, ts FROM anomalies(table => 'iceberg.market.ticks', method => 'stale', window => 3)", gpu=gpu))
    precision, recall = score(flagged, labelled)
    print("stale precision/recall:", precision, recall)
    assert recall >= 0.8 and precision >= 0.5, (precision, recall)


@pytest.fixture(scope="module")
def eia_ticks(trino_server, eia_dir, tmp_path_factory):
    """The EIA daily series as tick-shaped rows (commodity, ts, price, source)."""
    out = tmp_path_factory.mktemp("eia-ticks") / "eia_ticks.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["commodity", "ts", "price", "source"])
        for name, commodity in [("wti-daily.csv", "WTI"), ("henry-hub-daily.csv", "HENRY_HUB")]:
            with (eia_dir / name).open() as src:
                for row in csv.DictReader(src):
                    if row["Price"]:
                        w.writerow([commodity, f"{row['Date']}T00:00:00.000000Z", row["Price"], "EIA"])
    trino_server.import_files("iceberg.eia_ticks.daily", out)
    return "iceberg.eia_ticks.daily"


@pytest.mark.parametrize("gpu", ["off", "on"])
def test_real_eia_events_are_flagged(trino_server, gpu, eia_ticks):
    negative = q(trino_server, f"SELECT commodity, CAST(ts AS DATE), price FROM anomalies('{eia_ticks}', 'negative')", gpu=gpu)
    assert negative == [["WTI", datetime.date(2020, 4, 20), -36.98]]
    spikes = q(
        trino_server,
        f"SELECT CAST(ts AS DATE) FROM anomalies('{eia_ticks}', 'zscore', 20, 4) "
        "WHERE commodity = 'HENRY_HUB' AND ts BETWEEN TIMESTAMP '2021-02-10 00:00:00 UTC' AND TIMESTAMP '2021-02-28 00:00:00 UTC'",
        gpu=gpu,
    )
    assert spikes, "the February 2021 Henry Hub spike must be flagged"
    jumps = q(
        trino_server,
        f"SELECT CAST(ts AS DATE) FROM anomalies(table => '{eia_ticks}', method => 'jump', window => 20, threshold => 4) "
        "WHERE commodity = 'WTI' AND ts BETWEEN TIMESTAMP '2020-03-01 00:00:00 UTC' AND TIMESTAMP '2020-03-31 00:00:00 UTC'",
        gpu=gpu,
    )
    # 2020-03-09: WTI fell from 41.28 to 31.13 (Saudi–Russia price war), a log return of
    # about −0.28 against a daily sigma of about 0.02. (The −36.98 day itself has no log
    # return: its price is negative; the `negative` method flags it.)
    assert [datetime.date(2020, 3, 9)] in jumps, jumps


@pytest.mark.parametrize("gpu", ["off", "on"])
@pytest.mark.parametrize(
    "method,window,threshold",
    [("zscore", "20", 3), ("mad", "20", 5), ("jump", "20", 3),
     ("zscore", "INTERVAL '30' DAY", 3), ("jump", "INTERVAL '30' DAY", 3)],
)
def test_time_ranges_of_daily_prices_are_scored_with_their_whole_history(trino_server, gpu, eia_ticks, method, window, threshold):
    """Daily prices, sparse against the hour-long first slice of the history search: a
    range starting at a flagged day returns exactly the unfiltered call's rows in it (with
    one row of history too few, that day would have no score)."""
    call = f"anomalies(table => '{eia_ticks}', method => '{method}', window => {window}, threshold => {threshold})"
    everything = q(trino_server, f"SELECT * FROM {call}", gpu=gpu)
    days = sorted(r[2] for r in everything)
    assert len(days) >= 10, len(days)
    for lo in [days[len(days) // 10], days[len(days) // 2], days[-3]]:
        hi = lo + datetime.timedelta(days=60)
        got = q(trino_server, f"SELECT * FROM {call} WHERE ts BETWEEN {trino_timestamp(lo)} AND {trino_timestamp(hi)}", gpu=gpu)
        want = [r for r in everything if lo <= r[2] <= hi]
        assert got and sorted(got) == sorted(want), lo


def duckdb_time_zscores(eia_dir, days):
    """Oracle: the z-score of each EIA price against the prices of the `days`
    days before it (same day excluded), once the series reaches back that far."""
    import duckdb

    con = duckdb.connect()
    parts = " UNION ALL ".join(
        f"SELECT '{c}' AS commodity, CAST(Date AS TIMESTAMP) AS ts, CAST(Price AS DOUBLE) AS price "
        f"FROM read_csv('{eia_dir / name}', header = true, all_varchar = true) WHERE Price <> ''"
        for name, c in [("wti-daily.csv", "WTI"), ("henry-hub-daily.csv", "HENRY_HUB")]
    )
    rows = con.execute(
        f"""WITH t AS ({parts}),
        w AS (SELECT commodity, ts, price, avg(price) OVER r AS m, stddev_samp(price) OVER r AS sd,
                     count(price) OVER r AS k, min(ts) OVER (PARTITION BY commodity) AS first_ts
              FROM t WINDOW r AS (PARTITION BY commodity ORDER BY ts
                  RANGE BETWEEN INTERVAL {days} DAY PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING))
        SELECT commodity, ts, (price - m) / sd FROM w
        WHERE first_ts <= ts - INTERVAL {days} DAY AND k >= 2 AND sd > 0"""
    ).fetchall()
    return {(c, ts.date()): z for c, ts, z in rows}


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


@pytest.mark.parametrize("gpu", ["off", "on"])
def test_time_window_zscore_matches_duckdb(trino_server, gpu, eia_ticks, eia_dir):
    """`zscore(price, INTERVAL '30' DAY, ts)` and `anomalies(window => INTERVAL ...)`
    against DuckDB's RANGE-frame window over the same EIA series."""
    oracle = duckdb_time_zscores(eia_dir, 30)
    assert len(oracle) > 10_000
    ours = {
        (c, ts.date()): z
        for c, ts, z in q(
            trino_server,
            f"SELECT commodity, ts, zscore(price, INTERVAL '30' DAY, ts) OVER (PARTITION BY commodity ORDER BY ts) "
            f"FROM {eia_ticks}",
            gpu=gpu,
        )
        if z is not None
    }
    assert ours.keys() == oracle.keys()
    assert all(close(ours[k], oracle[k]) for k in oracle), [k for k in oracle if not close(ours[k], oracle[k])][:5]
    flagged = {
        (c, ts.date()): z
        for c, ts, z in q(
            trino_server,
            f"SELECT commodity, ts, score FROM anomalies(table => '{eia_ticks}', method => 'zscore', "
            "window => INTERVAL '30' DAY, threshold => 4)",
            gpu=gpu,
        )
    }
    expected = {k for k, z in oracle.items() if abs(z) > 4}
    assert flagged.keys() == expected and expected
    assert all(close(flagged[k], oracle[k]) for k in expected)
    # The February 2021 Henry Hub spike, on a 30-day time window too.
    assert any(c == "HENRY_HUB" and datetime.date(2021, 2, 10) <= d <= datetime.date(2021, 2, 28) for c, d in expected)
    jumps = q(
        trino_server,
        f"SELECT CAST(ts AS DATE) FROM anomalies(table => '{eia_ticks}', method => 'jump', window => INTERVAL '30' DAY, "
        "threshold => 4) WHERE commodity = 'WTI' AND ts BETWEEN TIMESTAMP '2020-03-01 00:00:00 UTC' AND TIMESTAMP '2020-03-31 00:00:00 UTC'",
        gpu=gpu,
    )
    assert [datetime.date(2020, 3, 9)] in jumps, jumps


@pytest.mark.parametrize("gpu", ["off", "on"])
@pytest.mark.parametrize(
    "method,window,threshold",
    [("zscore", "20", 4), ("zscore", "INTERVAL '1' HOUR", 4), ("mad", "20", 6), ("jump", "20", 4),
     ("stale", "3", 0), ("negative", "2", 0)],
)
def test_filters_on_anomalies_return_exactly_the_matching_flagged_rows(trino_server, gpu, method, window, threshold):
    """A filtered `anomalies(...)` returns exactly the unfiltered result's rows that pass the
    filter. Filters reach the table scan only where that cannot change a passing row: the
    series keys always, upper bounds on `ts` for the backward-looking methods, everything for
    `negative`; a lower bound on `ts` limits the scan to the history the rows after it need.
    The bounds sit on flagged rows of one series, so a lower bound pushed as it is (the row
    loses its history or its run), too little history, or an upper bound pushed for `stale`
    (a run cut short: its first flagged row is the second tick of a run of 3 or more) loses
    rows."""
    call = (f"anomalies(table => 'iceberg.market.ticks', method => '{method}', "
            f"window => {window}, threshold => {threshold})")
    everything = q(trino_server, f"SELECT * FROM {call}", gpu=gpu)
    series = collections.Counter((r[0], r[1]) for r in everything)
    (commodity, source), flagged = series.most_common(1)[0]
    assert flagged >= (1 if method == "negative" else 2), series
    times = sorted(r[2] for r in everything if (r[0], r[1]) == (commodity, source))
    second, last_but_one = times[min(1, len(times) - 1)], times[max(len(times) - 2, 0)]
    of_series = f"SELECT * FROM {call} WHERE commodity = '{commodity}' AND source = '{source}'"
    for bound, keep in [(f"ts >= {trino_timestamp(second)}", lambda t: t >= second),
                        (f"ts <= {trino_timestamp(times[0])}", lambda t: t <= times[0]),
                        (f"ts BETWEEN {trino_timestamp(times[0])} AND {trino_timestamp(last_but_one)}",
                         lambda t: times[0] <= t <= last_but_one)]:
        got = q(trino_server, f"{of_series} AND {bound}", gpu=gpu)
        want = [r for r in everything if (r[0], r[1]) == (commodity, source) and keep(r[2])]
        assert sorted(got) == sorted(want), bound
    for bound, shown in [(f"ts <= {trino_timestamp(times[0])}", "ts <="), (f"ts >= {trino_timestamp(second)}", "ts >=")]:
        plan = "\n".join(r[0] for r in q(trino_server, f"EXPLAIN {of_series} AND {bound}", gpu=gpu))
        scan = helpers.scan_predicates(plan)[0]
        assert helpers.pushed(scan, "commodity", "=", commodity) and helpers.pushed(scan, "source", "=", source), plan
        # A lower bound reaches the scan moved back by the history its rows need.
        assert helpers.pushed(scan, "ts", shown.split()[1], None) == (method != "stale"), plan


@pytest.mark.parametrize(
    "sql,message",
    [
        ("SELECT * FROM anomalies('iceberg.market.ticks', 'astrology')", "unknown method"),
        ("SELECT * FROM anomalies('iceberg.market.ticks', 'zscore', 1)", "window must be"),
        ("SELECT * FROM anomalies('iceberg.market.ticks', 'mad', INTERVAL '1' HOUR)", "needs a window in rows"),
        ("SELECT * FROM anomalies('iceberg.market.ticks', 'zscore', INTERVAL '1' MONTH)", "without months"),
        ("SELECT zscore(price, INTERVAL '1' HOUR) OVER (ORDER BY ts) FROM iceberg.market.ticks", "third argument"),
        ("SELECT * FROM anomalies('iceberg.market.defects; DROP', 'zscore')", "invalid table name"),
        ("SELECT * FROM anomalies('iceberg.market.nope', 'zscore')", "No table named 'nope'"),
    ],
)
def test_bad_arguments_are_clear_errors(trino_server, sql, message):
    import trino

    with pytest.raises(trino.exceptions.TrinoUserError) as e:
        q(trino_server, sql)
    assert message in e.value.message
