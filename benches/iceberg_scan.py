"""The cold path (issue 19, deliverable 0): Contango reading an Iceberg table
over Flight SQL, side by side with DuckDB's `read_parquet` over the very same
data files, medians of `--runs` runs each.

    contango demo --rows 10000000 --no-serve --data-dir D
    contango serve --data-dir D ...            # (or `demo` without --no-serve)
    python benches/iceberg_scan.py --flight 127.0.0.1:P --warehouse D/warehouse

The DuckDB side reads `WAREHOUSE/market/ticks/data/**/*.parquet` (only the
files of the current snapshot when the table has never been compacted or
overwritten, which holds for a fresh demo). Every query's result is compared
between the two (row counts and rounded values), so a speed-up can never
come from a wrong answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

QUERIES = {
    "count(*)": "SELECT count(*) AS n FROM ticks",
    "1-minute OHLCV + VWAP": (
        "SELECT commodity, date_trunc('minute', ts) AS m, min(price) AS lo, max(price) AS hi, "
        "sum(volume) AS vol, sum(price * volume) / sum(volume) AS vwap, count(*) AS n "
        "FROM ticks GROUP BY 1, 2"
    ),
    "daily stats": (
        "SELECT commodity, date_trunc('day', ts) AS d, avg(price) AS mean, stddev(price) AS sd, "
        "min(price) AS lo, max(price) AS hi FROM ticks GROUP BY 1, 2"
    ),
    "latest price": "SELECT commodity, max_by(price, ts) AS px, max(ts) AS at FROM ticks GROUP BY 1",
    "20-row rolling z-score": (
        "SELECT count(*) AS n FROM (SELECT (price - avg(price) OVER (PARTITION BY commodity, source "
        "ORDER BY ts, price ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)) / stddev(price) OVER (PARTITION BY "
        "commodity, source ORDER BY ts, price ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS z FROM ticks) t "
        "WHERE abs(z) > 4"
    ),
    "point query": "SELECT commodity, ts, price FROM ticks WHERE commodity = 'WTI' AND price > 10000",
}


def contango_runner(flight: str, user: str | None, password: str | None):
    import adbc_driver_flightsql.dbapi as flight_sql
    from adbc_driver_flightsql import DatabaseOptions

    kwargs = {}
    if user:
        kwargs["db_kwargs"] = {"username": user, "password": password or "",
                               DatabaseOptions.TIMEOUT_QUERY.value: "3600"}
    conn = flight_sql.connect(f"grpc://{flight}", **kwargs)

    def run(sql: str):
        with conn.cursor() as cur:
            cur.execute(sql.replace("FROM ticks", "FROM iceberg.market.ticks"))
            return cur.fetch_arrow_table()

    return run


def duckdb_runner(warehouse: Path):
    import duckdb

    files = sorted(str(p) for p in (warehouse / "market" / "ticks" / "data").rglob("*.parquet"))
    if not files:
        sys.exit(f"no Parquet files under {warehouse}/market/ticks/data")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW ticks AS SELECT * FROM read_parquet({files!r})")

    def run(sql: str):
        return con.execute(sql).fetch_arrow_table()

    return run, len(files)


def canonical(table) -> list[tuple]:
    rows = []
    for r in table.to_pylist():
        row = []
        for v in r.values():
            if isinstance(v, float):
                v = round(v, 6) if v == v else "nan"
            elif hasattr(v, "isoformat"):
                v = v.replace(tzinfo=None).isoformat() if hasattr(v, "tzinfo") else v.isoformat()
            row.append(v)
        rows.append(tuple(row))
    return sorted(rows, key=repr)


def timed(run, sql: str, runs: int):
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = run(sql)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flight", required=True, help="Contango's Flight SQL address, host:port")
    ap.add_argument("--warehouse", required=True, type=Path, help="the warehouse directory of the demo")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default="Contango")
    args = ap.parse_args()

    contango = contango_runner(args.flight, args.user, args.password)
    duck, nfiles = duckdb_runner(args.warehouse)
    print(f"{nfiles} Parquet files; medians of {args.runs}\n")
    print(f"| query | {args.label} (s) | DuckDB read_parquet (s) | {args.label}/DuckDB | rows |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for name, sql in QUERIES.items():
        c_time, c_rows = timed(contango, sql, args.runs)
        d_time, d_rows = timed(duck, sql, args.runs)
        same = canonical(c_rows) == canonical(d_rows)
        if not same:
            print(f"RESULTS DIFFER for {name}: {canonical(c_rows)[:3]} vs {canonical(d_rows)[:3]}", file=sys.stderr)
        ratios.append(c_time / d_time)
        flag = "" if same else " (results differ!)"
        print(f"| {name} | {c_time:.3f} | {d_time:.3f} | {c_time / d_time:.2f}{flag} | {c_rows.num_rows} |")
    geo = statistics.geometric_mean(ratios)
    print(f"\ngeometric mean {args.label}/DuckDB: {geo:.2f}")


if __name__ == "__main__":
    main()
