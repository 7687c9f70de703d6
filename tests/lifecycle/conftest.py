"""Fixtures of the migration-workflow tests: the Okta emulator in its own process and a work
directory with an `idsync.toml` pointing at it (the CLI runs there as a user runs it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings

from .helpers import TOKEN, write_config


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    # time scale 0.02: a rate-limit minute lasts 1.2 s, so limits are real but tests stay quick.
    with EmulatorProcess(EmulatorSettings(token=TOKEN, time_scale=0.02)) as emu:
        yield emu


@pytest.fixture
def workdir(tmp_path: Path, emulator: EmulatorProcess) -> Path:
    EmulatorAdmin(emulator.url).reset()
    write_config(tmp_path / "idsync.toml", emulator.url)
    return tmp_path
