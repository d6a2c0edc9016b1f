"""The long fuzz run (issue 22, deliverable 8): the generators of
`tests/python/fuzzing.py` (generated SQL, mutated corpus statements,
malformed Trino HTTP, garbage Flight calls) against a running server, with a
random seed (printed, so a finding can be replayed) and as many batches as
asked. Unlike the CI test it does not stop at the first finding: it collects
every request whose answer breaks the oracle, checks after every batch that
both endpoints answer `SELECT 1` (stopping if they do not), and prints a
summary. Run it before a release and after changes to the front end.

Usage (from the repository root, with the test venv's Python):
  python benches/fuzz.py --http 127.0.0.1:8080 --flight 127.0.0.1:50051 \\
      [--user U --password P] [--batches 200] [--seed N] [--log SERVER_LOG]

The server must run with auth as given (no --password: auth off); fuzzing
only reads, but run it against a scratch warehouse (`contango demo`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzzing  # noqa: E402
import helpers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", required=True)
    parser.add_argument("--flight", required=True)
    parser.add_argument("--user", default="fuzz")
    parser.add_argument("--password")
    parser.add_argument("--batches", type=int, default=200, help="batches of 10 per generator")
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument("--log", type=Path, help="the server's log, checked for panics")
    args = parser.parse_args()
    print(f"seed {args.seed}, {args.batches} batches of 10 per generator", flush=True)

    flight_uri = f"grpc://{args.flight}"
    tally = fuzzing.Tally()
    trino = fuzzing.TrinoHttp(args.http, args.user, args.password)
    conn = helpers.adbc_connect(flight_uri, args.user, args.password, **fuzzing.flight_session_kwargs())
    token = fuzzing.flight_token(flight_uri, args.user, args.password)
    raw_flight = fuzzing.RawFlight(args.flight, token)
    corpus = fuzzing.corpus_statements()
    started = time.monotonic()

    def alive():
        fuzzing.assert_alive(args.http, flight_uri, args.user, args.password, log_path=args.log)

    def run(name, strategy, send):
        count = [0]

        @seed(args.seed)
        @settings(max_examples=args.batches, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(st.lists(strategy, min_size=10, max_size=10))
        def batch(items):
            for item in items:
                for outcome in send(item):
                    tally.add(outcome)
                    if outcome.problem:
                        print(f"FINDING [{outcome.endpoint}] {outcome.request[:400]!r}\n    -> {outcome.problem}", flush=True)
            alive()
            count[0] += 1
            if count[0] % 20 == 0:
                print(f"  {name}: {count[0]} batches, {len(tally.problems)} findings, "
                      f"{time.monotonic() - started:.0f} s", flush=True)

        batch()

    def sql(statement):
        return [fuzzing.trino_outcome(trino, statement), fuzzing.flight_outcome(conn, statement)]

    try:
        run("generated SQL", fuzzing.statement(), sql)
        run("mutated corpus", fuzzing.mutated(corpus), sql)
        run("Trino HTTP", fuzzing.http_request(args.user, args.password), lambda r: [fuzzing.http_outcome(args.http, r)])
        run("Flight calls", fuzzing.flight_call(), lambda c: [raw_flight.call(*c)])
        for data in fuzzing.RAW_HTTP:
            tally.add(fuzzing.raw_http_outcome(args.http, data))
        alive()
    finally:
        trino.close()
        conn.close()
        raw_flight.close()
    elapsed = time.monotonic() - started
    print(f"\n{len(tally.outcomes)} requests in {elapsed:.0f} s, {len(tally.problems)} findings (seed {args.seed})")
    for key, n in tally.summary().items():
        print(f"  {key:45} {n}")
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())
