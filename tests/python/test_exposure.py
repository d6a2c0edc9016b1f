"""Auth on every URI and less exposure (issue 22, deliverables 3 and 5), on
a server with auth on and three users (`root` an administrator):

- a query's `nextUri` serves pages, and accepts a DELETE, only with its
  owner's credentials (401 without, 403 for another user);
- `system.runtime.queries` shows a user only their own queries, an
  administrator everyone's (both endpoints);
- Basic credentials are refused without TLS unless `insecure_basic =
  "loopback"` (both endpoints);
- failed logins are throttled per user and address (both endpoints);
- `nextUri` is built from the listener, never from the `Host` header;
- a query whose client stops polling is cancelled as ABANDONED_QUERY after
  `client_timeout` and its `nextUri` forgotten;
- a client that never finishes its request headers is disconnected after
  `request_timeout`.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request

import pytest
import trino

import helpers
from conftest import start_contango, stop_process, wait_for

USERS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw"}


def config_text(insecure_basic: str) -> str:
    lines = [
        "[server]",
        'client_timeout = "3s"',
        'request_timeout = "2s"',
        "[auth]",
        "enabled = true",
        f'insecure_basic = "{insecure_basic}"',
        'admins = ["root"]',
        "[auth.users]",
    ]
    lines += [f'{u} = "{p}"' for u, p in USERS.items()]
    return "\n".join(lines) + "\n"


def serve(contango_bin, market_server, tmp, name: str, insecure_basic: str):
    config = tmp / f"{name}.toml"
    config.write_text(config_text(insecure_basic))
    # Readiness is polled on /healthz and the Flight port, which need no credentials.
    server = start_contango(contango_bin, market_server.data_dir, config, tmp)
    server.user, server.password = "alice", USERS["alice"]
    return server


@pytest.fixture(scope="module")
def server(contango_bin, market_server, tmp_path_factory):
    s = serve(contango_bin, market_server, tmp_path_factory.mktemp("exposure"), "loopback", "loopback")
    try:
        yield s
    finally:
        stop_process(s.proc)


@pytest.fixture(scope="module")
def strict_server(contango_bin, market_server, tmp_path_factory):
    s = serve(contango_bin, market_server, tmp_path_factory.mktemp("strict"), "strict", "refuse")
    try:
        yield s
    finally:
        stop_process(s.proc)


def basic(user: str, password: str | None = None) -> str:
    password = USERS[user] if password is None else password
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(url: str, *, method: str = "GET", data: bytes | None = None, user: str | None = None,
            headers: dict | None = None):
    """(status, JSON body or text) of one HTTP request."""
    h = dict(headers or {})
    if user is not None:
        h["Authorization"] = basic(user)
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def post(server, sql: str, user: str, headers: dict | None = None) -> dict:
    status, body = request(f"{server.http_url}/v1/statement", method="POST", data=sql.encode(), user=user,
                           headers={"X-Trino-User": user, **(headers or {})})
    assert status == 200, body
    return body


def follow(uri: str, user: str) -> list:
    """Rows of a query, following `nextUri` as `user`."""
    rows = []
    while uri:
        status, body = request(uri, user=user)
        assert status == 200, body
        assert "error" not in body, body["error"]
        rows += body.get("data") or []
        uri = body.get("nextUri")
    return rows


def test_next_uri_needs_the_owners_credentials(server):
    first = post(server, "SELECT count(*) FROM ticks", "alice")
    uri = first["nextUri"]
    status, body = request(uri)
    assert status == 401 and "authentication required" in body["error"], body
    status, body = request(uri, user="bob")
    assert status == 403 and "another user" in body["error"], body
    status, _ = request(uri, method="DELETE")
    assert status == 401
    status, _ = request(uri, method="DELETE", user="bob")
    assert status == 403
    # Neither attempt touched the query: the owner reads its one row.
    rows = follow(uri, "alice")
    assert len(rows) == 1 and rows[0][0] > 0, rows


def test_owner_reads_rows_and_can_cancel(server):
    first = post(server, "SELECT count(*) FROM ticks", "alice")
    rows = follow(first["nextUri"], "alice")
    assert len(rows) == 1 and rows[0][0] > 0

    second = post(server, "SELECT * FROM ticks", "bob")
    status, _ = request(second["nextUri"], method="DELETE", user="bob")
    assert status == 204
    status, body = request(second["nextUri"], user="bob")
    assert status == 200 and body["error"]["errorName"] == "USER_CANCELED", body


def test_runtime_queries_shows_others_only_to_admins(server):
    marker = f"exposure-{time.time_ns()}"
    follow(post(server, f"SELECT '{marker}' AS bob_secret", "bob")["nextUri"], "bob")
    sql = f"SELECT \"user\" FROM system.runtime.queries WHERE query LIKE '%{marker}%' AND query LIKE '%bob_secret%'"

    def trino_users(user: str) -> set:
        cur = trino.dbapi.connect(host="127.0.0.1", port=int(server.http_addr.split(":")[1]), user=user,
                                  http_headers={"Authorization": basic(user)}).cursor()
        cur.execute(sql)
        return {r[0] for r in cur.fetchall()}

    def flight_users(user: str) -> set:
        with helpers.adbc_connect(server.flight_uri, user, USERS[user]) as conn:
            return {r["user"] for r in helpers.query(conn, sql).to_pylist()}

    # The LIKE filter matches the reader's own query text too: only bob's counts.
    for users in (trino_users, flight_users):
        assert "bob" in users("bob")
        assert "bob" not in users("alice"), users.__name__
        assert "bob" in users("root"), users.__name__


def test_admin_may_kill_another_users_query_and_others_may_not(server):
    import threading

    first = post(server, "SELECT max(a.price * b.price) FROM ticks a CROSS JOIN ticks b", "bob")
    query_id = first["id"]
    last = {}

    def poll():  # bob keeps fetching (client_timeout is 3 s) until the query ends
        uri, deadline = first["nextUri"], time.time() + 60
        while uri and time.time() < deadline:
            status, body = request(uri, user="bob")
            assert status == 200
            last["body"] = body
            uri = body.get("nextUri")

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with helpers.adbc_connect(server.flight_uri, "alice", USERS["alice"]) as conn:
            with pytest.raises(Exception) as e:
                helpers.query(conn, f"CALL system.runtime.kill_query(query_id => '{query_id}')")
            assert "Access Denied" in helpers.error_text(e.value)
        with helpers.adbc_connect(server.flight_uri, "root", USERS["root"]) as conn:
            helpers.query(conn, f"CALL system.runtime.kill_query(query_id => '{query_id}', message => 'by root')")
    finally:
        poller.join(90)
    body = last["body"]
    assert body["error"]["errorName"] == "ADMINISTRATIVELY_KILLED", body
    assert "by root" in body["error"]["message"]


def test_next_uri_is_built_from_the_listener_not_the_host_header(server):
    first = post(server, "SELECT 1", "alice", headers={"Host": "evil.example", "X-Forwarded-Proto": "https",
                                                       "X-Forwarded-Host": "evil.example"})
    assert first["nextUri"].startswith(f"http://{server.http_addr}/"), first["nextUri"]
    assert "evil" not in first["infoUri"]
    assert follow(first["nextUri"], "alice") == [[1]]


def test_basic_without_tls_is_refused_unless_loopback_is_allowed(strict_server):
    status, body = request(f"{strict_server.http_url}/v1/statement", method="POST", data=b"SELECT 1", user="alice")
    assert status == 401 and "without TLS" in body["error"], body
    with pytest.raises(Exception) as e:
        with helpers.adbc_connect(strict_server.flight_uri, "alice", USERS["alice"]) as conn:
            helpers.query(conn, "SELECT 1")
    assert "without TLS" in helpers.error_text(e.value)


def test_failed_logins_are_throttled_on_both_endpoints(server):
    import pyarrow.flight as flight

    url = f"{server.http_url}/v1/statement"
    for _ in range(5):
        status, body = request(url, method="POST", data=b"SELECT 1", headers={"Authorization": basic("bob", "guess")})
        assert status == 401 and "invalid credentials" in body["error"], body
    # Locked out now, even with the right password (for about a second).
    status, body = request(url, method="POST", data=b"SELECT 1", user="bob")
    assert status == 401 and "too many failed logins" in body["error"], body
    client = flight.FlightClient(server.flight_uri)
    with pytest.raises(flight.FlightUnauthenticatedError, match="too many failed logins"):
        client.authenticate_basic_token("bob", USERS["bob"])
    # Other users are not affected.
    assert follow(post(server, "SELECT 2", "alice")["nextUri"], "alice") == [[2]]
    # After the lockout the right password works again.
    wait_for(lambda: request(url, method="POST", data=b"SELECT 3", user="bob")[0] == 200, 10, "lockout to end")


def test_abandoned_queries_are_cancelled_and_forgotten(server):
    marker = f"abandoned-{time.time_ns()}"
    firsts = [post(server, f"SELECT '{marker}', count(*) FROM ticks", "alice") for _ in range(20)]
    ids = {f["id"] for f in firsts}

    def states() -> dict:
        with helpers.adbc_connect(server.flight_uri, "root", USERS["root"]) as conn:
            rows = helpers.query(conn, "SELECT query_id, state, error_code FROM system.runtime.queries").to_pylist()
        return {r["query_id"]: (r["state"], r["error_code"]) for r in rows if r["query_id"] in ids}

    # client_timeout is 3 s; the registry looks every 5 s.
    wait_for(lambda: len(states()) == 20 and all(s == ("FAILED", "ABANDONED_QUERY") for s in states().values()),
             30, "abandoned queries to be cancelled")
    status, body = request(firsts[0]["nextUri"], user="alice")
    assert status == 404 and "unknown or expired" in body["error"], body


def test_slow_request_headers_are_cut_off(server):
    host, port = server.http_addr.split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(b"POST /v1/statement HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        data = s.recv(4096)  # the server closes (request_timeout is 2 s)
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
    assert time.monotonic() - started < 15
    # A slow body is cut off too.
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(b"POST /v1/statement HTTP/1.1\r\nHost: x\r\nX-Trino-User: alice\r\nAuthorization: "
                  + basic("alice").encode() + b"\r\nContent-Length: 100\r\n\r\nSELECT")
        data = s.recv(4096)
    assert b" 408 " in data.split(b"\r\n", 1)[0], data
    # And the server still answers.
    assert follow(post(server, "SELECT 4", "alice")["nextUri"], "alice") == [[4]]
