"""DuckDB on the GPU benchmark's queries over identical synthetic ticks.

Prints one line per size and query: `ROWS QUERY SECONDS` (median of --reps),
which `gpu_bench --duckdb FILE` puts beside Contango's timings. The data
follows the same formulas as benches/src/bin/gpu_bench.rs.

    python benches/gpu_duckdb.py --rows 10000000 > duckdb.txt
"""

import argparse
import statistics
import sys
import time

import duckdb

COMMODITIES = 16
START_US = 1_735_689_600_000_000
SPAN_US = 30 * 86_400_000_000

QUERIES = {
    "ohlcv_1m": """SELECT commodity, time_bucket(INTERVAL '1 minute', ts) AS b, arg_min(price, ts) AS o,
        max(price) AS h, min(price) AS l, arg_max(price, ts) AS c, sum(volume) AS v,
        sum(price * volume) / sum(volume) AS vwap FROM ticks GROUP BY ALL""",
    "daily_stats": """SELECT commodity, date_trunc('day', ts) AS d, count(*) AS n, avg(price) AS mean,
        stddev_samp(price) AS sd, min(price) AS lo, max(price) AS hi FROM ticks GROUP BY ALL""",
    "zscore_scan": """SELECT commodity, ts, price, z FROM (
        SELECT commodity, ts, price, (price - avg(price) OVER w) / stddev_samp(price) OVER w AS z,
               count(*) OVER w AS k
        FROM ticks WINDOW w AS (PARTITION BY commodity ORDER BY ts ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING))
        WHERE k = 20 AND abs(z) > 4""",
    "latest_price": """SELECT commodity, max(ts) AS ts, arg_max(price, ts) AS price FROM ticks GROUP BY ALL""",
}


def load(con, n):
    per = n // COMMODITIES
    step = SPAN_US // per
    con.execute("DROP TABLE IF EXISTS ticks")
    con.execute(
        f"""CREATE TABLE ticks AS
        SELECT 'C' || lpad(CAST(c AS VARCHAR), 2, '0') AS commodity,
               make_timestamp({START_US} + j * {step}) AS ts,
               (50.0 + 5.0 * c + 10.0 * sin(j * 1e-4 + c) + 0.3 * sin(j * 0.7919 + c * 1.3))
                 * (CASE WHEN j % 10007 = 0 THEN 3.0 ELSE 1.0 END) AS price,
               CAST(1 + (j * 7919 + c * 104729) % 500 AS DOUBLE) AS volume
        FROM (SELECT i // {per} AS c, i % {per} AS j FROM range({per * COMMODITIES}) t(i))"""
    )
    return per * COMMODITIES


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="10000000")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    con = duckdb.connect()
    for n in [int(x) for x in args.rows.split(",")]:
        n = load(con, n)
        for name, sql in QUERIES.items():
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                con.execute(sql).fetch_arrow_table()
                times.append(time.perf_counter() - t0)
            print(f"{n} {name} {statistics.median(times):.6f}", flush=True)
            print(f"duckdb {n} {name} {statistics.median(times):.3f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
