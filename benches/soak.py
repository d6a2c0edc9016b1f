"""Load and soak (issue 22, deliverable 9): CLIENTS concurrent clients, half
through the Trino protocol (the `trino` client) and half through Flight SQL
(ADBC), for SECONDS, against a running server with auth off. Each client
loops over a mix: point queries, an aggregation, a paged 200k-row scan, a
query it cancels (Trino DELETE / Flight: closing the reader early) and a
query it kills with `kill_query`. Reports per-kind counts, errors (expected
ones, such as the killed query's ADMINISTRATIVELY_KILLED, are counted apart),
p50/p99 latency and the server's peak RSS.

Usage: python benches/soak.py HTTP_HOST:PORT FLIGHT_HOST:PORT SERVER_PID [CLIENTS] [SECONDS]
"""

from __future__ import annotations

import collections
import statistics
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import trino

http, grpc, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 64
seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 600

POINT = ("SELECT price FROM ticks WHERE commodity = 'WTI' AND ts BETWEEN TIMESTAMP '2025-01-06 08:{m:02}:00' "
         "AND TIMESTAMP '2025-01-06 09:{m:02}:00' ORDER BY ts DESC LIMIT 1")
AGG = "SELECT commodity, count(*), avg(price), max(volume) FROM ticks GROUP BY commodity"
PAGED = "SELECT commodity, ts, price FROM ticks LIMIT 200000"
SLOW = "SELECT a.price * b.price FROM ticks a CROSS JOIN ticks b"  # streams at once, never ends

lock = threading.Lock()
latency: dict[str, list[float]] = collections.defaultdict(list)
errors: collections.Counter = collections.Counter()
expected: collections.Counter = collections.Counter()
peak_rss = 0.0
stop = time.monotonic() + seconds


def rss_mb() -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def record(kind: str, started: float, error: Exception | None = None, ok_error: str | None = None):
    with lock:
        if error is None:
            latency[kind].append((time.monotonic() - started) * 1e3)
        elif ok_error and ok_error in str(error):
            expected[kind] += 1
        else:
            errors[f"{kind}: {str(error)[:120]}"] += 1


def trino_client(i: int):
    host, port = http.split(":")
    conn = trino.dbapi.connect(host=host, port=int(port), user=f"soak{i}", catalog="iceberg", schema="market")
    n = 0
    while time.monotonic() < stop:
        n += 1
        cur = conn.cursor()
        kind = ["point", "point", "point", "agg", "paged", "cancel", "kill"][n % 7]
        t = time.monotonic()
        try:
            if kind == "point":
                cur.execute(POINT.format(m=n % 60)); cur.fetchall(); record(kind, t)
            elif kind == "agg":
                cur.execute(AGG); cur.fetchall(); record(kind, t)
            elif kind == "paged":
                cur.execute(PAGED); assert len(cur.fetchall()) == 200_000; record(kind, t)
            elif kind == "cancel":
                cur.execute(SLOW); cur.cancel(); record(kind, t)
            else:
                cur.execute(SLOW)
                kill = conn.cursor()
                kill.execute(f"CALL system.runtime.kill_query(query_id => '{cur.query_id}', message => 'soak')")
                kill.fetchall()
                try:
                    cur.fetchall()
                except trino.exceptions.TrinoQueryError as e:
                    record(kind, t, e, "ADMINISTRATIVELY_KILLED")
                    continue
                record(kind, t)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            record(kind, t, e, "USER_CANCELED" if kind == "cancel" else None)


def flight_client(i: int):
    conn = flight_sql.connect(f"grpc://{grpc}", autocommit=True)
    n = 0
    while time.monotonic() < stop:
        n += 1
        kind = ["point", "point", "point", "agg", "paged", "cancel"][n % 6]
        t = time.monotonic()
        cur = conn.cursor()
        try:
            if kind == "point":
                cur.execute(POINT.format(m=n % 60)); cur.fetch_arrow_table()
            elif kind == "agg":
                cur.execute(AGG); cur.fetch_arrow_table()
            elif kind == "paged":
                cur.execute(PAGED); assert cur.fetch_arrow_table().num_rows == 200_000
            else:
                cur.execute("SELECT * FROM ticks"); cur.fetchone()  # then close: the stream is dropped
            record(kind, t)
        except Exception as e:  # noqa: BLE001
            record(kind, t, e)
        finally:
            cur.close()
    conn.close()


def watch_rss():
    global peak_rss
    while time.monotonic() < stop + 5:
        peak_rss = max(peak_rss, rss_mb())
        time.sleep(0.5)


rss_before = rss_mb()
threads = [threading.Thread(target=watch_rss)]
threads += [threading.Thread(target=trino_client if i % 2 == 0 else flight_client, args=(i,)) for i in range(clients)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(f"| clients | {clients} ({clients // 2} trino, {clients - clients // 2} ADBC) for {seconds:.0f} s |")
for kind, values in sorted(latency.items()):
    values.sort()
    print(f"| {kind} | {len(values)} ok, p50 {statistics.median(values):.1f} ms, p99 {values[int(len(values) * 0.99) - 1]:.1f} ms |")
print(f"| expected errors (killed) | {sum(expected.values())} |")
print(f"| unexpected errors | {sum(errors.values())} |")
for e, count in errors.most_common(10):
    print(f"|  - {count} x {e} | |")
print(f"| server RSS | {rss_before:.0f} MB before, peak {peak_rss:.0f} MB |")
