"""What only the SCIM connector does, against scim2-server over HTTP (behind the fault proxy):
ServiceProviderConfig discovery, /Bulk batching sized by the server's limits with results and
errors per operation, bearer-token auth, and userName filters that stay data.

The shared contract (create, update, lifecycle, errors) is in tests/conformance.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from idsync.adapters.scim import Capabilities, ScimConnector
from idsync.domain.models import Lane
from idsync.errors import Conflict, InvalidRequest, NotFound, Unauthorized, UnknownOutcome
from tests.conformance.backends import ScimBackend, profile
from tests.conformance.servers import FARM, TOKEN


@pytest.fixture(scope="session", autouse=True)
def _scim_servers() -> Iterator[None]:
    FARM.prepare("full", "basic", "small-bulk", "tiny-payload")
    yield
    FARM.stop_all()


def scim_backend(config: str, **connector_options: Any) -> ScimBackend:
    running = FARM.get(config)
    tenant, _ = running.new_tenant()
    # A wide window: the test decides what arrives together, not the scheduler.
    return ScimBackend(
        f"scim-{config}", running.proxy, tenant, TOKEN, **{"bulk_window_s": 0.05, **connector_options}
    )


@pytest.fixture
async def small_bulk() -> AsyncIterator[tuple[ScimBackend, ScimConnector]]:
    backend = scim_backend("small-bulk")
    connector = backend.connector()
    await connector.find_user("warm.up@example.com")  # discovery done: calls below batch at once
    yield backend, connector
    await connector.aclose()
    backend.clear_faults()
    backend.close()


async def test_discovery_reads_what_the_server_offers() -> None:
    expected = {
        "full": Capabilities(
            patch=True, bulk=True, filter=True, etag=True, max_operations=1000, max_payload_bytes=1048576
        ),
        "basic": Capabilities(
            patch=False, bulk=False, filter=True, etag=True, max_operations=None, max_payload_bytes=None
        ),
        "small-bulk": Capabilities(
            patch=True, bulk=True, filter=True, etag=True, max_operations=3, max_payload_bytes=1048576
        ),
    }
    for config, capabilities in expected.items():
        backend = scim_backend(config)
        connector = backend.connector()
        try:
            await connector.find_user("anyone@example.com")
            assert connector.capabilities == capabilities, config
            assert len(backend.proxy.requests(backend.prefix, "GET", "/ServiceProviderConfig")) == 1
        finally:
            await connector.aclose()
            backend.close()


async def test_without_bulk_and_patch_the_connector_sends_single_requests_and_put() -> None:
    backend = scim_backend("basic")
    connector = backend.connector()
    try:
        users = await asyncio.gather(
            *(connector.create_user(profile(f"b{i}@example.com"), activate=False) for i in range(4))
        )
        await connector.update_user(users[0].id, {"title": "Chief"})
        await connector.activate_user(users[1].id, send_email=False)
    finally:
        await connector.aclose()
    seen = backend.proxy.requests(backend.prefix)
    assert {(s.method, s.path.split("/v2/")[1].split("/")[0]) for s in seen if s.method != "GET"} == {
        ("POST", "Users"),
        ("PUT", "Users"),
    }
    held = backend.user("b0@example.com")
    assert held is not None and held.title == "Chief"
    held = backend.user("b1@example.com")
    assert held is not None and held.active


async def test_concurrent_writes_travel_in_bulk_requests_sized_by_max_operations(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk
    logins = [f"batch{i}@example.com" for i in range(8)]

    users = await asyncio.gather(*(connector.create_user(profile(login), activate=False) for login in logins))

    assert backend.proxy.bulk_sizes(backend.prefix) == [3, 3, 2]  # maxOperations is 3
    assert backend.proxy.requests(backend.prefix, "POST", "/Users") == []  # no single creates
    for login, user in zip(logins, users, strict=True):
        held = backend.user(login)
        assert held is not None and held.id == user.id and user.login == login and not held.active


async def test_each_operation_of_a_bulk_request_gets_its_own_result_or_error(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk
    taken = await connector.create_user(profile("taken@example.com"), activate=True)
    doomed = await connector.create_user(profile("doomed@example.com"), activate=True)
    gone = await connector.create_user(profile("gone@example.com"), activate=False)
    await connector.delete_user(gone.id, deprovisioned=False)
    before = len(backend.proxy.bulk_sizes(backend.prefix))

    outcomes = await asyncio.gather(
        connector.create_user(profile("fresh@example.com"), activate=True),
        connector.create_user(profile("TAKEN@example.com"), activate=True),
        connector.deactivate_user(gone.id),
        connector.delete_user(doomed.id, deprovisioned=False),
        connector.deactivate_user(taken.id),
        return_exceptions=True,
    )

    assert backend.proxy.bulk_sizes(backend.prefix)[before:] == [3, 2]
    fresh, clash, missing, deleted, deactivated = outcomes
    assert not isinstance(fresh, BaseException) and backend.user("fresh@example.com") is not None
    assert isinstance(clash, Conflict) and clash.error_code == "uniqueness"
    assert isinstance(missing, NotFound)
    assert deleted is None and backend.user("doomed@example.com") is None
    assert deactivated is None and not backend.user("taken@example.com").active  # type: ignore[union-attr]
    assert backend.logins() == ["fresh@example.com", "taken@example.com"]


async def test_bulk_requests_stay_under_max_payload_size() -> None:
    backend = scim_backend("tiny-payload")  # maxPayloadSize 1400 bytes
    connector = backend.connector()
    try:
        await connector.find_user("warm.up@example.com")
        logins = [f"payload{i}@example.com" for i in range(12)]
        await asyncio.gather(
            *(connector.create_user(profile(login, title="x" * 40), activate=True) for login in logins)
        )
    finally:
        await connector.aclose()
    bulks = backend.proxy.requests(backend.prefix, "POST", "/Bulk")
    assert len(bulks) >= 3
    assert all(len(json.dumps(b.body).encode()) <= 1400 for b in bulks)
    assert (
        sum(len(b.body["Operations"]) for b in bulks)
        + len(backend.proxy.requests(backend.prefix, "POST", "/Users"))
        == 12
    )
    assert backend.logins() == sorted(logins)


async def test_interactive_writes_never_ride_in_a_bulk_lane_batch(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk

    await asyncio.gather(
        connector.create_user(profile("bulk1@example.com"), activate=False),
        connector.for_lane(Lane.INTERACTIVE).create_user(profile("admin.edit@example.com"), activate=True),
        connector.create_user(profile("bulk2@example.com"), activate=False),
    )

    assert backend.proxy.bulk_sizes(backend.prefix) == [2]
    alone = backend.proxy.requests(backend.prefix, "POST", "/Users")
    assert [s.body["userName"] for s in alone] == ["admin.edit@example.com"]


async def test_a_rate_limited_bulk_request_is_sent_again_once(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk
    backend.proxy.fail(429, times=1, headers={"Retry-After": "0.3"}, match=lambda m, p: p.endswith("/Bulk"))

    await asyncio.gather(
        *(connector.create_user(profile(f"rl{i}@example.com"), activate=False) for i in range(3))
    )

    assert backend.proxy.answered(429, backend.prefix) == 1
    assert backend.proxy.bulk_sizes(backend.prefix) == [3]
    assert backend.logins() == ["rl0@example.com", "rl1@example.com", "rl2@example.com"]


async def test_a_lost_bulk_answer_leaves_every_create_unknown(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk
    backend.proxy.drop(times=1, match=lambda m, p: p.endswith("/Bulk"))

    outcomes = await asyncio.gather(
        *(connector.create_user(profile(f"lost{i}@example.com"), activate=False) for i in range(3)),
        return_exceptions=True,
    )

    assert all(isinstance(o, UnknownOutcome) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 3  # each caller its own error (the engine annotates it)
    assert backend.logins() == ["lost0@example.com", "lost1@example.com", "lost2@example.com"]


async def test_a_bulk_request_refused_as_too_large_is_sent_as_single_requests(
    small_bulk: tuple[ScimBackend, ScimConnector],
) -> None:
    backend, connector = small_bulk
    backend.proxy.fail(413, times=1, match=lambda m, p: p.endswith("/Bulk"))

    await asyncio.gather(
        *(connector.create_user(profile(f"big{i}@example.com"), activate=False) for i in range(3))
    )

    assert len(backend.proxy.requests(backend.prefix, "POST", "/Users")) == 3
    assert backend.logins() == ["big0@example.com", "big1@example.com", "big2@example.com"]


async def test_a_wrong_bearer_token_is_unauthorized() -> None:
    backend = scim_backend("full")
    connector = backend.connector(token="wrong")
    try:
        with pytest.raises(Unauthorized) as refused:
            await connector.create_user(profile("x@example.com"), activate=False)
    finally:
        await connector.aclose()
    assert refused.value.status_code == 401
    assert "wrong" not in str(refused.value)
    assert backend.logins() == []


async def test_a_server_side_rejection_is_an_invalid_request() -> None:
    backend = scim_backend("basic")
    connector = backend.connector()
    try:
        await connector.find_user("warm.up@example.com")
        backend.proxy.fail(
            400,
            times=1,
            match=lambda m, p: m == "POST",
            body=json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "400",
                    "scimType": "invalidValue",
                    "detail": "title is not allowed here",
                }
            ).encode(),
        )
        with pytest.raises(InvalidRequest) as refused:
            await connector.create_user(profile("x@example.com"), activate=False)
    finally:
        await connector.aclose()
        backend.close()
    assert refused.value.error_code == "invalidValue" and "title is not allowed" in str(refused.value)


@pytest.mark.parametrize(
    "login", ['o"brien@example.com', "back\\slash@example.com", 'x" or userName pr "@example.com']
)
async def test_user_names_in_filters_stay_data(login: str) -> None:
    backend = scim_backend("full")
    connector = backend.connector()
    try:
        other = await connector.create_user(profile("plain@example.com"), activate=False)
        user = await connector.create_user(profile(login, email="q@example.com"), activate=False)
        found = await connector.find_user(login.upper())
        assert found is not None and found.id == user.id and found.login == login
        assert (await connector.find_user("plain@example.com")).id == other.id  # type: ignore[union-attr]
        assert await connector.find_user(login.replace("@", "x@")) is None
    finally:
        await connector.aclose()
        backend.close()
