"""The conformance suite's fixtures: `backend` (a real server plus ways to read its state and
inject faults) and `connector` (the connector under test, talking to that server), parametrised
over every connector idsync ships. See docs/connectors.md: passing this suite is the contract.

- okta:       OktaConnector -> the Okta emulator (a real HTTP server, one per test)
- okta-oauth: the same, signing in as a DPoP-bound OAuth 2.0 service app instead of an API token
- scim:       ScimConnector -> scim2-server announcing PATCH, /Bulk, filters and ETags
- scim-basic: ScimConnector -> scim2-server announcing neither /Bulk nor PATCH (single requests, PUT)
- memory:     MemoryIdp -> a MemoryOrg (idsync.testing), the IdP the engine tests run on

`stores` is the engine's state (`ports.Stores`) over each store idsync ships: SQLite,
PostgreSQL and the in-memory one of idsync.testing (test_stores*.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from idsync.adapters.store import Store
from idsync.adapters.store.aio import Runner, sql_stores
from idsync.emulator.okta.client import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorThread
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.ports import IdentityProvider, Stores
from idsync.testing import MemoryStores

from .backends import Backend, MemoryBackend, OktaBackend, OktaOAuthBackend, ScimBackend
from .servers import FARM, TOKEN, ScimFarm

BACKENDS = ["okta", "okta-oauth", "scim", "scim-basic", "memory"]
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"]
_SCIM_CONFIG = {"scim": "full", "scim-basic": "basic"}


@pytest.fixture(scope="session")
def scim_farm() -> Iterator[ScimFarm]:
    FARM.prepare(*_SCIM_CONFIG.values())
    yield FARM
    FARM.stop_all()


@pytest.fixture(scope="session")
def okta_emulator() -> Iterator[EmulatorThread]:
    """One emulator for the session, reset before each test (a short rate-limit minute: 1.2 s)."""
    with EmulatorThread(EmulatorSettings(token="okta-test-token", time_scale=0.02)) as emulator:
        yield emulator


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    name: str = request.param
    if name == "okta":
        okta = OktaBackend(request.getfixturevalue("okta_emulator"))
        okta.admin.reset()
        okta.clear_faults()
        yield okta
        okta.clear_faults()
        okta.close()
        return
    if name == "okta-oauth":
        emulator: EmulatorThread = request.getfixturevalue("okta_emulator")
        EmulatorAdmin(emulator.url).reset()
        oauth = OktaOAuthBackend(emulator)
        oauth.clear_faults()
        yield oauth
        oauth.clear_faults()
        oauth.close()
        return
    if name == "memory":
        yield MemoryBackend()
        return
    scim_farm: ScimFarm = request.getfixturevalue("scim_farm")
    running = scim_farm.get(_SCIM_CONFIG[name])
    tenant, _ = running.new_tenant()
    scim = ScimBackend(name, running.proxy, tenant, TOKEN)
    yield scim
    scim.clear_faults()
    scim.close()


@pytest.fixture
async def connector(backend: Backend) -> AsyncIterator[IdentityProvider]:
    made = backend.connector()
    yield made
    await made.aclose()


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """The engine's ports over a fresh store; the SQL ones with no safety threshold."""
    if request.param == "memory":
        yield MemoryStores()
        return
    url = (
        f"sqlite:///{tmp_path / 'idsync.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    store = Store(url)
    run = Runner(store.dialect)
    yield sql_stores(store, run, lambda tenant: None)
    run.close()
    store.close()
