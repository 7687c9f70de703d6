"""The conformance suite's fixtures: `backend` (a real server plus ways to read its state and
inject faults) and `connector` (the connector under test, talking to that server), parametrised
over every connector idsync ships. See docs/connectors.md: passing this suite is the contract.

- okta:       OktaConnector -> the Okta emulator (a real HTTP server, one per test)
- scim:       ScimConnector -> scim2-server announcing PATCH, /Bulk, filters and ETags
- scim-basic: ScimConnector -> scim2-server announcing neither /Bulk nor PATCH (single requests, PUT)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from idsync.emulator.okta.server import EmulatorThread
from idsync.emulator.okta.settings import EmulatorSettings
from idsync.ports import IdentityProvider

from .backends import Backend, OktaBackend, ScimBackend
from .servers import FARM, TOKEN, ScimFarm

BACKENDS = ["okta", "scim", "scim-basic"]
_SCIM_CONFIG = {"scim": "full", "scim-basic": "basic"}


@pytest.fixture(scope="session")
def scim_farm() -> Iterator[ScimFarm]:
    yield FARM
    FARM.stop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, scim_farm: ScimFarm) -> Iterator[Backend]:
    name: str = request.param
    if name == "okta":
        with EmulatorThread(EmulatorSettings(token="okta-test-token", time_scale=0.02)) as emulator:
            okta = OktaBackend(emulator)
            yield okta
            okta.close()
        return
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
