"""Fuzzing both endpoints with a fixed seed and a bounded count (issue 22,
deliverable 8): generated SQL over the Trino subset Contango accepts, mutated
statements of the compatibility corpus, malformed Trino HTTP requests and
garbage Flight calls (tickets, descriptors, commands, actions, DoPut with
truncated Arrow IPC) — see `fuzzing.py` for the generators and the oracle.

Every request must get a result or a clear error; after every batch the
server must still be running, answer `SELECT 1` on both endpoints within ten
seconds, and have logged no panic. The counts below keep this to a few
minutes in CI; `benches/fuzz.py` runs the same generators longer with a
random seed.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import fuzzing
import helpers
from conftest import run_contango, start_contango, stop_process, write_config

SEED = 20261203
BATCH = 10
# Batches per test; FUZZ_SCALE multiplies them (e.g. FUZZ_SCALE=10 before a release).
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))


def fuzz_settings(batches: int):
    return settings(
        max_examples=batches * SCALE,
        derandomize=False,
        database=None,
        deadline=None,
        # No shrinking: a failure names its statements, and shrinking would
        # rerun them an unbounded number of times.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


@pytest.fixture(scope="module")
def fuzz_server(contango_bin, tmp_path_factory):
    """Its own server (a small demo market, auth on): a crash here is the
    finding, and nothing it writes reaches the other tests."""
    root = tmp_path_factory.mktemp("fuzz")
    data_dir = root / "data"
    data_dir.mkdir()
    run_contango(contango_bin, "demo", "--data-dir", str(data_dir), "--rows", "5000", "--no-serve", timeout=300)
    server = start_contango(contango_bin, data_dir, write_config(root / "fuzz.toml"), root)
    try:
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="module")
def clients(fuzz_server):
    trino = fuzzing.TrinoHttp(fuzz_server.http_addr, fuzz_server.user, fuzz_server.password)
    flight = fuzz_server.connect(**fuzzing.flight_session_kwargs())
    try:
        yield trino, flight
    finally:
        trino.close()
        flight.close()


def alive(server) -> None:
    fuzzing.assert_alive(server.http_addr, server.flight_uri, server.user, server.password, server.proc, server.log_path)


def judge(outcomes: list[fuzzing.Outcome]) -> None:
    problems = [o for o in outcomes if o.problem]
    assert not problems, "\n".join(f"[{o.endpoint}] {o.request!r}\n    -> {o.problem}" for o in problems)


# Every SQL outcome of the module, per test: read by the summary test.
TALLIES: dict[str, fuzzing.Tally] = {}


def run_sql_batch(server, clients, statements: list[str], tally: fuzzing.Tally) -> None:
    trino, flight = clients
    outcomes = []
    for sql in statements:
        outcomes.append(tally.add(fuzzing.trino_outcome(trino, sql)))
        outcomes.append(tally.add(fuzzing.flight_outcome(flight, sql)))
    judge(outcomes)
    alive(server)


def test_generated_sql_on_both_endpoints(fuzz_server, clients):
    @seed(SEED)
    @fuzz_settings(batches=40)
    @given(st.lists(fuzzing.statement(), min_size=BATCH, max_size=BATCH))
    def batch(statements):
        run_sql_batch(fuzz_server, clients, statements, TALLIES.setdefault("generated", fuzzing.Tally()))

    batch()


def test_mutated_corpus_on_both_endpoints(fuzz_server, clients):
    corpus = fuzzing.corpus_statements()
    assert len(corpus) > 300, "the compatibility corpus went missing"

    @seed(SEED)
    @fuzz_settings(batches=40)
    @given(st.lists(fuzzing.mutated(corpus), min_size=BATCH, max_size=BATCH))
    def batch(statements):
        run_sql_batch(fuzz_server, clients, statements, TALLIES.setdefault("mutated", fuzzing.Tally()))

    batch()


def test_malformed_trino_http_requests(fuzz_server):
    @seed(SEED)
    @fuzz_settings(batches=20)
    @given(st.lists(fuzzing.http_request(fuzz_server.user, fuzz_server.password), min_size=BATCH, max_size=BATCH))
    def batch(requests):
        judge([fuzzing.http_outcome(fuzz_server.http_addr, r) for r in requests])
        alive(fuzz_server)

    batch()


@pytest.mark.parametrize("data", fuzzing.RAW_HTTP, ids=range(len(fuzzing.RAW_HTTP)))
def test_malformed_http_on_the_wire(fuzz_server, data):
    judge([fuzzing.raw_http_outcome(fuzz_server.http_addr, data)])
    alive(fuzz_server)


def test_garbage_flight_calls(fuzz_server):
    token = fuzzing.flight_token(fuzz_server.flight_uri, fuzz_server.user, fuzz_server.password)
    authed = fuzzing.RawFlight(fuzz_server.flight_addr, token)
    anonymous = fuzzing.RawFlight(fuzz_server.flight_addr, None)
    try:
        @seed(SEED)
        @fuzz_settings(batches=30)
        @given(st.lists(st.tuples(st.integers(0, 9), fuzzing.flight_call()), min_size=BATCH, max_size=BATCH))
        def batch(calls):
            outcomes = []
            for who, (kind, style, messages) in calls:
                client = anonymous if who == 0 else authed
                outcome = client.call(kind, style, messages)
                if who == 0 and outcome.ok and kind not in ("Handshake", "ListActions"):
                    outcome.problem = "answered without credentials"
                outcomes.append(outcome)
            judge(outcomes)
            alive(fuzz_server)

        batch()
    finally:
        authed.close()
        anonymous.close()


def test_fuzzing_left_the_data_intact(fuzz_server, clients):
    """After all of it, the demo tables read as before (row counts against the catalog)."""
    catalog = helpers.sqlite_catalog(fuzz_server.data_dir)
    expected = catalog.load_table("market.ticks").scan().to_arrow().num_rows
    _, flight = clients
    assert helpers.query(flight, "SELECT count(*) AS n FROM ticks").to_pylist() == [{"n": expected}]


def test_generated_sql_reaches_execution():
    """The generator is worth its time only if much of what it writes is
    valid: at least a third of the generated statements must run."""
    tally = TALLIES.get("generated")
    if tally is None:
        pytest.skip("test_generated_sql_on_both_endpoints did not run")
    print(tally.summary())
    trino = [o for o in tally.outcomes if o.endpoint == "trino"]
    ok = sum(o.ok for o in trino)
    assert ok >= len(trino) / 3, tally.summary()


# --------------------------------------------------------------------------- #
# What fuzzing found, kept as regression tests on both endpoints
# --------------------------------------------------------------------------- #

FOUND_ERRORS = [
    # DataFusion's planner unwrapped the value of a typed literal as a string
    # and panicked; Trino rejects these as a syntax error.
    ("SELECT DATE 1", "SYNTAX_ERROR", "takes a quoted string"),
    ("SELECT TIMESTAMP NULL", "SYNTAX_ERROR", "takes a quoted string"),
    # A byte slice of the statement inside a multi-byte character panicked.
    ("FS\U0005aaf1SELECT 1", "SYNTAX_ERROR", ""),
    # An invalid pattern was an internal error.
    ("SELECT regexp_replace('', '(', 'x')", "GENERIC_USER_ERROR", "regex parse error"),
]


@pytest.mark.parametrize("sql, name, needle", FOUND_ERRORS, ids=[c[0][:30] for c in FOUND_ERRORS])
def test_what_fuzzing_found_fails_clearly(fuzz_server, clients, sql, name, needle):
    trino, flight = clients
    status, doc = trino.run(sql)
    assert status == 200 and doc["error"]["errorName"] == name, doc
    assert needle in doc["error"]["message"]
    outcome = fuzzing.flight_outcome(flight, sql)
    assert not outcome.ok and outcome.problem is None, outcome
    assert needle in outcome.message
    alive(fuzz_server)


def test_distinct_try_cast_over_an_iceberg_column(fuzz_server, clients):
    """`SELECT DISTINCT TRY_CAST(col AS ...)` failed planning (DataFusion's
    logical TRY_CAST drops the column's Iceberg field id, the physical one
    keeps it). Oracle: DuckDB over the same table read with pyiceberg."""
    catalog = helpers.sqlite_catalog(fuzz_server.data_dir)
    duck = helpers.duck(ticks=catalog.load_table("market.ticks").scan().to_arrow())
    expected = helpers.duck_rows(duck, "SELECT DISTINCT TRY_CAST(volume AS VARCHAR) AS v FROM ticks")
    trino, flight = clients
    sql = "SELECT DISTINCT TRY_CAST(volume AS varchar) AS v FROM ticks"
    status, doc = trino.run(sql)
    assert "error" not in doc, doc
    assert sorted(map(tuple, doc["data"]), key=helpers.sort_key) == expected
    assert helpers.rows(helpers.query(flight, sql)) == expected
