"""The official Okta Python SDK (`okta` 3.4.6) in `PrivateKey` mode against the emulator.

The SDK is how Okta itself builds the client assertion and the DPoP proofs (FACTS §9: its
`jwt.py`, `dpop.py`, `oauth.py`), so it checks the emulator's token endpoint from the other side:
form-encoded client credentials, a 3072-bit RSA DPoP key, the `use_dpop_nonce` retry, and
`Authorization: DPoP` with `ath` on API calls.
"""

from __future__ import annotations

import pytest
from okta.client import Client as OktaClient

from idsync.emulator.okta.access_tokens import service_auth
from tests.oauth_support import new_key, register_service_app

from .conftest import EmulatorFactory


@pytest.mark.parametrize("dpop", [False, True])
async def test_sdk_private_key_mode(emulator_factory: EmulatorFactory, dpop: bool) -> None:
    emu = emulator_factory()
    key = new_key("sdk-key")
    scopes = ["okta.users.read", "okta.users.manage"]
    client_id = register_service_app(emu.url, emu.token, [key], scopes, dpop=dpop)
    client = OktaClient(
        {
            "orgUrl": emu.url,
            "authorizationMode": "PrivateKey",
            "clientId": client_id,
            "scopes": scopes,
            "privateKey": key.pem,
            "kid": key.kid,
            "dpopEnabled": dpop,
            "requestTimeout": 30,
        }
    )
    users, _, err = await client.list_users()
    assert err is None and users == []
    exchanges = [e for e in emu.emulator.recorder.exchanges if e.path == "/api/v1/users"]
    assert [e.status for e in exchanges] == [200]
    assert "dpop" not in exchanges[0].request_headers  # never recorded: a proof is a secret
    proofs = service_auth(emu.emulator).proofs.seen
    assert len(proofs) == (2 if dpop else 0)  # the token request's proof (with nonce), the API call's
