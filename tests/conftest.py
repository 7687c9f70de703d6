"""Shared fixtures for real servers (PostgreSQL, the Tansu Kafka broker); see tests/servers.py.

- `postgres_url` (session): SQLAlchemy URL of the `postgres` database of a throwaway cluster
  started once per test session. Tests that write should use `pg_database` instead.
- `pg_database`: a fresh, empty database for this test (URL); left in place (dropping costs a
  checkpoint, and the whole cluster is thrown away at the end of the session).
- `kafka_bootstrap` (session): "127.0.0.1:PORT" of a Tansu broker started once per session.
- `kafka_topics`: factory `kafka_topics(*names, partitions=3) -> list[str]` that creates topics
  with names unique to this test (a suffix is added) and returns the real names.

At the end of the session every response an Okta emulator served is checked against Okta's
OpenAPI spec (tests/emulator/spec_session.py); a violation fails the run. Under pytest-xdist
(`-n`), the emulators of every worker log to the controller's directory and the controller checks
them; the secret scan of every worker is merged by the controller (tests/reliability/scan_session.py).

Mark tests that use them `@pytest.mark.postgres` / `@pytest.mark.kafka`. A server that cannot
start fails the test with the reason (nothing is skipped). Consumers in tests should pass
`**servers.FAST_GROUP` to aiokafka (Tansu joins groups slowly with default timeouts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from . import servers
from .emulator.spec_session import pytest_configure as _spec_configure
from .emulator.spec_session import pytest_sessionfinish  # noqa: F401  (session spec check)
from .reliability.scan_session import MergedScan
from .worker_env import settle


def pytest_configure(config: pytest.Config) -> None:
    """The session spec check; under xdist also the controller's merge of the secret scans and the
    workers' terminal settings (worker_env.py)."""
    settle(config)
    _spec_configure(config)
    MergedScan.install(config)


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[servers.PostgresServer]:
    try:
        server = servers.PostgresServer().start()
    except servers.ServerError as exc:
        pytest.fail(f"PostgreSQL test server: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(_postgres_server: servers.PostgresServer) -> str:
    return _postgres_server.url


@pytest.fixture
def pg_database(_postgres_server: servers.PostgresServer) -> str:
    return _postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def _kafka_broker() -> Iterator[servers.KafkaBroker]:
    try:
        broker = servers.KafkaBroker().start()
    except servers.ServerError as exc:
        pytest.fail(f"Kafka test broker: {exc}", pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(_kafka_broker: servers.KafkaBroker) -> str:
    return _kafka_broker.bootstrap


@pytest.fixture
def kafka_topics(kafka_bootstrap: str) -> Callable[..., list[str]]:
    suffix = uuid.uuid4().hex[:8]

    def make(*names: str, partitions: int = 3) -> list[str]:
        return [servers.create_topic(kafka_bootstrap, f"{n}-{suffix}", partitions) for n in names]

    return make
