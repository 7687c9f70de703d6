"""The official Okta Python SDK (`okta` 3.4.6) as a client of the emulator.

The SDK refuses http:// org URLs unless OKTA_TESTING_TESTINGDISABLEHTTPSCHECK is set (conftest
sets it); it sends `Authorization: SSWS<token>` without a space and keeps only the last `Link`
header, so these tests also prove the emulator's header order.
"""

from __future__ import annotations

from typing import Any

from okta.client import Client as OktaClient
from okta.models import CreateUserRequest, UpdateUserRequest
from okta.pagination import paginate_all

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread

from .conftest import EmulatorFactory, new_user


def _client(emu: EmulatorThread, **config: Any) -> OktaClient:
    return OktaClient({"orgUrl": emu.url, "token": emu.token, "requestTimeout": 30, **config})


def _request(login: str, password: bool = True) -> CreateUserRequest:
    return CreateUserRequest.from_dict(new_user(login, password=password))


async def test_sdk_user_lifecycle_and_pagination(emulator: EmulatorThread) -> None:
    client = _client(emulator)
    ids = []
    for i in range(7):
        user, _, err = await client.create_user(_request(f"sdk{i}@example.com"), activate=False)
        assert err is None
        assert user.status.value == "STAGED"
        ids.append(user.id)

    listed = [u.id async for u in paginate_all(client.list_users, limit=3)]
    assert listed == ids  # three pages of 3, 3 and 1

    update = UpdateUserRequest.from_dict({"profile": {"nickName": "Seven"}})
    updated, _, err = await client.update_user(ids[0], update)
    assert err is None
    assert updated.profile.nick_name == "Seven"

    token, _, err = await client.activate_user(ids[0], send_email=False)
    assert err is None
    assert token.activation_token
    user, _, _ = await client.get_user(ids[0])
    assert user.status.value == "ACTIVE"

    _, _, err = await client.deactivate_user(ids[0])
    assert err is None
    _, _, err = await client.delete_user(ids[0])
    assert err is None
    _, _, err = await client.get_user(ids[0])
    assert err is not None
    assert "E0000007" in str(err)


async def test_sdk_sees_duplicate_login_error(emulator: EmulatorThread) -> None:
    client = _client(emulator)
    await client.create_user(_request("dup@example.com"), activate=True)
    _, _, err = await client.create_user(_request("DUP@example.com"), activate=True)
    assert err is not None
    assert "E0000001" in str(err)


async def test_sdk_waits_on_429_and_succeeds(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(limits={"users": 4}, token_share=0.5, time_scale=0.02)  # 2 calls per 1.2 s window
    client = _client(emu, rateLimit={"maxRetries": 3})
    for i in range(3):
        user, _, err = await client.create_user(_request(f"rl{i}@example.com"), activate=False)
        assert err is None, err
        assert user.id
    admin = EmulatorAdmin(emu.url)
    stats = admin.stats()
    assert stats["served_429"]["rate_limit"] >= 1  # the SDK met 429s, waited until the reset and retried
    assert len(admin.users()) == 3
