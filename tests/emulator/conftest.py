"""Fixtures for the emulator's tests: servers on free 127.0.0.1 ports, clients, the admin API.

Every emulator made by `emulator` / `emulator_factory` records its exchanges, and at teardown
every response it sent is checked against Okta's OpenAPI spec (see conformance.py): a test
whose traffic does not conform fails there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.emulator.okta.clock import Clock

from .conformance import problems

os.environ.setdefault(
    "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true"
)  # the okta SDK refuses http:// otherwise

EmulatorFactory = Callable[..., EmulatorThread]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    started: list[EmulatorThread] = []

    def make(clock: Clock | None = None, **settings: Any) -> EmulatorThread:
        settings.setdefault("record_exchanges", True)
        settings.setdefault("seed", 1234)
        emu = EmulatorThread(EmulatorSettings(**settings), clock=clock).start()
        started.append(emu)
        return emu

    yield make
    found: list[str] = []
    for emu in started:
        emu.stop()
        found += problems(list(emu.emulator.recorder.exchanges))
    assert not found, "responses not matching Okta's OpenAPI spec:\n" + "\n".join(found[:20])


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorThread:
    return emulator_factory()


@pytest.fixture
def client(emulator: EmulatorThread) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"SSWS {emulator.token}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture
def admin(emulator: EmulatorThread) -> Iterator[EmulatorAdmin]:
    with EmulatorAdmin(emulator.url) as a:
        yield a


def new_user(login: str, *, password: bool = False, **profile: Any) -> dict[str, Any]:
    """A create-user body with Okta's four required profile fields."""
    first, _, _rest = login.partition("@")
    body: dict[str, Any] = {
        "profile": {
            "login": login,
            "email": login,
            "firstName": first.title(),
            "lastName": "Tester",
            **profile,
        }
    }
    if password:
        body["credentials"] = {"password": {"value": "Corr3ct-Horse-Battery"}}
    return body
