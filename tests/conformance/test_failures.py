"""The connector contract, part 2: what a connector does when the IdP says no, says "later", or
says nothing. Every IdP failure leaves as one of the `ProviderError` classes the engine decides
on (idsync/errors.py); the server's state is read back to show what did or did not happen.
"""

from __future__ import annotations

import time

import pytest

from idsync.config import GovernorSettings
from idsync.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnknownOutcome,
)
from idsync.ports import IdentityProvider

from .backends import FAST, Backend, profile


async def _deleted_id(connector: IdentityProvider) -> str:
    """An id the IdP issued and no longer knows: the realistic "not found"."""
    user = await connector.create_user(profile("temp.user@example.com"), activate=False)
    await connector.delete_user(user.id, deprovisioned=False)
    return user.id


async def test_reads_of_unknown_users_find_nothing(connector: IdentityProvider) -> None:
    missing = await _deleted_id(connector)

    assert await connector.get_user(missing) is None
    assert await connector.find_user("nobody@example.com") is None
    assert await connector.find_user("temp.user@example.com") is None


async def test_writes_to_unknown_users_are_not_found(connector: IdentityProvider, backend: Backend) -> None:
    missing = await _deleted_id(connector)

    with pytest.raises(NotFound):
        await connector.update_user(missing, {"firstName": "Ghost"})
    with pytest.raises(NotFound):
        await connector.activate_user(missing, send_email=False)
    with pytest.raises(NotFound):
        await connector.deactivate_user(missing)
    await connector.delete_user(missing, deprovisioned=True)  # deleting what is gone is no error
    assert backend.logins() == []


async def test_renaming_onto_a_taken_login_is_a_conflict(
    connector: IdentityProvider, backend: Backend
) -> None:
    await connector.create_user(profile("kai.lund@example.com"), activate=True)
    other = await connector.create_user(profile("lea.moss@example.com"), activate=True)

    with pytest.raises(Conflict):
        await connector.update_user(other.id, {"login": "kai.lund@example.com"})

    assert backend.logins() == ["kai.lund@example.com", "lea.moss@example.com"]


async def test_a_refused_profile_is_an_invalid_request(connector: IdentityProvider, backend: Backend) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await connector.create_user(profile("", email="mo.nash@example.com"), activate=False)

    assert not refused.value.retryable
    assert backend.logins() == []


async def test_a_refused_token_is_unauthorized(backend: Backend) -> None:
    intruder = backend.connector(token="not-the-token")
    try:
        with pytest.raises(Unauthorized):
            await intruder.find_user("anyone@example.com")
        with pytest.raises(Unauthorized):
            await intruder.create_user(profile("ned.olds@example.com"), activate=False)
    finally:
        await intruder.aclose()
    assert backend.logins() == []


async def test_rate_limit_is_waited_out(connector: IdentityProvider, backend: Backend) -> None:
    """429 with the server's "when" (Retry-After, or Okta's X-Rate-Limit-Reset): the call waits
    and then goes through; the caller sees only the delay."""
    await connector.find_user("warm.up@example.com")  # discovery and connections out of the way
    backend.rate_limit(for_s=0.5)
    started = time.monotonic()

    user = await connector.create_user(profile("ola.park@example.com"), activate=False)

    assert time.monotonic() - started >= 0.4
    assert backend.answers_429() >= 1
    held = backend.user("ola.park@example.com")
    assert held is not None and held.id == user.id


async def test_rate_limit_without_end_is_rate_limited(backend: Backend) -> None:
    patient_once = GovernorSettings(**{**FAST.model_dump(), "max_rate_limit_waits": 1})
    connector = backend.connector(settings=patient_once)
    try:
        await connector.find_user("warm.up@example.com")
        backend.rate_limit_forever()
        with pytest.raises(RateLimited) as limited:
            await connector.get_user("00u-any-id")
    finally:
        await connector.aclose()
    assert limited.value.retryable
    assert backend.answers_429() >= 2


async def test_server_errors_on_reads_are_unavailable(connector: IdentityProvider, backend: Backend) -> None:
    await connector.find_user("warm.up@example.com")
    backend.fail_with(503)

    with pytest.raises(Unavailable) as down:
        await connector.find_user("pat.quinn@example.com")

    assert down.value.retryable


async def test_server_errors_on_creates_are_unknown_outcomes(
    connector: IdentityProvider, backend: Backend
) -> None:
    """A create answered 5xx may have happened: never retried blindly, never reported as failed."""
    await connector.find_user("warm.up@example.com")
    backend.fail_with(500)

    with pytest.raises(UnknownOutcome):
        await connector.create_user(profile("quin.ross@example.com"), activate=False)


async def test_a_lost_answer_to_a_create_is_an_unknown_outcome(
    connector: IdentityProvider, backend: Backend
) -> None:
    """The create happened but its answer was lost: UnknownOutcome, and the login lookup the
    engine makes next finds the one account."""
    await connector.find_user("warm.up@example.com")
    backend.drop_answers()

    with pytest.raises(UnknownOutcome):
        await connector.create_user(profile("rae.sol@example.com"), activate=False)

    backend.clear_faults()
    assert backend.logins() == ["rae.sol@example.com"]
    found = await connector.find_user("rae.sol@example.com")
    assert found is not None and found.id == backend.user("rae.sol@example.com").id  # type: ignore[union-attr]
