"""Configuration through CONTANGO_* environment variables, several users, auth off,
and prepared-statement handles that belong to the user who created them."""

from __future__ import annotations

import adbc_driver_manager.dbapi as dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import helpers
from conftest import run_contango, start_contango, stop_process


@pytest.fixture(scope="module")
def env_server(contango_bin, market_server, tmp_path_factory):
    """A second server over the market data, configured only by environment variables."""
    tmp = tmp_path_factory.mktemp("env-config")
    empty = tmp / "empty.toml"
    empty.write_text("")
    data = market_server.data_dir.resolve()
    env = {
        "CONTANGO_AUTH_USERS": "alice=a-pw,bob=b=pw",  # bob's password contains '='
        "CONTANGO_AUTH_INSECURE_BASIC": "loopback",
        "CONTANGO_QUALITY_ALERTS_DEVIATION_FACTOR": "2.5",  # a float key from the environment
        "CONTANGO_CATALOG_URI": f"sqlite://{data}/catalog.db",
        "CONTANGO_CATALOG_WAREHOUSE": f"{data}/warehouse",
    }
    server = start_contango(contango_bin, tmp / "unused-data-dir", empty, tmp, env=env)
    try:
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="module")
def market_counts(market_catalog):
    oracle = helpers.duck(ticks=market_catalog.load_table("market.ticks").scan().to_arrow())
    return helpers.duck_rows(oracle, "SELECT commodity, count(*) FROM ticks GROUP BY commodity")


SQL = "SELECT commodity, count(*) AS n FROM ticks GROUP BY commodity"


@pytest.mark.parametrize("user,password", [("alice", "a-pw"), ("bob", "b=pw")])
def test_users_from_environment(env_server, market_counts, user, password):
    c = helpers.adbc_connect(env_server.flight_uri, user, password)
    try:
        assert helpers.rows(helpers.query(c, SQL)) == market_counts
    finally:
        c.close()


def test_config_file_password_is_replaced_by_environment(env_server):
    # The market server's password for alice is not valid here.
    with pytest.raises(dbapi.Error) as e:
        c = helpers.adbc_connect(env_server.flight_uri, "alice", "secret-pw")
        try:
            helpers.query(c, "SELECT 1")
        finally:
            c.close()
    assert helpers.status_name(e.value) == "UNAUTHENTICATED", str(e.value)


def test_auth_disabled_by_environment(contango_bin, market_server, market_counts, tmp_path):
    config = tmp_path / "empty.toml"
    config.write_text("")
    server = start_contango(contango_bin, market_server.data_dir, config, tmp_path, env={"CONTANGO_AUTH_ENABLED": "false"})
    try:
        c = helpers.adbc_connect(server.flight_uri, None, None)
        try:
            assert helpers.rows(helpers.query(c, SQL)) == market_counts
        finally:
            c.close()
        client = flight.FlightClient(server.flight_uri)
        try:
            info = client.get_flight_info(helpers.statement_query("SELECT 1 AS x"), flight.FlightCallOptions(timeout=60))
            assert client.do_get(info.endpoints[0].ticket, flight.FlightCallOptions(timeout=60)).read_all().to_pylist() == [{"x": 1}]
        finally:
            client.close()
    finally:
        stop_process(server.proc)


@pytest.mark.parametrize(
    "config_text,env,needle",
    [
        ("[auth]\nenabled = true\n", {}, "no users are configured"),
        ("[server]\nflight_adr = \"127.0.0.1:1\"\n", {}, "flight_adr"),
        ("", {"CONTANGO_AUTH_ENABLED": "maybe"}, "CONTANGO_AUTH_ENABLED"),
        ("[catalog]\ntype = \"hive\"\n[auth]\nenabled = false\n", {}, "catalog.type"),
        ("[auth]\nenabled = false\n", {"CONTANGO_QUALITY_ALERTS_DEVIATION_FACTOR": "lots"}, "expected a number"),
        # Read as a number from the environment (it used to fail as a string), then validated.
        ("[auth]\nenabled = false\n", {"CONTANGO_QUALITY_ALERTS_DEVIATION_FACTOR": "-1"}, "deviation_factor > 0"),
        ("[auth]\nenabled = false\n", {"CONTANGO_AUTH_INSECURE_BASIC": "always"}, "insecure_basic"),
        ("[auth]\nenabled = false\n", {"CONTANGO_SERVER_CLIENT_TIMEOUT": "soon"}, "client_timeout"),
    ],
    ids=["auth-without-users", "unknown-key", "bad-bool-env", "bad-catalog-type", "bad-float-env",
         "float-env-validated", "bad-insecure-basic", "bad-client-timeout"],
)
def test_invalid_configuration_is_refused(contango_bin, tmp_path, config_text, env, needle):
    config = tmp_path / "bad.toml"
    config.write_text(config_text)
    r = run_contango(
        contango_bin, "serve", "--config", str(config), "--data-dir", str(tmp_path / "data"),
        "--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", env=env, check=False, timeout=60,
    )
    assert r.returncode != 0, r
    assert needle in r.stderr, r.stderr


# --- prepared statements belong to their creator (NOT_FOUND for anyone else) --- #


def _client(server, user, password):
    c = flight.FlightClient(server.flight_uri)
    opts = flight.FlightCallOptions(headers=[c.authenticate_basic_token(user, password)], timeout=60)
    return c, opts


def test_prepared_statement_handle_is_private_to_its_user(env_server, market_counts):
    alice, alice_opts = _client(env_server, "alice", "a-pw")
    bob, bob_opts = _client(env_server, "bob", "b=pw")
    try:
        request = helpers.sql_any("ActionCreatePreparedStatementRequest", helpers.pb_bytes_field(1, SQL.encode()))
        results = list(alice.do_action(flight.Action("CreatePreparedStatement", request), alice_opts))
        assert len(results) == 1
        any_msg = helpers.pb_fields(results[0].body.to_pybytes())
        assert any_msg[1].decode().endswith("ActionCreatePreparedStatementResult")
        handle = helpers.pb_fields(any_msg[2])[1]
        assert handle

        command = flight.FlightDescriptor.for_command(
            helpers.sql_any("CommandPreparedStatementQuery", helpers.pb_bytes_field(1, handle))
        )
        info = alice.get_flight_info(command, alice_opts)
        assert helpers.rows(alice.do_get(info.endpoints[0].ticket, alice_opts).read_all()) == market_counts

        # Bob can neither plan nor run nor close alice's statement.
        with pytest.raises(pa.ArrowKeyError, match="unknown or closed prepared statement"):
            bob.get_flight_info(command, bob_opts)
        with pytest.raises(pa.ArrowKeyError, match="unknown or closed prepared statement"):
            bob.do_get(info.endpoints[0].ticket, bob_opts).read_all()
        close = helpers.sql_any("ActionClosePreparedStatementRequest", helpers.pb_bytes_field(1, handle))
        with pytest.raises(pa.ArrowKeyError, match="unknown or closed prepared statement"):
            list(bob.do_action(flight.Action("ClosePreparedStatement", close), bob_opts))

        # Still alice's, and she can close it; afterwards it is gone.
        info = alice.get_flight_info(command, alice_opts)
        assert helpers.rows(alice.do_get(info.endpoints[0].ticket, alice_opts).read_all()) == market_counts
        list(alice.do_action(flight.Action("ClosePreparedStatement", close), alice_opts))
        with pytest.raises(pa.ArrowKeyError, match="unknown or closed prepared statement"):
            alice.get_flight_info(command, alice_opts)
    finally:
        alice.close()
        bob.close()
