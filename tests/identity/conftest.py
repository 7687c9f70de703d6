from __future__ import annotations

from collections.abc import Iterator

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread

from .support import TOKEN


@pytest.fixture
def org() -> Iterator[EmulatorThread]:
    """One Okta org (the emulator over HTTP), shared by every tenant of a test."""
    with EmulatorThread(EmulatorSettings(token=TOKEN, seed=16, time_scale=0.05)) as emu:
        yield emu


@pytest.fixture
def admin(org: EmulatorThread) -> Iterator[EmulatorAdmin]:
    with EmulatorAdmin(org.url) as client:
        yield client
