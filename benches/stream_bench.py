"""Kafka → Iceberg stream benchmark: sustained ingest and produce→query freshness.

Starts a tansu broker (SQLite storage) and `contango serve --stream ...` on
loopback, then

1. ingest: pre-produces N messages with `contango produce` (rdkafka), starts
   the stream and measures records/s from the first record received until the
   table holds all N (every row committed to Iceberg);
2. freshness: while `contango produce --rate R` keeps loading the topic,
   produces single probe messages with confluent-kafka and polls Flight SQL
   until each is visible; reports p50/p99 of produce→visible.

Usage (from the repo root, after a release build):
  python benches/stream_bench.py --contango target/release/contango \
      --tansu ~/.cache/contango-tools/tansu/bin/tansu --messages 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

import helpers  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"{what} (last error: {last})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contango", required=True)
    ap.add_argument("--tansu", required=True)
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--load-rate", type=float, default=100_000)
    ap.add_argument("--probes", type=int, default=60)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTANGO_")}
    for var in ("no_proxy", "NO_PROXY"):
        env[var] = "127.0.0.1,localhost"
        os.environ[var] = env[var]
    tmp = Path(tempfile.mkdtemp(prefix="contango-stream-bench-"))
    kport = free_port()
    brokers = f"127.0.0.1:{kport}"
    broker = subprocess.Popen(
        [args.tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{kport}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{kport}", "--storage-engine", "sqlite://tansu.db"],
        cwd=tmp, env={**env, "RUST_LOG": "warn"}, stdout=open(tmp / "tansu.log", "wb"), stderr=subprocess.STDOUT)
    server = None
    load = None
    try:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient

        wait(lambda: AdminClient({"bootstrap.servers": brokers}).list_topics(timeout=2).brokers, 60, "broker")
        t0 = time.monotonic()
        subprocess.run([args.contango, "produce", "--brokers", brokers, "--topic", "ticks", "--partitions", "3",
                        "--messages", str(args.messages)], env=env, check=True, capture_output=True)
        produce_rate = args.messages / (time.monotonic() - t0)

        flight, http = free_port(), free_port()
        (tmp / "c.toml").write_text("[auth]\nenabled = false\n")
        spec = (f"name=bench,brokers={brokers},topic=ticks,table=iceberg.bench.ticks,"
                f"batch_rows=200000,batch_interval_ms=1000,tail_interval_ms=100,lateness_secs=5")
        server = subprocess.Popen(
            [args.contango, "serve", "--config", str(tmp / "c.toml"), "--data-dir", str(tmp / "data"),
             "--flight-addr", f"127.0.0.1:{flight}", "--http-addr", f"127.0.0.1:{http}", "--stream", spec],
            env=env, stdout=open(tmp / "contango.log", "wb"), stderr=subprocess.STDOUT)
        conn = wait(lambda: helpers.adbc_connect(f"grpc://127.0.0.1:{flight}", None, None), 60, "server")

        def q(sql):
            return helpers.query(conn, sql).to_pylist()

        wait(lambda: q("SELECT sum(records) AS n FROM system.runtime.streams")[0]["n"], 120, "first records")
        start = time.monotonic()
        committed_sql = "SELECT max(committed_offset) AS c, sum(committed_offset) AS s FROM system.runtime.streams"
        wait(lambda: (q(committed_sql)[0]["s"] or 0) >= args.messages, 600, "all committed")
        ingest_secs = time.monotonic() - start
        count = q("SELECT count(*) AS n FROM iceberg.bench.ticks")[0]["n"]
        assert count == args.messages, count

        # Freshness under load.
        load = subprocess.Popen([args.contango, "produce", "--brokers", brokers, "--topic", "ticks", "--live-time",
                                 "--rate", str(args.load_rate)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(3)
        p = Producer({"bootstrap.servers": brokers, "linger.ms": 0})
        lat = []
        for i in range(args.probes):
            marker = 1_000_000.0 + i
            msg = {"commodity": "PROBE", "price": marker, "volume": 1,
                   "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            t = time.monotonic()
            p.produce("ticks", json.dumps(msg), key="PROBE")
            p.flush(10)
            wait(lambda: q(f"SELECT count(*) AS n FROM iceberg.bench.ticks WHERE commodity = 'PROBE' "
                           f"AND price = {marker}")[0]["n"] == 1, 30, "probe")
            lat.append(time.monotonic() - t)
            time.sleep(0.1)
        rate_under_load = q("SELECT max(records_per_second) AS r FROM system.runtime.streams")[0]["r"]
        lat.sort()
        result = {
            "messages": args.messages,
            "produce_rate_rdkafka": round(produce_rate),
            "ingest_records_per_s": round(args.messages / ingest_secs),
            "ingest_seconds": round(ingest_secs, 2),
            "load_rate_target": args.load_rate,
            "records_per_s_during_probes": round(rate_under_load or 0),
            "freshness_p50_ms": round(1000 * statistics.median(lat), 1),
            "freshness_p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
            "freshness_max_ms": round(1000 * lat[-1], 1),
        }
        print(json.dumps(result, indent=2))
    finally:
        for proc in (load, server, broker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
