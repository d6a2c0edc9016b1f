"""Trino protocol benchmark with the real `trino` Python client.

Usage: python benches/trino_bench.py HOST:PORT
Measures rows/s of a 1M-row result through /v1/statement and the round-trip
latency of a small query (p50/p99 over 200 runs). Prints Markdown rows.
"""

import statistics
import sys
import time

import trino

host, port = sys.argv[1].split(":")
conn = trino.dbapi.connect(host=host, port=int(port), user="bench", catalog="iceberg", schema="market")
cur = conn.cursor()

best = 0.0
for _ in range(3):
    t = time.perf_counter()
    cur.execute("SELECT commodity, ts, price, volume, source FROM ticks LIMIT 1000000")
    n = len(cur.fetchall())
    best = max(best, n / (time.perf_counter() - t))

lat = []
for i in range(200):
    t = time.perf_counter()
    cur.execute(f"SELECT price FROM ticks WHERE commodity = 'WTI' AND ts BETWEEN TIMESTAMP '2025-01-06 08:{i % 60:02}:00' AND TIMESTAMP '2025-01-06 09:{i % 60:02}:00' ORDER BY ts DESC LIMIT 1")
    cur.fetchall()
    lat.append((time.perf_counter() - t) * 1e3)
lat.sort()
print(f"| `/v1/statement`, 1M-row result fetched by the trino client (best of 3) | {n} rows, {best:,.0f} rows/s |")
print(f"| small query round trip with the trino client (200 runs) | p50 {statistics.median(lat):.1f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms |")
