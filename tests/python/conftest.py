"""Fixtures for the Contango integration tests.

Every server here (Contango, PostgreSQL, s3s-fs) runs on loopback, on a port
picked at runtime, in its own temporary directory, and is killed in fixture
teardown. Readiness is always polled with a bounded timeout.

Environment (exported by scripts/test.sh):
  CONTANGO_BIN  the contango binary under test
  S3S_FS_BIN    the s3s-fs binary (S3-compatible server)
  PG_BIN        directory with PostgreSQL's initdb and postgres
  EIA_DIR       directory with the EIA CSVs (wti-daily.csv, brent-daily.csv, henry-hub-daily.csv)
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import helpers

USER = "alice"
PASSWORD = "secret-pw"
DEMO_ROWS = 20_000

EIA_FILES = {
    "wti": "wti-daily.csv",
    "brent": "brent-daily.csv",
    "henry_hub": "henry-hub-daily.csv",
}


def pytest_configure(config):
    # Every server is on loopback: keep gRPC and HTTP clients away from any proxy.
    for var in ("no_proxy", "NO_PROXY", "no_grpc_proxy"):
        current = os.environ.get(var, "")
        os.environ[var] = ",".join(x for x in (current, "127.0.0.1", "localhost") if x)


# --------------------------------------------------------------------------- #
# Required tools: missing ones fail loudly, never skip.
# --------------------------------------------------------------------------- #


def _required_path(var: str, what: str, executable: bool = True) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(
            f"{var} is not set: it must point to {what} (scripts/test.sh exports it)",
            pytrace=False,
        )
    path = Path(value)
    if not path.exists():
        pytest.fail(f"{var}={value} does not exist ({what})", pytrace=False)
    if executable and path.is_file() and not os.access(path, os.X_OK):
        pytest.fail(f"{var}={value} is not executable ({what})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def contango_bin() -> Path:
    return _required_path("CONTANGO_BIN", "the contango binary")


@pytest.fixture(scope="session")
def s3s_fs_bin() -> Path:
    return _required_path("S3S_FS_BIN", "the s3s-fs binary")


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    d = _required_path("PG_BIN", "PostgreSQL's bin directory", executable=False)
    for tool in ("initdb", "postgres"):
        if not os.access(d / tool, os.X_OK):
            pytest.fail(f"PG_BIN={d} has no executable {tool}", pytrace=False)
    return d


@pytest.fixture(scope="session")
def eia_dir() -> Path:
    d = _required_path("EIA_DIR", "the directory with the EIA CSV files", executable=False)
    for name in EIA_FILES.values():
        if not (d / name).is_file():
            pytest.fail(f"EIA_DIR={d} has no {name}", pytrace=False)
    return d


@pytest.fixture(scope="session")
def eia_csvs(eia_dir: Path) -> dict[str, Path]:
    """Series name (table name) -> CSV path."""
    return {series: eia_dir / name for series, name in EIA_FILES.items()}


# --------------------------------------------------------------------------- #
# Processes
# --------------------------------------------------------------------------- #


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: no inherited CONTANGO_*/AWS_* settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("CONTANGO_") or k.startswith("AWS_") or k == "RUST_LOG")
    }
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (or SIGINT), then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait(timeout=timeout)


def tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as e:
        return f"<cannot read {path}: {e}>"


def run_contango(
    contango_bin: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Runs `contango ARGS...` with a timeout; output is captured (text)."""
    cmd = [str(contango_bin), *args]
    try:
        result = subprocess.run(
            cmd,
            env=child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"contango {' '.join(args)} did not finish within {timeout} s\n"
            f"stdout: {e.stdout}\nstderr: {e.stderr}"
        ) from None
    if check and result.returncode != 0:
        raise AssertionError(
            f"contango {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def contango_import(
    contango_bin: Path,
    config: Path,
    data_dir: Path,
    table: str,
    *files,
    fmt: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess:
    """`contango import --config C --data-dir D --table T [--format F] FILES...`."""
    args = ["import", "--config", str(config), "--data-dir", str(data_dir), "--table", table]
    if fmt:
        args += ["--format", fmt]
    args += [str(f) for f in files]
    return run_contango(contango_bin, *args, env=env, check=check, timeout=timeout)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Polls `predicate` until it returns a truthy value; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what}: process exited with {proc.returncode} before it was ready\n"
                + (tail(log) if log else "")
            )
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = e
        time.sleep(0.1)
    raise TimeoutError(
        f"{what} not ready after {timeout} s (last error: {last_error})\n"
        + (tail(log) if log else "")
    )


# --------------------------------------------------------------------------- #
# Contango server
# --------------------------------------------------------------------------- #


@dataclass
class ContangoServer:
    """A running `contango serve`."""

    bin: Path
    data_dir: Path
    config_path: Path
    flight_addr: str
    http_addr: str
    log_path: Path
    user: str = USER
    password: str = PASSWORD
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def tls_cert(self) -> str | None:
        """The certificate the HTTP port serves (HTTPS), if any."""
        return self.env.get("CONTANGO_SERVER_TLS_CERT")

    @property
    def flight_uri(self) -> str:
        scheme = "grpc+tls" if self.tls_cert else "grpc"
        return f"{scheme}://{self.flight_addr}"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.http_addr}"

    def connect(self, **kwargs):
        """An ADBC Flight SQL connection as `user`."""
        return helpers.adbc_connect(self.flight_uri, self.user, self.password, **kwargs)

    def contango(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """Runs `contango ARGS...` (e.g. `sql --flight-addr ...`) with a timeout."""
        return run_contango(self.bin, *args, **kwargs)

    def import_files(self, table: str, *files, fmt: str | None = None, check: bool = True, env=None, config: Path | None = None, timeout: float = 120.0):
        """`contango import` into this server's catalog (or the catalog of `config`)."""
        return contango_import(
            self.bin, config or self.config_path, self.data_dir, table, *files,
            fmt=fmt, env={**self.env, **(env or {})}, check=check, timeout=timeout,
        )

    def healthz(self) -> dict:
        return http_get_json(self.http_url + "/healthz", cafile=self.tls_cert)


def http_get_json(url: str, timeout: float = 5.0, cafile: str | None = None) -> dict:
    """GET on loopback, never through a proxy from the environment."""
    import ssl

    handlers = [urllib.request.ProxyHandler({})]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    with opener.open(url, timeout=timeout) as r:
        assert r.status == 200, r.status
        return json.loads(r.read())


def write_config(path: Path, *, catalog_uri: str | None = None, warehouse: str | None = None, s3: dict | None = None, users: dict | None = None) -> Path:
    users = users if users is not None else {USER: PASSWORD}
    # Plain HTTP/gRPC on loopback: Basic credentials allowed from this machine only.
    lines = ["[auth]", "enabled = true", 'insecure_basic = "loopback"', "[auth.users]"]
    lines += [f"{u} = {json.dumps(p)}" for u, p in users.items()]
    if catalog_uri or warehouse:
        lines.append("[catalog]")
        if catalog_uri:
            lines.append(f"uri = {json.dumps(catalog_uri)}")
        if warehouse:
            lines.append(f"warehouse = {json.dumps(warehouse)}")
    if s3:
        lines.append("[s3]")
        for k, v in s3.items():
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def start_contango(contango_bin: Path, data_dir: Path, config_path: Path, log_dir: Path, env: dict | None = None, attempts: int = 3) -> ContangoServer:
    """Starts `contango serve` and waits (bounded) for /healthz and the Flight port."""
    last: Exception | None = None
    for attempt in range(attempts):
        flight_port, http_port = free_port(), free_port()
        while http_port == flight_port:
            http_port = free_port()
        log_path = log_dir / f"contango-serve-{flight_port}.log"
        server = ContangoServer(
            bin=contango_bin,
            data_dir=data_dir,
            config_path=config_path,
            flight_addr=f"127.0.0.1:{flight_port}",
            http_addr=f"127.0.0.1:{http_port}",
            log_path=log_path,
            env=dict(env or {}),
        )
        log = open(log_path, "wb")
        server.proc = subprocess.Popen(
            [
                str(contango_bin),
                "serve",
                "--config",
                str(config_path),
                "--data-dir",
                str(data_dir),
                "--flight-addr",
                server.flight_addr,
                "--http-addr",
                server.http_addr,
            ],
            env=child_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            health = wait_for(server.healthz, 60, "contango serve /healthz", server.proc, log_path)
            assert health.get("status") == "ok", health
            wait_for(lambda: socket.create_connection(("127.0.0.1", flight_port), timeout=2).close() or True,
                     30, "contango Flight port", server.proc, log_path)
            return server
        except RuntimeError as e:
            # Exited early: most likely a port taken between free_port() and bind. Retry.
            stop_process(server.proc)
            last = e
            if "in use" not in str(e).lower():
                raise
        except BaseException:
            stop_process(server.proc)
            raise
    raise RuntimeError(f"contango serve did not start after {attempts} attempts: {last}")


def accelerate_env() -> dict[str, str]:
    """`CONTANGO_TEST_ACCELERATE=t1,t2` runs the shared servers with those tables held in
    memory (`CONTANGO_ACCELERATE`), so the same tests check that answers from memory equal
    answers from Iceberg. The test command runs the SQL suites both ways."""
    tables = os.environ.get("CONTANGO_TEST_ACCELERATE", "")
    return {"CONTANGO_ACCELERATE": tables} if tables else {}


def wait_accelerated(server: ContangoServer, timeout: float = 120) -> None:
    """With acceleration on, waits until no accelerated table is still loading (tables not
    created yet stay `missing` and load when they appear)."""
    if not accelerate_env():
        return
    conn = server.connect()
    try:
        busy = "SELECT count(*) AS n FROM system.runtime.accelerations WHERE state IN ('loading', 'refreshing')"
        wait_for(lambda: helpers.query(conn, busy)["n"][0].as_py() == 0, timeout, "accelerated tables loaded",
                 server.proc, server.log_path)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("contango")


@pytest.fixture(scope="session")
def market_server(contango_bin: Path, session_tmp: Path):
    """Synthetic market (`contango demo --no-serve --rows 20000`) served with auth on."""
    data_dir = session_tmp / "market-data"
    data_dir.mkdir()
    run_contango(contango_bin, "demo", "--data-dir", str(data_dir), "--rows", str(DEMO_ROWS), "--no-serve", timeout=300)
    assert (data_dir / "catalog.db").is_file(), "demo did not create catalog.db"
    config = write_config(session_tmp / "market.toml")
    server = start_contango(contango_bin, data_dir, config, session_tmp, env=accelerate_env())
    try:
        wait_accelerated(server)
        yield server
    finally:
        stop_process(server.proc)


@pytest.fixture(scope="session")
def market_catalog(market_server: ContangoServer):
    """pyiceberg's view of the market server's catalog (the oracle's reader)."""
    return helpers.sqlite_catalog(market_server.data_dir)


@pytest.fixture(scope="session")
def eia_server(market_server: ContangoServer, eia_csvs: dict[str, Path]):
    """The market server after `contango import` of the three EIA series into iceberg.eia.*."""
    for series, csv in eia_csvs.items():
        r = market_server.import_files(f"iceberg.eia.{series}", csv)
        assert "imported" in r.stderr, r.stderr
    return market_server


@pytest.fixture(scope="session")
def trino_server(contango_bin, market_server, eia_server, session_tmp):
    """The market + EIA data served with auth off, for the `trino` client (it
    sends Basic credentials only over HTTPS)."""
    config = write_config(session_tmp / "trino.toml")
    server = start_contango(
        contango_bin, market_server.data_dir, config, session_tmp,
        env={"CONTANGO_AUTH_ENABLED": "false", **accelerate_env()},
    )
    try:
        wait_accelerated(server)
        yield server
    finally:
        stop_process(server.proc)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def trino_error(server: ContangoServer, sql: str, **kwargs):
    """The `TrinoQueryError` that running `sql` through the `trino` client raises."""
    import trino

    cur = trino_connect(server, **kwargs).cursor()
    with pytest.raises(trino.exceptions.TrinoQueryError) as info:
        cur.execute(sql)
        cur.fetchall()
    return info.value


def flight_error(server: ContangoServer, sql: str, **db_kwargs) -> Exception:
    """The exception that running `sql` through ADBC raises."""
    with server.connect(**db_kwargs) as conn:
        with pytest.raises(Exception) as info:
            helpers.query(conn, sql)
    return info.value


def trino_connect(server: ContangoServer, **kwargs):
    """A `trino` DB-API connection to `server` as `analyst` in iceberg.market."""
    import trino

    host, port = server.http_addr.split(":")
    options = {"user": "analyst", "catalog": "iceberg", "schema": "market", "http_scheme": "http"}
    options.update(kwargs)
    return trino.dbapi.connect(host=host, port=int(port), **options)


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        """URL for contango (sqlx)."""
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        """URL for pyiceberg's SqlCatalog (SQLAlchemy + psycopg2)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.database}"


def init_postgres(pg_bin: Path, prefix: str) -> tuple[Path, Path, dict]:
    """A new PostgreSQL cluster in a new temporary directory: (directory, data
    directory, the `subprocess` arguments that run its server). PostgreSQL
    refuses to run as root: as root, the server runs as an unprivileged user."""
    run_as: dict = {}
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = pwd.getpwnam("nobody")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    data = base / "data"
    r = subprocess.run(
        [str(pg_bin / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(data)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=base, **run_as,
    )
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed ({r.returncode}): {r.stdout}\n{r.stderr}")
    return base, data, run_as


def postgres_argv(pg_bin: Path, data: Path, base: Path, port: int) -> list[str]:
    """The server of an `init_postgres` cluster on loopback `port`."""
    return [str(pg_bin / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]


def postgres_ready(port: int) -> bool:
    import psycopg2

    psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2).close()
    return True


def create_database(port: int, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()


@pytest.fixture(scope="session")
def postgres(pg_bin: Path):
    base, data, run_as = init_postgres(pg_bin, "contango-pg-")
    log_path = base / "postgres.log"
    proc = None
    try:
        for attempt in range(3):
            port = free_port()
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    postgres_argv(pg_bin, data, base, port),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=base, **run_as,
                )
            try:
                wait_for(lambda: postgres_ready(port), 60, "postgres", proc, log_path)
                break
            except RuntimeError:
                stop_process(proc)
                if attempt == 2:
                    raise
        create_database(port, "contango_it")
        yield Postgres("127.0.0.1", port, "postgres", "contango_it")
    finally:
        if proc is not None:
            stop_process(proc, timeout=20)
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- #
# S3 (s3s-fs)
# --------------------------------------------------------------------------- #


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    root: Path
    region: str = "us-east-1"

    def filesystem(self):
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.endpoint,
            scheme="http",
            region=self.region,
            allow_bucket_creation=True,
            connect_timeout=5,
            request_timeout=30,
        )

    def put_file(self, local: Path, key: str) -> str:
        fs = self.filesystem()
        with fs.open_output_stream(f"{self.bucket}/{key}") as out:
            out.write(Path(local).read_bytes())
        return f"s3://{self.bucket}/{key}"

    def contango_settings(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "allow_http": True,
            "path_style": True,
        }

    def pyiceberg_properties(self) -> dict:
        return {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": self.secret_key,
            "s3.region": self.region,
            "s3.path-style-access": "true",
        }


@pytest.fixture(scope="session")
def s3(s3s_fs_bin: Path, session_tmp: Path):
    import pyarrow.fs as pafs

    root = session_tmp / "s3-root"
    root.mkdir()
    access_key, secret_key = "contango-test-ak", "contango-test-sk-0123456789"
    proc = None
    log_path = session_tmp / "s3s-fs.log"
    try:
        for attempt in range(3):
            port = free_port()
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [str(s3s_fs_bin), "--host", "127.0.0.1", "--port", str(port),
                     "--access-key", access_key, "--secret-key", secret_key, str(root)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            server = S3(f"http://127.0.0.1:{port}", access_key, secret_key, "contango-it", root)

            def ready():
                # ListBuckets: the server answers signed requests.
                server.filesystem().get_file_info(pafs.FileSelector("", recursive=False))
                return True

            try:
                wait_for(ready, 60, "s3s-fs", proc, log_path)
                break
            except RuntimeError:
                stop_process(proc)
                if attempt == 2:
                    raise
        server.filesystem().create_dir(server.bucket)  # S3 CreateBucket
        assert (root / server.bucket).is_dir()
        yield server
    finally:
        if proc is not None:
            stop_process(proc)


@pytest.fixture(scope="module")
def conn(market_server):
    """An authenticated ADBC connection to the market server, one per test module."""
    c = market_server.connect()
    yield c
    c.close()


# --------------------------------------------------------------------------- #
# Kafka-protocol broker (tansu, SQLite storage: survives restarts)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def tansu_bin() -> Path:
    return _required_path("TANSU_BIN", "the tansu broker binary")


class Kafka:
    """A tansu broker on loopback; `stop()`/`start()` keep its data."""

    def __init__(self, bin: Path, directory: Path):
        self.bin = bin
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = directory / "tansu.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(self.bin), "broker",
                "--listener-url", f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                # A relative path: tansu resolves sqlite://FILE against its cwd.
                "--storage-engine", "sqlite://tansu.db",
            ],
            cwd=self.dir,
            env=child_env({"RUST_LOG": "warn"}),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_for(self.ready, 60, "tansu broker", self.proc, self.log_path)

    def ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        return md.brokers is not None and len(md.brokers) > 0

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def create_topic(self, name: str, partitions: int = 3) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(timeout=30)
        wait_for(lambda: len(admin.list_topics(name, timeout=5).topics[name].partitions) == partitions,
                 30, f"topic {name}")
        return name

    def producer(self, **extra):
        from confluent_kafka import Producer

        return Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, **extra})

    def high_watermarks(self, topic: str) -> dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"hw-{time.monotonic_ns()}"})
        try:
            md = c.list_topics(topic, timeout=10)
            out = {}
            for p in md.topics[topic].partitions:
                _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                out[p] = high
            return out
        finally:
            c.close()


@pytest.fixture(scope="module")
def kafka(tansu_bin: Path, tmp_path_factory):
    broker = Kafka(tansu_bin, tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
