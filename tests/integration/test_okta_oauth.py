"""The Okta connector with an OAuth 2.0 service app, against the emulator over real HTTP.

Happy path through the whole engine (a file import), DPoP with the nonce retry, renewal before
expiry, a token Okta stops accepting, and the clear errors of a missing scope, a wrong key and a
skewed clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.adapters.okta import OktaConnector
from idsync.adapters.okta.oauth import OAuthCredentials
from idsync.clock import SystemClock
from idsync.config import GovernorSettings, settings_from_dict
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.emulator.okta.clock import ManualClock
from idsync.engine.governor import Governor
from idsync.errors import ConfigError, Unauthorized
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.oauth_support import ServiceKey, new_key, register_service_app
from tests.reliability.scan import SCAN

READ, MANAGE = "okta.users.read", "okta.users.manage"


class LockstepClock:
    """The client's clock, reading the emulator's manual clock: both move together."""

    def __init__(self, manual: ManualClock) -> None:
        self.manual = manual

    def time(self) -> float:
        return self.manual.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token="oauth-admin-token", seed=3)) as emu:
        yield emu


@pytest.fixture
def key() -> ServiceKey:
    k = new_key("k1")
    SCAN.add_secret(*[line for line in k.pem.splitlines() if len(line) > 40])  # never in any log
    return k


def profile(login: str) -> dict[str, str]:
    return {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}


def connector(url: str, key: ServiceKey, client_id: str, scopes: tuple[str, ...] = (READ, MANAGE), **kw: Any):
    creds = OAuthCredentials(client_id, key.pem, scopes, key_id=key.kid, key_source="test key", **kw)
    governor = Governor("okta", GovernorSettings(budget_share=1.0), SystemClock())
    return OktaConnector("okta", url, "", governor, oauth=creds)


@pytest.fixture
async def closing() -> AsyncIterator[list[OktaConnector]]:
    made: list[OktaConnector] = []
    yield made
    for c in made:
        await c.aclose()


def register_secret_tokens(c: OktaConnector) -> None:
    assert c.tokens is not None
    if c.tokens._token is not None:
        SCAN.add_secret(c.tokens._token.value)


async def test_a_file_import_through_a_service_app(
    emulator: EmulatorThread, key: ServiceKey, tmp_path: Path
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], [READ, MANAGE])
    users = tmp_path / "users.jsonl"
    users.write_text(
        "".join(
            json.dumps(
                {
                    "tenant": "t",
                    "op": "upsert",
                    "source": "app",
                    "key": str(i),
                    "version": 1,
                    "user": profile(f"user{i}@example.com"),
                }
            )
            + "\n"
            for i in range(12)
        )
    )
    oauth = {"client_id": client_id, "private_key_env": "OKTA_PRIVATE_KEY", "scopes": [MANAGE, READ]}
    settings = settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": {"type": "okta", "url": emulator.url, "oauth": oauth}},
            "tenants": {"t": {"idp": "okta", "mode": "sync"}},
        },
        {"OKTA_PRIVATE_KEY": key.pem},
    )
    admin = EmulatorAdmin(emulator.url)
    before = sum(sum(by.values()) for by in admin.stats()["requests"].values())  # registering the app
    async with Runtime(settings) as rt:
        report = await run_file_import(rt, users, tenant="t")
        okta = rt.idps["okta"]
        assert isinstance(okta, OktaConnector) and okta.tokens is not None
        register_secret_tokens(okta)
        fetches = okta.tokens.fetches
        api_calls = rt.api_calls()
    assert report.progress.created == 12 and report.progress.failed == 0
    assert fetches == 1  # one token for the whole import
    stats = admin.stats()
    served = sum(sum(by.values()) for by in stats["requests"].values()) - before
    assert served == api_calls  # the token request is not a Management API call: never governed
    windows = stats["rate_limit_windows"]
    assert any(f"oauth:{client_id}" in w["calls_by_token"] for w in windows)


async def test_dpop_is_used_when_the_app_requires_it(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector]
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], [READ, MANAGE], dpop=True)
    okta = connector(emulator.url, key, client_id)
    closing.append(okta)
    created = await okta.create_user(profile("dpop@example.com"), activate=False)
    assert (await okta.get_user(created.id)) is not None
    assert okta.tokens is not None and okta.tokens.use_dpop
    token = await okta.tokens.current()
    register_secret_tokens(okta)
    assert token.token_type == "DPoP" and okta.tokens.nonce
    assert okta.tokens.fetches == 3  # no proof -> asked for DPoP; no nonce -> use_dpop_nonce; then the token


async def test_one_token_fetch_for_many_concurrent_calls(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector]
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], [READ])
    okta = connector(emulator.url, key, client_id)
    closing.append(okta)
    found = await asyncio.gather(*(okta.find_user(f"u{i}@example.com") for i in range(20)))
    assert found == [None] * 20
    assert okta.tokens is not None and okta.tokens.fetches == 1


async def test_the_token_is_renewed_before_it_expires(key: ServiceKey, closing: list[OktaConnector]) -> None:
    manual = ManualClock(time.time())
    with EmulatorThread(EmulatorSettings(token="t-renew", seed=4), clock=manual) as emu:
        client_id = register_service_app(emu.url, emu.token, [key], [READ])
        okta = connector(emu.url, key, client_id, (READ,), clock=LockstepClock(manual), renew_before_s=300)
        closing.append(okta)
        assert okta.tokens is not None
        await okta.find_user("a@example.com")
        first = await okta.tokens.current()
        manual.advance(3000)  # not yet within 300 s of the end: the same token
        await okta.find_user("a@example.com")
        assert okta.tokens.fetches == 1
        manual.advance(400)  # 200 s before the end: renewed before Okta would refuse it
        await okta.find_user("a@example.com")
        assert okta.tokens.fetches == 2 and (await okta.tokens.current()) is not first
        statuses = EmulatorAdmin(emu.url).stats()["requests"]
    assert not any("401" in by for by in statuses.values())


async def test_a_token_okta_no_longer_accepts_is_replaced(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector]
) -> None:
    admin = EmulatorAdmin(emulator.url)

    def register() -> str:
        body = {"credentials": {"oauthClient": {"client_id": "0oafixedserviceapp01"}}}
        with httpx.Client(base_url=emulator.url, headers={"Authorization": f"SSWS {emulator.token}"}) as c:
            created = c.post("/api/v1/apps", json=_service_app(key, body))
            created.raise_for_status()
            for scope in (READ, MANAGE):
                c.post(
                    f"/api/v1/apps/{created.json()['id']}/grants",
                    json={"issuer": emulator.url, "scopeId": scope},
                )
        return "0oafixedserviceapp01"

    okta = connector(emulator.url, key, register())
    closing.append(okta)
    await okta.create_user(profile("before@example.com"), activate=False)
    admin.reset()  # the org forgets everything, its signing key included: the cached token is void
    register()
    created = await okta.create_user(profile("after@example.com"), activate=False)
    assert created.login == "after@example.com"
    assert okta.tokens is not None and okta.tokens.fetches == 2
    assert admin.stats()["requests"]["POST /api/v1/users"].get("401") == 1  # refused once, then resent


def _service_app(key: ServiceKey, extra: dict[str, Any]) -> dict[str, Any]:
    oauth_client = {"token_endpoint_auth_method": "private_key_jwt", **extra["credentials"]["oauthClient"]}
    return {
        "name": "oidc_client",
        "label": "svc",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {"oauthClient": oauth_client},
        "settings": {
            "oauthClient": {
                "application_type": "service",
                "grant_types": ["client_credentials"],
                "jwks": {"keys": [key.public_jwk]},
            }
        },
    }


async def test_a_missing_scope_is_named(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector], caplog: pytest.LogCaptureFixture
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], [READ])
    okta = connector(emulator.url, key, client_id)
    closing.append(okta)
    with caplog.at_level(logging.WARNING, logger="idsync.adapters.okta.oauth"):
        assert await okta.find_user("nobody@example.com") is None  # reading works
    assert "was not granted okta.users.manage" in caplog.text
    with pytest.raises(Unauthorized) as refused:
        await okta.create_user(profile("ann@example.com"), activate=False)
    message = str(refused.value)
    assert "lacks the scope okta.users.manage" in message and "POST /api/v1/users" in message
    assert refused.value.error_code == "insufficient_scope"


async def test_no_granted_scope_at_all(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector]
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], ["okta.groups.read"])
    okta = connector(emulator.url, key, client_id)
    closing.append(okta)
    with pytest.raises(Unauthorized) as refused:
        await okta.find_user("nobody@example.com")
    assert refused.value.error_code == "consent_required"
    assert "okta.users.read, okta.users.manage" in str(refused.value) and "/grants" in str(refused.value)


async def test_a_wrong_key_is_a_clear_error_and_okta_is_not_hammered(
    emulator: EmulatorThread, key: ServiceKey, closing: list[OktaConnector]
) -> None:
    client_id = register_service_app(emulator.url, emulator.token, [key], [READ])
    okta = connector(emulator.url, ServiceKey("k1", new_key().key), client_id)
    closing.append(okta)
    for _ in range(3):
        with pytest.raises(Unauthorized) as refused:
            await okta.find_user("nobody@example.com")
        assert "not one of the service app's public keys" in str(refused.value)
        assert "test key" in str(refused.value)  # where the key came from
    assert okta.tokens is not None and okta.tokens.fetches == 1  # refusals are remembered for a while
    requests = EmulatorAdmin(emulator.url).stats()["requests"]
    assert not [r for r in requests if "/api/v1/users" in r]  # no Management API call was sent


async def test_clock_skew_is_named(key: ServiceKey, closing: list[OktaConnector]) -> None:
    with EmulatorThread(EmulatorSettings(token="t-skew"), clock=ManualClock(time.time() - 600)) as emu:
        client_id = register_service_app(emu.url, emu.token, [key], [READ])
        okta = connector(emu.url, key, client_id)
        closing.append(okta)
        with pytest.raises(Unauthorized) as refused:
            await okta.find_user("nobody@example.com")
    assert refused.value.error_code == "clock_skew"
    found = re.search(r"this machine's clock is (\d+) s ahead of Okta's", str(refused.value))
    assert found and 599 <= int(found.group(1)) < 660  # the emulator's clock stood still meanwhile


async def test_ec_pem_and_jwk_keys(emulator: EmulatorThread, closing: list[OktaConnector]) -> None:
    ec, rsa = new_key("ec-1", kind="EC"), new_key("rsa-1")
    client_id = register_service_app(emulator.url, emulator.token, [ec, rsa], [READ])
    governor = Governor("okta", GovernorSettings(), SystemClock())
    jwk = json.dumps({**rsa.key.as_dict(private=True), "kid": "rsa-1"})  # the JWK names its own kid
    for private_key, kid in ((ec.pem, "ec-1"), (jwk, None)):
        creds = OAuthCredentials(client_id, private_key, (READ,), key_id=kid)
        okta = OktaConnector("okta", emulator.url, "", governor, oauth=creds)
        closing.append(okta)
        assert await okta.find_user("nobody@example.com") is None
        assert okta.tokens is not None and okta.tokens.alg == ("ES256" if kid else "RS256")


async def test_a_key_that_is_not_a_private_key_is_a_config_error() -> None:
    governor = Governor("okta", GovernorSettings(), SystemClock())
    creds = OAuthCredentials("0oa1", "-----BEGIN PUBLIC KEY-----\nAAAA\n", (READ,), key_source="env OKTA_KEY")
    with pytest.raises(ConfigError, match="env OKTA_KEY does not hold an RSA or EC private key"):
        OktaConnector("okta", "http://127.0.0.1:9", "", governor, oauth=creds)


async def test_ssws_tokens_still_work(emulator: EmulatorThread) -> None:
    okta = OktaConnector(
        "okta", emulator.url, emulator.token, Governor("okta", GovernorSettings(), SystemClock())
    )
    try:
        assert (
            await okta.create_user(profile("ssws@example.com"), activate=False)
        ).login == "ssws@example.com"
        assert okta.tokens is None
    finally:
        await okta.aclose()
