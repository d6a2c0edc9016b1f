"""`GET /metrics` (Prometheus text) against independent counts: the queries
this test runs through both endpoints, and the alert rules file."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

import helpers
from conftest import trino_connect

ROOT = Path(__file__).resolve().parents[2]


def scrape(server) -> dict[str, float]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server.http_url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def delta(before, after, key) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_query_counters_follow_the_queries_run(trino_server):
    before = scrape(trino_server)
    with trino_server.connect() as conn:
        for _ in range(3):
            assert helpers.query(conn, "SELECT 1 AS x").num_rows == 1
        assert helpers.query(conn, "SELECT * FROM generate_series(1, 1000)").num_rows == 1000
        with pytest.raises(Exception):
            helpers.query(conn, "SELECT * FROM iceberg.market.no_such_table")
    tconn = trino_connect(trino_server)
    cur = tconn.cursor()
    cur.execute("SELECT commodity FROM iceberg.market.ticks LIMIT 7")
    assert len(cur.fetchall()) == 7
    with pytest.raises(Exception):
        cur.execute("SELEC 1")
        cur.fetchall()
    after = scrape(trino_server)

    assert delta(before, after, 'contango_queries_total{endpoint="flight",state="FINISHED"}') == 4
    assert delta(before, after, 'contango_query_rows_total{endpoint="flight"}') == 1003
    assert delta(before, after, 'contango_queries_total{endpoint="trino",state="FINISHED"}') == 1
    assert delta(before, after, 'contango_query_rows_total{endpoint="trino"}') == 7
    assert delta(before, after, 'contango_query_errors_total{endpoint="trino",error_name="SYNTAX_ERROR"}') == 1
    for endpoint, n in (("flight", 4), ("trino", 2)):
        count = delta(before, after, f'contango_query_duration_seconds_count{{endpoint="{endpoint}"}}')
        inf = delta(before, after, f'contango_query_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}}')
        assert count == inf >= n
        buckets = [v for k, v in after.items() if k.startswith(f'contango_query_duration_seconds_bucket{{endpoint="{endpoint}"')]
        assert buckets == sorted(buckets), "histogram buckets are cumulative"
    assert after["process_resident_memory_bytes"] > 10_000_000
    assert after["process_cpu_seconds_total"] > 0
    assert after["process_open_fds"] > 3


def test_every_metric_in_the_alert_rules_is_exported(contango_bin, kafka, tmp_path):
    """The rules file only names metrics a server with a stream and some queries exports."""
    from test_kafka_streams import start_stream_server, scalar, produce, tick
    from datetime import datetime, timezone
    from conftest import stop_process, wait_for

    topic = kafka.create_topic("prices-metrics", 1)
    produce(kafka, topic, [tick(i, datetime(2025, 11, 1, tzinfo=timezone.utc)) for i in range(10)])
    server = start_stream_server(contango_bin, tmp_path, kafka, name="m", topic=topic, table="iceberg.live.ticks_metrics",
                                 batch_interval_ms=100)
    try:
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_metrics") == 10, 60, "rows")
        wait_for(lambda: any(k.startswith("contango_stream_consumer_lag") for k in scrape(server)), 30, "lag metric")
        # Quality gauges appear once the commit's incremental metrics are recorded.
        wait_for(lambda: any(k.startswith("contango_quality_score") for k in scrape(server)), 60, "quality gauges")
        exported = {re.sub(r"\{.*", "", k) for k in scrape(server)}
    finally:
        stop_process(server.proc)
    rules = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    named = set(re.findall(r"\b((?:contango|process)_[a-z_]+)", rules))
    assert named, "the rules name metrics"
    missing = sorted(n for n in named if n not in exported)
    assert not missing, f"alert rules name metrics the server does not export: {missing}"
