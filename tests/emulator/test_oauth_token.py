"""The org authorization server's token endpoint for OAuth 2.0 service apps, over real HTTP.

Client credentials with private_key_jwt (Okta's "Implement OAuth for Okta with a service app"),
the granted Okta API scopes, DPoP with the server nonce, and every refusal a broken client meets.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from idsync.emulator.okta.clock import ManualClock
from tests.oauth_support import ServiceKey, dpop_proof, new_key, register_service_app, token_form

from .conftest import EmulatorFactory

READ, MANAGE = "okta.users.read", "okta.users.manage"


@pytest.fixture
def key() -> ServiceKey:
    return new_key("k1")


def token_url(emu: Any) -> str:
    return f"{emu.url}/oauth2/v1/token"


def ask(emu: Any, form: dict[str, str], **headers: str) -> httpx.Response:
    return httpx.post(token_url(emu), data=form, headers=headers, timeout=10)


def refused(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return str(body["error_description"])


def test_a_service_app_gets_a_scoped_bearer_token(emulator_factory: EmulatorFactory, key: ServiceKey) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    answer = ask(emu, token_form(client_id, key, token_url(emu), f"{READ} {MANAGE}"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == READ  # a requested scope the app was not granted is left out, as Okta does
    assert answer.headers["cache-control"] == "no-store"
    keys = KeySet.import_key_set(httpx.get(f"{emu.url}/oauth2/v1/keys").json())
    claims = jwt.decode(body["access_token"], keys).claims  # signed by the org server's published key
    assert claims["cid"] == claims["sub"] == client_id and claims["scp"] == [READ]
    assert claims["iss"] == claims["aud"] == emu.url and claims["exp"] - claims["iat"] == 3600
    assert "cnf" not in claims


def test_scopes_the_app_lacks_or_that_are_not_okta_scopes(
    emulator_factory: EmulatorFactory, key: ServiceKey
) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    url = token_url(emu)
    text = refused(ask(emu, token_form(client_id, key, url, MANAGE)), 400, "consent_required")
    assert text == "You are not allowed any of the requested scopes."
    assert "Custom scopes" in refused(
        ask(emu, token_form(client_id, key, url, "openid")), 400, "invalid_scope"
    )
    assert "'scope' must be provided" in refused(
        ask(emu, token_form(client_id, key, url, "")), 400, "invalid_scope"
    )


def test_a_wrong_key_an_unknown_kid_and_key_rotation(
    emulator_factory: EmulatorFactory, key: ServiceKey
) -> None:
    emu = emulator_factory()
    second = new_key("k2")
    client_id = register_service_app(emu.url, emu.token, [key, second], [READ])
    url = token_url(emu)
    for current in (key, second):  # both registered keys work, each named by its kid: rotation
        assert ask(emu, token_form(client_id, current, url, READ)).status_code == 200
    impostor = ServiceKey("k1", new_key().key)  # the right kid, another private key
    text = refused(ask(emu, token_form(client_id, impostor, url, READ)), 401, "invalid_client")
    assert text == "The client_assertion signature is invalid."
    text = refused(ask(emu, token_form(client_id, new_key("k9"), url, READ)), 401, "invalid_client")
    assert text == "The client_assertion JWT kid is invalid."
    no_kid = token_form(client_id, key, url, READ, kid=None)  # two keys: the kid must say which
    assert refused(ask(emu, no_kid), 401, "invalid_client") == "The client_assertion JWT kid is invalid."


def test_one_key_needs_no_kid_and_the_audience_is_the_token_endpoint(
    emulator_factory: EmulatorFactory, key: ServiceKey
) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    assert ask(emu, token_form(client_id, key, token_url(emu), READ, kid=None)).status_code == 200
    wrong_aud = token_form(client_id, key, emu.url, READ)
    assert "audience claim" in refused(ask(emu, wrong_aud), 401, "invalid_client")


def test_a_replayed_assertion_is_refused(emulator_factory: EmulatorFactory, key: ServiceKey) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    form = token_form(client_id, key, token_url(emu), READ, jti="only-once")
    assert ask(emu, form).status_code == 200
    assert "already been used" in refused(ask(emu, form), 401, "invalid_client")


@pytest.mark.parametrize(("skew_s", "expected"), [(600, "issued in the future"), (-900, "expired")])
def test_clock_skew_between_client_and_okta(
    emulator_factory: EmulatorFactory, key: ServiceKey, skew_s: float, expected: str
) -> None:
    clock = ManualClock(time.time())
    emu = emulator_factory(clock=clock)
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    form = token_form(client_id, key, token_url(emu), READ, now=time.time() + skew_s)
    answer = ask(emu, form)
    assert expected in refused(answer, 401, "invalid_client")
    assert answer.headers["date"]  # the server's time, which a client compares with its own


def test_unknown_inactive_and_unfit_clients(emulator_factory: EmulatorFactory, key: ServiceKey) -> None:
    emu = emulator_factory()
    url = token_url(emu)
    text = refused(ask(emu, token_form("0oanosuchclient00000", key, url, READ)), 401, "invalid_client")
    assert text == "Invalid value for 'client_id' parameter."
    client_id = register_service_app(emu.url, emu.token, [key], [READ])
    headers = {"Authorization": f"SSWS {emu.token}"}
    httpx.post(f"{emu.url}/api/v1/apps/{client_id}/lifecycle/deactivate", headers=headers).raise_for_status()
    refused(ask(emu, token_form(client_id, key, url, READ)), 401, "invalid_client")
    no_assertion = {"grant_type": "client_credentials", "scope": READ, "client_id": client_id}
    refused(ask(emu, no_assertion), 401, "invalid_client")


def test_dpop_bound_app_needs_a_proof_with_the_server_nonce(
    emulator_factory: EmulatorFactory, key: ServiceKey
) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ], dpop=True)
    url, dpop_key = token_url(emu), ECKey.generate_key("P-256", private=True)
    text = refused(ask(emu, token_form(client_id, key, url, READ)), 400, "invalid_dpop_proof")
    assert text == "The DPoP proof JWT header is missing."
    first = ask(emu, token_form(client_id, key, url, READ), DPoP=dpop_proof(dpop_key, "POST", url))
    assert refused(first, 400, "use_dpop_nonce") == "Authorization server requires nonce in DPoP proof."
    nonce = first.headers["dpop-nonce"]
    proof = dpop_proof(dpop_key, "POST", url, nonce=nonce)
    answer = ask(emu, token_form(client_id, key, url, READ), DPoP=proof)
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    claims = jwt.decode(
        answer.json()["access_token"], KeySet.import_key_set(httpx.get(f"{url[:-6]}/keys").json())
    )
    assert claims.claims["cnf"] == {"jkt": dpop_key.thumbprint()}
    again = ask(emu, token_form(client_id, key, url, READ), DPoP=proof)  # the same proof twice
    assert "already been used" in refused(again, 400, "invalid_dpop_proof")


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [("GET", "/oauth2/v1/token", "'htm'"), ("POST", "/oauth2/v1/keys", "'htu'")],
)
def test_a_proof_for_another_request_is_refused(
    emulator_factory: EmulatorFactory, key: ServiceKey, method: str, target: str, expected: str
) -> None:
    emu = emulator_factory()
    client_id = register_service_app(emu.url, emu.token, [key], [READ], dpop=True)
    url, dpop_key = token_url(emu), ECKey.generate_key("P-256", private=True)
    nonce = ask(emu, token_form(client_id, key, url, READ), DPoP=dpop_proof(dpop_key, "POST", url))
    proof = dpop_proof(dpop_key, method, emu.url + target, nonce=nonce.headers["dpop-nonce"])
    assert expected in refused(
        ask(emu, token_form(client_id, key, url, READ), DPoP=proof), 400, "invalid_dpop_proof"
    )


def test_discovery_announces_client_credentials_private_key_jwt_and_dpop(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory()
    meta = httpx.get(f"{emu.url}/.well-known/oauth-authorization-server").json()
    assert "client_credentials" in meta["grant_types_supported"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
