"""Acceleration (issue 19, deliverable 7): the commodity suite on one data set, four ways,
every client fetching its whole result:

  (a) Contango reading Iceberg (a server without `[[accelerate]]`, `--plain`),
  (b) Contango with the table held in memory (`--flight`, a server with
      `[[accelerate]] table = "iceberg.market.ticks"`, `sort = ["commodity", "ts"]`),
  (c) DuckDB on its own in-memory table, (d) DuckDB `read_parquet` over the same files;

then, on (b): the point query's latency distribution, Flight SQL `SELECT *` throughput, a
Grafana-style repeated query with the results cache on, and the server's peak RSS
(`--pid`). Contango's results cache is off for (a) and (b) (`results_cache=false` in the
session), so they measure the scans. Every result is compared with DuckDB's.

    contango demo --rows 10000000 --no-serve --data-dir D
    contango serve --data-dir D --flight-addr 127.0.0.1:P1 ...              # (a)
    contango serve --config accel.toml --data-dir D --flight-addr 127.0.0.1:P2 ...  # (b)
    python benches/accelerated.py --plain 127.0.0.1:P1 --flight 127.0.0.1:P2 --warehouse D/warehouse --pid PID2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from iceberg_scan import QUERIES, canonical, duckdb_runner, timed  # noqa: E402

SESSION = "adbc.flight.sql.rpc.call_header.x-trino-session"


def flight(addr: str, cache: bool):
    import adbc_driver_flightsql.dbapi as flight_sql
    from adbc_driver_flightsql import DatabaseOptions

    kwargs = {DatabaseOptions.TIMEOUT_QUERY.value: "3600"}
    if not cache:
        kwargs[SESSION] = "results_cache=false"
    conn = flight_sql.connect(f"grpc://{addr}", db_kwargs=kwargs)

    def run(sql: str):
        with conn.cursor() as cur:
            cur.execute(sql.replace("FROM ticks", "FROM iceberg.market.ticks"))
            return cur.fetch_arrow_table()

    return run


def raw_flight(addr: str):
    """pyarrow's Flight client on the Flight SQL statement path (GetFlightInfo + DoGet),
    without ADBC's prepared-statement round trips; results cache off."""
    import pyarrow.flight as fl

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
    import helpers

    client = fl.FlightClient(f"grpc://{addr}")
    options = fl.FlightCallOptions(headers=[(b"x-trino-session", b"results_cache=false")])

    def run(sql: str):
        sql = sql.replace("FROM ticks", "FROM iceberg.market.ticks")
        info = client.get_flight_info(helpers.statement_query(sql), options)
        return client.do_get(info.endpoints[0].ticket, options).read_all()

    return run


def wait_ready(run, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        t = run("SELECT * FROM system.runtime.accelerations WHERE table_name = 'market.ticks'")
        row = {k: v[0] for k, v in t.to_pydict().items()} if t.num_rows else {}
        if row.get("state") == "ready":
            return row
        if time.monotonic() > deadline:
            sys.exit(f"ticks not accelerated in time: {row}")
        time.sleep(1)


def percentiles(run, sql: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run(sql)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1]


def peak_rss(pid: int | None) -> str:
    if pid is None:
        return "not measured (--pid)"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flight", required=True, help="the accelerated server's Flight SQL address")
    ap.add_argument("--plain", help="a server over the same catalog without acceleration")
    ap.add_argument("--warehouse", required=True, type=Path)
    ap.add_argument("--pid", type=int, help="the accelerated server's process id (peak RSS)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    accelerated = flight(args.flight, cache=False)
    started = time.monotonic()
    state = wait_ready(accelerated)
    print(f"accelerated: {state['rows']:,} rows, {state['host_bytes'] / 2**20:,.0f} MiB in {state['chunks']} chunks, "
          f"last refresh {state['last_refresh_seconds']:.1f} s (waited {time.monotonic() - started:.0f} s here)\n")
    plain = flight(args.plain, cache=False) if args.plain else None
    duck_files, nfiles = duckdb_runner(args.warehouse)
    import duckdb

    mem = duckdb.connect()
    mem.execute("SET TimeZone = 'UTC'")
    files = sorted(str(p) for p in (args.warehouse / "market" / "ticks" / "data").rglob("*.parquet"))
    mem.execute(f"CREATE TABLE ticks AS SELECT * FROM read_parquet({files!r})")

    def duck_mem(sql: str):
        return mem.execute(sql).fetch_arrow_table()

    print(f"{nfiles} Parquet files; medians of {args.runs}; results cache off for Contango\n")
    print("| query | (a) Iceberg (s) | (b) accelerated (s) | (c) DuckDB in-memory (s) | (d) DuckDB read_parquet (s) | (b)/(c) | (b)/(d) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    vs_mem, vs_files = [], []
    for name, sql in QUERIES.items():
        b, b_rows = timed(accelerated, sql, args.runs)
        c, c_rows = timed(duck_mem, sql, args.runs)
        d, _ = timed(duck_files, sql, args.runs)
        a = timed(plain, sql, args.runs)[0] if plain else float("nan")
        flag = "" if canonical(b_rows) == canonical(c_rows) else " (results differ!)"
        vs_mem.append(b / c)
        vs_files.append(b / d)
        print(f"| {name}{flag} | {a:.3f} | {b:.3f} | {c:.3f} | {d:.3f} | {b / c:.2f} | {b / d:.2f} |")
    print(f"\ngeometric mean (b)/(c) = {statistics.geometric_mean(vs_mem):.2f}, "
          f"(b)/(d) = {statistics.geometric_mean(vs_files):.2f}\n")

    raw = raw_flight(args.flight)
    point = QUERIES["point query"]
    range_sql = ("SELECT count(*) AS n, avg(price) AS px FROM ticks WHERE commodity = 'WTI' "
                 "AND ts >= TIMESTAMP '2024-03-01 00:00:00 UTC' AND ts < TIMESTAMP '2024-03-02 00:00:00 UTC'")
    for client, run in (("ADBC", accelerated), ("pyarrow.flight", raw)):
        for what, sql in (("point query", point), ("one commodity-day", range_sql), ("SELECT 1", "SELECT 1")):
            p50, p99 = percentiles(run, sql, 200)
            print(f"{what} on (b) via {client}, 200 runs: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")

    for client, run in (("ADBC", accelerated), ("pyarrow.flight", raw)):
        started = time.perf_counter()
        everything = run("SELECT * FROM ticks")
        seconds = time.perf_counter() - started
        print(f"Flight SQL SELECT * on (b) via {client}: {everything.num_rows:,} rows, "
              f"{everything.nbytes / 2**20:,.0f} MiB in {seconds:.2f} s = {everything.nbytes / seconds / 1e9:.2f} GB/s")
        del everything

    # A dashboard panel: one commodity's 1-minute bars over a day (1,440 rows), refreshed.
    cached = flight(args.flight, cache=True)
    panel = ("SELECT date_trunc('minute', ts) AS m, min(price) AS lo, max(price) AS hi, "
             "sum(price * volume) / sum(volume) AS vwap FROM ticks WHERE commodity = 'WTI' "
             "AND ts >= TIMESTAMP '2024-03-01 00:00:00 UTC' AND ts < TIMESTAMP '2024-03-02 00:00:00 UTC' "
             "GROUP BY 1 ORDER BY 1")
    for label, run in (("results cache off", accelerated), ("results cache on", cached)):
        first = timed(run, panel, 1)[0]
        p50, p99 = percentiles(run, panel, 100)
        print(f"Grafana-style panel (one commodity-day of 1-minute bars) repeated, {label}: "
              f"first {first * 1e3:.1f} ms, then p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    print(f"peak RSS of the accelerated server: {peak_rss(args.pid)}")


if __name__ == "__main__":
    main()
