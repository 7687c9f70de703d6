"""Profiles survive the trip through SCIM: any mix of the mapped attributes, any (printable)
text, written by create and by partial updates (PATCH and read-modify-PUT), reads back equal.

The engine reports `unchanged` - and spends no call - by comparing what it wants with what the
IdP holds, so a lossy mapping would make every re-import an update.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from idsync.adapters.scim import ScimConnector
from idsync.adapters.scim.mapping import KNOWN_ATTRIBUTES
from tests.conformance.backends import ScimBackend
from tests.conformance.servers import FARM, TOKEN

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=24).filter(
    lambda s: s.strip() == s
)
OPTIONAL = sorted(KNOWN_ATTRIBUTES - {"login", "email", "profileUrl"})
EXTRAS = st.dictionaries(st.sampled_from(OPTIONAL), TEXT, max_size=len(OPTIONAL))


@pytest.fixture(scope="session", autouse=True)
def _scim_servers() -> Iterator[None]:
    FARM.prepare("full", "basic")
    yield
    FARM.stop_all()


def _login() -> str:
    return f"p{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture(params=["full", "basic"])  # PATCH, and read-modify-PUT
async def connector(request: pytest.FixtureRequest) -> AsyncIterator[ScimConnector]:
    """One tenant and one connector for all the examples of a run (each example its own login)."""
    running = FARM.get(request.param)
    tenant, _ = running.new_tenant()
    backend = ScimBackend(f"scim-{request.param}", running.proxy, tenant, TOKEN)
    made = backend.connector()
    yield made
    await made.aclose()
    backend.close()


# No shrinking: every example talks to a real server, and a failure shows its unshrunk example
# in seconds instead of minutes of shrinking.
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(first=EXTRAS, second=EXTRAS)
async def test_profiles_read_back_as_written(
    connector: ScimConnector, first: dict[str, Any], second: dict[str, Any]
) -> None:
    login = _login()
    written = {"login": login, "email": login, **first}
    user = await connector.create_user(written, activate=True)
    found = await connector.find_user(login)
    assert found is not None and found.id == user.id
    assert {k: found.profile.get(k) for k in written} == written

    updated = await connector.update_user(user.id, second)
    expected = {**written, **second}
    read = await connector.get_user(user.id)
    assert read is not None
    for got in (updated.profile, read.profile):
        assert {k: got.get(k) for k in expected} == expected
