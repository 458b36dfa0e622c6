"""Real servers for the integration tests, started on 127.0.0.1 and always stopped: PostgreSQL
(Debian package), Redis (Debian package), an S3 server (moto's standalone server, see
s3_server.py) and an MLflow tracking server. Nothing here is a mock."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTGRES_USER = "dagster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


def missing_servers() -> list[str]:
    missing = []
    if postgres_bin() is None:
        missing.append("postgresql (apt-get install postgresql)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    return missing


def _wait(check, what: str, process: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up in {seconds:.0f}s")
        time.sleep(0.3)


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str

    def uri(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://{POSTGRES_USER}:{self.password}@127.0.0.1:{self.port}/{database}"


@contextmanager
def postgres_server(databases: tuple[str, ...]) -> Iterator[Postgres]:
    """A private cluster with password auth in its own temp folder (pytest's is private to its
    user); as root, the server runs as the `postgres` user, since PostgreSQL refuses root."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    data, sockets, pwfile = root / "pgdata", root / "pgsock", root / "pgpass"
    password = "integration-secret"
    sockets.mkdir(parents=True)
    pwfile.write_text(password + "\n")
    if as_root:
        shutil.chown(root, "postgres")
        for path in (sockets, pwfile):
            shutil.chown(path, "postgres")
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            POSTGRES_USER,
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*ctl, "-o", options, "-l", str(root / "postgres.log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        env = {**os.environ, "PGPASSWORD": password}
        for database in databases:
            subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    POSTGRES_USER,
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    f"CREATE DATABASE {database}",
                ],
                check=True,
                capture_output=True,
                env=env,
            )
        yield Postgres(port, password)
    finally:
        subprocess.run([*ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        _wait(ping, "redis-server", process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def mlflow_server(
    backend_uri: str, artifacts: str, env: dict[str, str], log: Path, auth_uri: str = ""
) -> Iterator[str]:
    """`mlflow server` with a Postgres backend and artifacts proxied to S3; with `auth_uri`,
    basic auth on (users in that database, admin password from MLFLOW_AUTH_ADMIN_PASSWORD)."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_uri, "--artifacts-destination", artifacts,
    ]  # fmt: skip
    if auth_uri:
        ini = log.with_name("basic_auth.ini")
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {auth_uri}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env = {**env, "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
        command += ["--app-name", "basic-auth"]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200,
            "mlflow server",
            process,
            seconds=120,
        )
        yield url
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server and the workers it spawned (its session); SIGKILL what lingers."""
    for signal_number, wait in ((15, 20), (9, 5)):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
