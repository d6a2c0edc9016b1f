"""Kafka → Iceberg streams against a real Kafka-protocol broker (tansu).

Oracles: the producer's own delivery reports and the broker's high
watermarks (which offsets exist), pyiceberg reading the table files, and
DuckDB recomputing bars from the same ticks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

import helpers
from conftest import (
    child_env,
    start_contango,
    stop_process,
    wait_for,
    write_config,
)

COMMODITIES = ["WTI", "BRENT", "HH", "GOLD", "COPPER"]


def stream_config(path: Path, kafka, *, name: str, topic: str, table: str, catalog_uri: str | None = None,
                  **settings) -> Path:
    """A server config (auth on) with one `[[streams]]` entry."""
    write_config(path, catalog_uri=catalog_uri)
    lines = [
        "",
        "[[streams]]",
        f"name = {json.dumps(name)}",
        f"brokers = {json.dumps(kafka.bootstrap)}",
        f"topic = {json.dumps(topic)}",
        f"group = {json.dumps('g-' + name)}",
        f"table = {json.dumps(table)}",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")
    return path


def sql(server, query: str) -> pa.Table:
    with server.connect() as c:
        return helpers.query(c, query)


def scalar(server, query: str):
    return sql(server, query).column(0)[0].as_py()


def tick(i: int, base: datetime, **over) -> dict:
    m = {
        "commodity": COMMODITIES[i % len(COMMODITIES)],
        "price": round(50 + (i % 997) * 0.01, 2),
        "volume": 1 + i % 50,
        "timestamp": (base + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
        "source": "ICE",
    }
    m.update(over)
    return m


def produce(kafka, topic: str, messages, key=None, **extra) -> list[tuple[int, int]]:
    """Produces `messages` (bytes/str/dict); returns the (partition, offset) of
    each, in message order (delivery reports arrive in any order)."""
    p = kafka.producer(**extra)
    messages = list(messages)
    delivered: list = [None] * len(messages)
    errors: list[str] = []

    def report_for(i):
        def report(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                delivered[i] = (msg.partition(), msg.offset())
        return report

    for i, m in enumerate(messages):
        value = json.dumps(m) if isinstance(m, dict) else m
        k = key(i, m) if key else None
        while True:
            try:
                p.produce(topic, value=value, key=k, on_delivery=report_for(i))
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "producer did not deliver everything"
    assert not errors, errors[:5]
    assert all(d is not None for d in delivered)
    return delivered


def snapshot_summaries(catalog, table: str) -> list[dict]:
    """Snapshot summaries, oldest first."""
    t = catalog.load_table(table)
    snaps = sorted(t.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
    return [dict(s.summary.additional_properties) if s.summary else {} for s in snaps]


@pytest.fixture()
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def start_stream_server(contango_bin, tmp: Path, kafka, data_dir: Path | None = None, **stream):
    data_dir = data_dir or tmp / "data"
    data_dir.mkdir(exist_ok=True)
    config = stream_config(tmp / f"contango-{stream['name']}.toml", kafka, **stream)
    return start_contango(contango_bin, data_dir, config, tmp)


def lineage_set(server, table: str) -> list[tuple[int, int]]:
    t = sql(server, f"SELECT _kafka_partition, _kafka_offset FROM {table}")
    return sorted(zip(t.column(0).to_pylist(), t.column(1).to_pylist()))


def test_100k_records_exactly_once_through_sql_and_pyiceberg(contango_bin, kafka, tmp):
    topic = kafka.create_topic("prices-100k", 3)
    base = datetime(2025, 11, 1, 10, tzinfo=timezone.utc)
    msgs = [tick(i, base) for i in range(100_000)]
    delivered = produce(kafka, topic, msgs, key=lambda i, m: m["commodity"])
    assert len(delivered) == 100_000
    server = start_stream_server(
        contango_bin, tmp, kafka, name="p100k", topic=topic,
        table="iceberg.live.ticks_100k", batch_rows=20_000, batch_interval_ms=500,
    )
    try:
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_100k") == 100_000
                 and scalar(server, "SELECT sum(tail_rows) FROM system.runtime.streams") == 0,
                 120, "100k rows committed")
        assert lineage_set(server, "iceberg.live.ticks_100k") == sorted(delivered)

        # Content equals what was produced (DuckDB over the produced messages).
        produced = pa.Table.from_pylist([
            {**m, "p": p, "o": o} for m, (p, o) in zip(msgs, delivered)
        ])
        stored = sql(server, "SELECT commodity, price, volume, source, _kafka_partition AS p, _kafka_offset AS o "
                             "FROM iceberg.live.ticks_100k")
        con = helpers.duck(produced=produced, stored=stored)
        diff = con.execute(
            "SELECT count(*) FROM produced pr FULL JOIN stored t ON pr.p = t.p AND pr.o = t.o "
            "WHERE pr.p IS NULL OR t.p IS NULL OR pr.commodity <> t.commodity OR pr.price <> t.price "
            "OR pr.volume <> t.volume OR pr.source <> t.source"
        ).fetchone()[0]
        assert diff == 0

        # pyiceberg reads the same rows, and the newest snapshot records the offsets.
        catalog = helpers.sqlite_catalog(server.data_dir)
        arrow = catalog.load_table("live.ticks_100k").scan().to_arrow()
        assert arrow.num_rows == 100_000
        assert sorted(zip(arrow["_kafka_partition"].to_pylist(), arrow["_kafka_offset"].to_pylist())) == sorted(delivered)
        summaries = snapshot_summaries(catalog, "live.ticks_100k")
        current = catalog.load_table("live.ticks_100k").current_snapshot().summary.additional_properties
        offsets = json.loads(current["contango.kafka.offsets"])
        assert offsets == {f"{topic}:{p}": h for p, h in kafka.high_watermarks(topic).items() if h > 0}
        assert all("contango.kafka.range" in s for s in summaries[1:] if "contango.kafka.offsets" in s)

        # Metrics: SQL view and Prometheus.
        streams = sql(server, "SELECT stream, state, sum(partition_records) AS n, max(lag) AS lag "
                              "FROM system.runtime.streams GROUP BY 1, 2").to_pylist()
        assert streams == [{"stream": "p100k", "state": "running", "n": 100_000, "lag": streams[0]["lag"]}]
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(server.http_url + "/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'contango_stream_records_total{stream="p100k"} 100000' in text
        assert 'contango_stream_rejected_total{stream="p100k",reason="malformed_json"} 0' in text
    finally:
        stop_process(server.proc)


def test_rdkafka_producer_and_two_replicas_do_not_duplicate(contango_bin, kafka, tmp):
    """`contango produce` (rdkafka) fills the topic while two servers stream it
    into the SAME table through the same catalog: every offset lands once."""
    topic = "prices-replicas"
    data_dir = tmp / "shared-data"
    data_dir.mkdir()
    settings = dict(topic=topic, table="iceberg.live.ticks_replicas", batch_rows=5_000, batch_interval_ms=200)
    producer = subprocess.Popen(
        [str(contango_bin), "produce", "--brokers", kafka.bootstrap, "--topic", topic,
         "--partitions", "3", "--messages", "200000", "--rate", "50000"],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wait_for(lambda: sum(kafka.high_watermarks(topic).values()) > 0, 60, "first produced messages")
    a = start_stream_server(contango_bin, tmp, kafka, data_dir=data_dir, name="replica-a", **settings)
    b = start_stream_server(contango_bin, tmp, kafka, data_dir=data_dir, name="replica-b", **settings)
    try:
        _, err = producer.communicate(timeout=180)
        assert producer.returncode == 0, err
        total = sum(kafka.high_watermarks(topic).values())
        assert total == 200_000
        wait_for(lambda: scalar(a, "SELECT count(*) FROM iceberg.live.ticks_replicas") >= total, 180, "all rows")
        time.sleep(1.0)
        dupes = scalar(a, "SELECT count(*) FROM (SELECT _kafka_partition, _kafka_offset FROM iceberg.live.ticks_replicas "
                          "GROUP BY 1, 2 HAVING count(*) > 1)")
        assert dupes == 0
        expected = sorted((p, o) for p, h in kafka.high_watermarks(topic).items() for o in range(h))
        stop_process(a.proc)
        stop_process(b.proc)
        arrow = helpers.sqlite_catalog(data_dir).load_table("live.ticks_replicas").scan().to_arrow()
        assert sorted(zip(arrow["_kafka_partition"].to_pylist(), arrow["_kafka_offset"].to_pylist())) == expected
    finally:
        stop_process(a.proc)
        stop_process(b.proc)
        if producer.poll() is None:
            producer.kill()


BAD = {
    "malformed_json": b'{"commodity": "WTI", "price": ',
    "wrong_type": json.dumps({"commodity": "WTI", "price": "seventy", "timestamp": "2025-11-01T10:00:00Z"}),
    "missing_field": json.dumps({"commodity": "WTI", "timestamp": "2025-11-01T10:00:00Z"}),
    "nan": b'{"commodity": "WTI", "price": NaN, "timestamp": "2025-11-01T10:00:00Z"}',
    "negative_price": json.dumps({"commodity": "WTI", "price": -36.98, "timestamp": "2020-04-20T18:30:00Z"}),
    "future_timestamp": json.dumps({"commodity": "WTI", "price": 70.1, "timestamp": "2999-01-01T00:00:00Z"}),
    "field_too_long": json.dumps({"commodity": "X" * 1_000_000, "price": 1.0, "timestamp": "2025-11-01T10:00:00Z"}),
    "binary": bytes(range(256)) * 4,
    "not_an_object": b"[1, 2, 3]",
    "negative_volume": json.dumps({"commodity": "WTI", "price": 1.5, "volume": -5, "timestamp": 1761991200}),
    "bad_timestamp": json.dumps({"commodity": "WTI", "price": 1.5, "timestamp": "next tuesday"}),
}
EXPECTED_REASON = {
    "malformed_json": "malformed_json", "wrong_type": "wrong_type", "missing_field": "missing_field",
    "nan": "malformed_json", "negative_price": "negative_price", "future_timestamp": "future_timestamp",
    "field_too_long": "field_too_long", "binary": "malformed_json", "not_an_object": "not_an_object",
    "negative_volume": "negative_volume", "bad_timestamp": "bad_timestamp",
}


def test_bad_input_goes_to_the_dead_letter_table_with_its_reason(contango_bin, kafka, tmp):
    topic = kafka.create_topic("prices-bad", 1)
    base = datetime(2025, 11, 1, 10, tzinfo=timezone.utc)
    messages: list = []
    kinds: list[str | None] = []
    for i, (kind, payload) in enumerate(BAD.items()):
        messages.append(tick(i, base))
        kinds.append(None)
        messages.append(payload)
        kinds.append(kind)
    messages.append(tick(999, base))
    kinds.append(None)
    delivered = produce(kafka, topic, messages, **{"message.max.bytes": 4_000_000})
    server = start_stream_server(contango_bin, tmp, kafka, name="bad", topic=topic,
                                 table="iceberg.live.ticks_bad", batch_interval_ms=300)
    try:
        valid = [o for (p, o), k in zip(delivered, kinds) if k is None]
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_bad_rejected") == len(BAD)
                 and scalar(server, "SELECT count(*) FROM iceberg.live.ticks_bad") == len(valid), 60, "all messages")
        got = sql(server, "SELECT \"offset\", reason, detail, topic, \"partition\", length(payload) AS n "
                          "FROM iceberg.live.ticks_bad_rejected ORDER BY 1").to_pylist()
        want = {o: EXPECTED_REASON[k] for (p, o), k in zip(delivered, kinds) if k is not None}
        assert {r["offset"]: r["reason"] for r in got} == want
        sizes = {o: len(m if isinstance(m, bytes) else m.encode()) for (p, o), m, k in zip(delivered, messages, kinds) if k}
        assert {r["offset"]: r["n"] for r in got} == sizes, "raw payloads are kept whole"
        assert all(r["detail"] and r["topic"] == topic and r["partition"] == 0 for r in got)
        assert sorted(sql(server, "SELECT _kafka_offset FROM iceberg.live.ticks_bad").column(0).to_pylist()) == valid
        # Still serving, stream still running.
        assert scalar(server, "SELECT state FROM system.runtime.streams") == "running"
        by_reason = json.loads(scalar(server, "SELECT rejected_by_reason FROM system.runtime.streams"))
        assert sum(by_reason.values()) == len(BAD)
    finally:
        stop_process(server.proc)


def test_kill_9_during_a_1m_ingest_loses_and_repeats_nothing(contango_bin, kafka, tmp):
    topic = "prices-crash"
    run = subprocess.run(
        [str(contango_bin), "produce", "--brokers", kafka.bootstrap, "--topic", topic,
         "--partitions", "3", "--messages", "1000000"],
        env=child_env(), capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    hw = kafka.high_watermarks(topic)
    assert sum(hw.values()) == 1_000_000
    data_dir = tmp / "data"
    settings = dict(name="crash", topic=topic, table="iceberg.live.ticks_crash", batch_rows=50_000, batch_interval_ms=300)
    rng = random.Random(7)
    table = "iceberg.live.ticks_crash"
    for cycle in range(5):
        server = start_stream_server(contango_bin, tmp, kafka, data_dir=data_dir, **settings)
        # Kill at a random moment after this run committed something (so every
        # cycle makes progress), i.e. while it writes files, commits or idles.
        wait_for(lambda: scalar(server, "SELECT commits FROM system.runtime.streams") >= 1, 120,
                 f"a commit in cycle {cycle}", server.proc, server.log_path)
        time.sleep(rng.uniform(0.0, 1.5))
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
    server = start_stream_server(contango_bin, tmp, kafka, data_dir=data_dir, **settings)
    try:
        wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") >= 1_000_000, 300, "1M rows")
        time.sleep(1.0)
        per_partition = sql(server, f"SELECT _kafka_partition AS p, count(*) AS n, count(DISTINCT _kafka_offset) AS d, "
                                    f"min(_kafka_offset) AS lo, max(_kafka_offset) AS hi FROM {table} GROUP BY 1").to_pylist()
        assert {r["p"]: (r["n"], r["d"], r["lo"], r["hi"]) for r in per_partition} == {
            p: (h, h, 0, h - 1) for p, h in hw.items()
        }
        snapshots = snapshot_summaries(helpers.sqlite_catalog(data_dir), "live.ticks_crash")
        assert len(snapshots) >= 6, "every cycle committed before it was killed"
    finally:
        stop_process(server.proc)


def test_stream_resumes_after_the_broker_restarts(contango_bin, tansu_bin, tmp):
    from conftest import Kafka

    broker = Kafka(tansu_bin, tmp / "broker")
    (tmp / "broker").mkdir()
    broker.start()
    server = None
    try:
        topic = broker.create_topic("prices-restart", 2)
        base = datetime(2025, 11, 1, 10, tzinfo=timezone.utc)
        first = produce(broker, topic, [tick(i, base) for i in range(5_000)])
        server = start_stream_server(contango_bin, tmp, broker, name="restart", topic=topic,
                                     table="iceberg.live.ticks_restart", batch_interval_ms=300)
        table = "iceberg.live.ticks_restart"
        wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == 5_000, 60, "first 5000")
        broker.stop()
        time.sleep(2.0)
        assert scalar(server, f"SELECT count(*) FROM {table}") == 5_000, "queries keep working without the broker"
        broker.start()
        second = produce(broker, topic, [tick(i, base) for i in range(5_000, 10_000)])
        wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == 10_000, 120, "rows after the restart")
        assert lineage_set(server, table) == sorted(first + second)
    finally:
        if server:
            stop_process(server.proc)
        broker.stop()


def test_unreachable_broker_is_reported_and_the_server_keeps_serving(contango_bin, tmp):
    from conftest import Kafka, free_port

    class Nowhere:
        bootstrap = f"127.0.0.1:{free_port()}"

    server = start_stream_server(contango_bin, tmp, Nowhere, name="nowhere", topic="t",
                                 table="iceberg.live.ticks_nowhere")
    try:
        wait_for(lambda: scalar(server, "SELECT state FROM system.runtime.streams") == "retrying", 60, "retrying state")
        error = scalar(server, "SELECT last_error FROM system.runtime.streams")
        assert "unreachable" in error or "does not exist" in error, error
        assert scalar(server, "SELECT 1") == 1
    finally:
        stop_process(server.proc)


def test_bars_match_duckdb_and_late_records_are_kept_apart(contango_bin, kafka, tmp):
    topic = kafka.create_topic("prices-bars", 2)
    base = datetime(2025, 11, 3, 14, 0, tzinfo=timezone.utc)
    rng = random.Random(11)
    # 12 minutes of ticks for 3 commodities, shuffled within 20 s windows (out of order, within lateness).
    msgs = []
    for s in range(0, 12 * 60, 2):
        for c in ("WTI", "BRENT", "HH"):
            msgs.append({"commodity": c, "price": round(60 + rng.uniform(-2, 2), 3), "volume": rng.randint(0, 40),
                         "timestamp": (base + timedelta(seconds=s, milliseconds=rng.randint(0, 999))).isoformat()})
    windows = [msgs[i:i + 30] for i in range(0, len(msgs), 30)]
    for w in windows:
        rng.shuffle(w)
    ordered = [m for w in windows for m in w]
    produce(kafka, topic, ordered, key=lambda i, m: m["commodity"])
    server = start_stream_server(contango_bin, tmp, kafka, name="bars", topic=topic, table="iceberg.live.ticks_bars",
                                 batch_interval_ms=300, lateness_secs=30, rollups=["1m", "5m"])
    try:
        # Newest event 14:11:59 - 30 s lateness → bars up to 14:11 closed.
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_bars_bars_1m") == 11 * 3, 60, "11 closed minutes")
        # A late tick for 14:03 (its bar is emitted) and an on-time one for 14:11.
        late = {"commodity": "WTI", "price": 999.0, "volume": 7, "timestamp": (base + timedelta(minutes=3, seconds=5)).isoformat()}
        ontime = {"commodity": "WTI", "price": 61.0, "volume": 3, "timestamp": (base + timedelta(minutes=11, seconds=50)).isoformat()}
        closer = {"commodity": "HH", "price": 3.1, "volume": 1, "timestamp": (base + timedelta(minutes=20)).isoformat()}
        produce(kafka, topic, [late, ontime, closer], key=lambda i, m: m["commodity"])
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_bars_bars_1m") == 12 * 3, 60, "minute 14:11 closed")
        wait_for(lambda: scalar(server, "SELECT count(*) FROM iceberg.live.ticks_bars_bars_5m") == 3 * 3, 60, "5-minute bars up to 14:15")
        late_rows = sql(server, "SELECT commodity, price FROM iceberg.live.ticks_bars_late").to_pylist()
        assert late_rows == [{"commodity": "WTI", "price": 999.0}]

        ticks = sql(server, "SELECT commodity, ts, price, volume, _kafka_partition AS p, _kafka_offset AS o FROM iceberg.live.ticks_bars")
        late_t = sql(server, "SELECT _kafka_partition AS p, _kafka_offset AS o FROM iceberg.live.ticks_bars_late")
        con = helpers.duck(ticks=ticks, late=late_t)
        for table, width, closed in (("ticks_bars_bars_1m", "1 minute", 12), ("ticks_bars_bars_5m", "5 minutes", 15)):
            expected = helpers.duck_rows(con, f"""
                SELECT commodity, time_bucket(INTERVAL '{width}', ts) AS b,
                       arg_min(price, ts) AS open, max(price), min(price), arg_max(price, ts) AS close,
                       sum(volume), sum(price * volume) / nullif(sum(volume), 0) AS vwap, count(*)
                FROM ticks t WHERE NOT EXISTS (SELECT 1 FROM late l WHERE l.p = t.p AND l.o = t.o)
                  AND ts < TIMESTAMPTZ '2025-11-03 14:00:00+00' + INTERVAL '{closed} minutes'
                GROUP BY 1, 2""")
            actual = helpers.rows(sql(server, f"SELECT commodity, bucket_start, open, high, low, close, volume, vwap, trades "
                                              f"FROM iceberg.live.{table}"))
            helpers.assert_rows_equal(actual, expected, rel_tol=1e-9, what=table)

        # Data quality: the bars agree with their ticks (the late tick excluded) ...
        def consistency():
            rows = sql(server, "SELECT check_name, checked, violations, passed FROM iceberg.quality.consistency "
                               "WHERE table_name = 'live.ticks_bars'").to_pylist()
            return {r["check_name"]: (r["checked"], r["violations"], r["passed"]) for r in rows}

        assert consistency() == {
            "bar trades = tick count": (36, 0, True),
            "low <= open, close <= high": (36, 0, True),
            "bar vwap = tick vwap": (36, 0, True),
        }
        # ... until a bar that contradicts them lands (written with pyiceberg): its trades,
        # its low above its open and its VWAP are each one violation.
        bars = helpers.sqlite_catalog(tmp / "data").load_table("live.ticks_bars_bars_1m")
        bad = {"commodity": "WTI", "bucket_start": base + timedelta(minutes=30), "open": 60.0, "high": 62.0,
               "low": 61.0, "close": 61.5, "volume": 10, "vwap": 99.0, "turnover": 990.0, "trades": 4}
        bars.append(pa.Table.from_pylist([bad], schema=bars.schema().as_arrow()))
        assert consistency() == {
            "bar trades = tick count": (37, 1, False),
            "low <= open, close <= high": (37, 1, False),
            "bar vwap = tick vwap": (37, 1, False),
        }
    finally:
        stop_process(server.proc)


def test_a_produced_record_is_visible_through_flight_sql_before_its_commit(contango_bin, kafka, tmp):
    topic = kafka.create_topic("prices-fresh", 1)
    server = start_stream_server(contango_bin, tmp, kafka, name="fresh", topic=topic, table="iceberg.live.ticks_fresh",
                                 batch_interval_ms=60_000, tail_interval_ms=100, rollups=[])
    try:
        wait_for(lambda: scalar(server, "SELECT state FROM system.runtime.streams") == "running", 60, "stream running")
        commits_before = scalar(server, "SELECT commits FROM system.runtime.streams")
        now = datetime.now(timezone.utc)
        seen = []
        for i in range(5):
            marker = 1000.0 + i
            t0 = time.monotonic()
            produce(kafka, topic, [{"commodity": "WTI", "price": marker, "volume": 1, "timestamp": now.isoformat()}])
            wait_for(lambda: scalar(server, f"SELECT count(*) FROM iceberg.live.ticks_fresh WHERE price = {marker}") == 1,
                     10, "the produced record")
            seen.append(time.monotonic() - t0)
            # The same text each round: the results cache must not answer
            # from before the tail grew (the tail's version is in its key).
            assert scalar(server, "SELECT count(*) FROM iceberg.live.ticks_fresh") == i + 1
        # Served from the hot tail: no commit happened (batch interval 60 s).
        assert scalar(server, "SELECT commits FROM system.runtime.streams") == commits_before
        assert scalar(server, "SELECT count(*) FROM iceberg.live.ticks_fresh") == 5
        print("produce→visible seconds:", [round(s, 3) for s in seen])
    finally:
        stop_process(server.proc)
    # On shutdown the stream commits what it holds.
    data = helpers.sqlite_catalog(tmp / "data").load_table("live.ticks_fresh").scan().to_arrow()
    assert sorted(data["price"].to_pylist()) == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]


def test_demo_stream_replays_the_market_live(contango_bin, kafka, tmp):
    from conftest import free_port

    data_dir = tmp / "demo"
    flight, http = free_port(), free_port()
    log = open(tmp / "demo.log", "wb")
    proc = subprocess.Popen(
        [str(contango_bin), "demo", "--data-dir", str(data_dir), "--rows", "2000", "--stream",
         "--brokers", kafka.bootstrap, "--stream-rate", "500",
         "--flight-addr", f"127.0.0.1:{flight}", "--http-addr", f"127.0.0.1:{http}"],
        env=child_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        conn = None

        def rows():
            nonlocal conn
            conn = conn or helpers.adbc_connect(f"grpc://127.0.0.1:{flight}", None, None)
            return helpers.query(conn, "SELECT count(*) FROM iceberg.market.live_ticks").column(0)[0].as_py()

        first = wait_for(rows, 120, "live ticks", proc, tmp / "demo.log")
        wait_for(lambda: rows() > first + 200, 60, "more live ticks", proc, tmp / "demo.log")
        state = helpers.query(conn, "SELECT state, sum(partition_records) FROM system.runtime.streams GROUP BY 1").to_pylist()
        assert state[0]["state"] == "running"
        conn.close()
    finally:
        stop_process(proc)


def test_snapshot_expiry_keeps_the_history_bounded(contango_bin, kafka, tmp):
    topic = kafka.create_topic("prices-expiry", 1)
    base = datetime(2025, 11, 1, 10, tzinfo=timezone.utc)
    server = start_stream_server(contango_bin, tmp, kafka, name="expiry", topic=topic, table="iceberg.live.ticks_expiry",
                                 batch_interval_ms=100, snapshot_retention_secs=1, rollups=[])
    table = "iceberg.live.ticks_expiry"
    try:
        for round_ in range(8):
            produce(kafka, topic, [tick(round_ * 10 + i, base) for i in range(10)])
            wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == 10 * (round_ + 1)
                     and scalar(server, "SELECT sum(tail_rows) FROM system.runtime.streams") == 0, 30, "round committed")
            time.sleep(0.4)
        commits = scalar(server, "SELECT commits FROM system.runtime.streams")
        snapshots = scalar(server, f'SELECT count(*) FROM "ticks_expiry$snapshots"'.replace('"ticks', 'iceberg.live."ticks'))
        assert commits >= 8
        assert snapshots < commits, (snapshots, commits)
        # The data and the resume position survive expiry.
        assert scalar(server, f"SELECT count(DISTINCT _kafka_offset) FROM {table}") == 80
        current = helpers.sqlite_catalog(server.data_dir).load_table("live.ticks_expiry").current_snapshot()
        assert json.loads(current.summary.additional_properties["contango.kafka.offsets"]) == {f"{topic}:0": 80}
    finally:
        stop_process(server.proc)


def test_several_topics_carry_the_topic_column(contango_bin, kafka, tmp):
    a = kafka.create_topic("prices-multi-a", 1)
    b = kafka.create_topic("prices-multi-b", 2)
    base = datetime(2025, 11, 1, 10, tzinfo=timezone.utc)
    got_a = produce(kafka, a, [tick(i, base) for i in range(100)])
    got_b = produce(kafka, b, [tick(i, base) for i in range(150)], key=lambda i, m: str(i))
    table = "iceberg.live.ticks_multi"
    server = start_stream_server(contango_bin, tmp, kafka, name="multi", topic=a, topics=[b], table=table,
                                 batch_interval_ms=200)
    try:
        wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == 250, 60, "both topics")
        rows = sql(server, f"SELECT _kafka_topic AS t, _kafka_partition AS p, _kafka_offset AS o FROM {table}").to_pylist()
        assert sorted((r["t"], r["p"], r["o"]) for r in rows) == sorted([(a, p, o) for p, o in got_a] + [(b, p, o) for p, o in got_b])
        parts = sql(server, "SELECT topic, \"partition\" FROM system.runtime.streams").to_pylist()
        assert {(r["topic"], r["partition"]) for r in parts} == {(a, 0), (b, 0), (b, 1)}
    finally:
        stop_process(server.proc)


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_compaction_rewrites_small_files_of_closed_partitions(contango_bin, kafka, tmp, catalog, request):
    uri = None
    if catalog == "postgres":
        # Its own database: the session's PostgreSQL is shared with other test modules.
        import psycopg2

        pg = request.getfixturevalue("postgres")
        c = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname=pg.database)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'contango_streams'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE contango_streams")
        c.close()
        uri = f"postgres://{pg.user}@{pg.host}:{pg.port}/contango_streams"
    topic = kafka.create_topic(f"prices-compact-{catalog}", 1)
    day1 = datetime(2025, 11, 3, 10, tzinfo=timezone.utc)
    ns = f"live_{catalog}"
    table = f"iceberg.{ns}.ticks_compact"
    files_sql = f'SELECT count(*) FROM iceberg.{ns}."ticks_compact$files"'
    server = start_stream_server(contango_bin, tmp, kafka, catalog_uri=uri, name="compact", topic=topic, table=table,
                                 batch_interval_ms=100, rollups=[], lateness_secs=0,
                                 compaction_interval_secs=3600, compaction_min_files=3)
    produced = []
    try:
        # Five small commits into the day-1 partitions of WTI and HH.
        for r in range(5):
            msgs = [{"commodity": c, "price": 50.0 + r + i / 100, "volume": i, "timestamp": (day1 + timedelta(minutes=r, seconds=i)).isoformat()}
                    for i in range(20) for c in ("WTI", "HH")]
            produced += produce(kafka, topic, msgs)
            wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == len(produced)
                     and scalar(server, "SELECT sum(tail_rows) FROM system.runtime.streams") == 0, 30, "round committed")
        # At least one file per round and commodity (a round may span two commits).
        files_before = scalar(server, files_sql)
        assert files_before >= 10
    finally:
        stop_process(server.proc)
    # Restart with compaction due at once; a tick on day 2 closes day 1.
    server = start_stream_server(contango_bin, tmp, kafka, data_dir=tmp / "data", catalog_uri=uri, name="compact", topic=topic, table=table,
                                 batch_interval_ms=100, rollups=[], lateness_secs=0,
                                 compaction_interval_secs=1, compaction_min_files=3)
    try:
        time.sleep(1.2)
        produced += produce(kafka, topic, [{"commodity": "WTI", "price": 60.0, "volume": 1,
                                            "timestamp": (day1 + timedelta(days=1)).isoformat()}])
        wait_for(lambda: scalar(server, files_sql) == 3, 60,
                 "day-1 partitions compacted into one file each", server.proc, server.log_path)
        assert lineage_set(server, table) == sorted(produced)
        ops = sql(server, f'SELECT operation FROM iceberg.{ns}."ticks_compact$snapshots"').column(0).to_pylist()
        assert "replace" in ops
        if catalog == "sqlite":
            # The commit wrote a NEW metadata file and swapped the pointer; the old file is intact.
            import sqlite3
            with sqlite3.connect(tmp / "data" / "catalog.db") as db:
                cur_loc, prev_loc = db.execute(
                    "SELECT metadata_location, previous_metadata_location FROM iceberg_tables "
                    "WHERE table_name = 'ticks_compact' AND table_namespace = ?", (ns,)).fetchone()
            assert cur_loc != prev_loc
            assert Path(prev_loc.removeprefix("file://")).is_file() and Path(cur_loc.removeprefix("file://")).is_file()
        if catalog == "sqlite":
            arrow = helpers.sqlite_catalog(tmp / "data").load_table(f"{ns}.ticks_compact").scan().to_arrow()
            assert sorted(zip(arrow["_kafka_partition"].to_pylist(), arrow["_kafka_offset"].to_pylist())) == sorted(produced)
        # Streaming continues on top of the replace snapshot, from the same offsets.
        produced += produce(kafka, topic, [{"commodity": "HH", "price": 3.0, "volume": 1,
                                            "timestamp": (day1 + timedelta(days=1, minutes=1)).isoformat()}])
        wait_for(lambda: scalar(server, f"SELECT count(*) FROM {table}") == len(produced), 30, "after compaction")
        assert lineage_set(server, table) == sorted(produced)
    finally:
        stop_process(server.proc)
