"""Real exchanges with Okta, replayed against the emulator: same statuses, same error codes,
same fields with the same types (values such as ids, dates and tokens aside).

The cassettes (data/recordings, see its README) come from okta-sdk-python's integration tests,
recorded against a 2020 test org and a 2025 developer org. Where the emulator deliberately
answers differently, `ALLOWED` says so, with the reason; every other difference fails, and an
allowance that no longer matches anything fails too (so the list cannot go stale).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread

from .conformance import problems
from .replay import RECORDINGS, Replayer, Step

CASSETTES = sorted(p.stem for p in RECORDINGS.glob("*.yaml"))

_LINKS_2020 = (
    "The 2020 org did not list these user links; the 2025 org does (CASS test_comprehensive_user_lifecycle, "
    "test_expire_password) and the emulator follows the newer org."
)
_APP_FIELDS_2020 = (
    "Fields Okta added to apps after the 2020 recordings; the 2025 org sends them "
    "(CASS test_list_applications_pagination_with_after) and the emulator follows the newer org."
)
_PREEXISTING = (
    "The recorded list starts with an object that already existed in the recording org (its admin user, "
    "the Okta Admin Console app); the emulator's org has only what the test created."
)

# (cassette, interaction index, difference) patterns -> reason. fnmatch patterns.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("*", "*", "status: 204 recorded, 200 served"): (
        "lifecycle/deactivate: the 2020 org answered 204 without a body, the 2025 org answers 200 `{}` "
        "as the spec says (CASS test_reactivate_user); the emulator follows 2025."
    ),
    ("*", "*", "*._links.resetFactors: not in recording"): _LINKS_2020,
    ("*", "*", "*._links.forgotPassword: not in recording"): _LINKS_2020,
    **{
        ("*", "*", f"*.{field}: not in recording"): _APP_FIELDS_2020
        for field in (
            "orn",
            "universalLogout",
            "visibility.autoLaunch",
            "settings.implicitAssignment",
            "settings.manualProvisioning",
            "settings.notes",
            "_links.uploadLogo",
            "_links.profileEnrollment",
            "_links.policies",
            "_links.accessPolicy",
        )
    },
    ("TestApplicationsResource.test_list_applications_pagination_with_after", "1", "*"): (
        "The developer org refused a second app: 'Maximum number of instances has been reached' is a quota "
        "of free developer orgs, which the emulator does not have."
    ),
    ("TestApplicationsResource.test_list_applications_pagination_with_after", "4", "*"): _PREEXISTING,
    ("TestUsersResource.test_activate_user", "2", "[].credentials.recovery_question: missing"): _PREEXISTING,
    ("TestUsersResource.test_suspend_user", "4", "[].credentials.recovery_question: missing"): _PREEXISTING,
    (
        "TestUsersResource.test_comprehensive_user_lifecycle",
        "10",
        "[].profile.*: not in recording",
    ): _PREEXISTING,
}
USED: set[tuple[str, str, str]] = set()
RAN: set[str] = set()


@pytest.fixture(scope="module")
def replay_emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(record_exchanges=True, seed=99)) as emu:
        yield emu
        found = problems(list(emu.emulator.recorder.exchanges))
    assert not found, "responses not matching Okta's OpenAPI spec:\n" + "\n".join(found[:20])


def _unexplained(cassette: str, steps: list[Step]) -> list[str]:
    left = []
    for step in steps:
        for difference in step.differences:
            keys = [
                key
                for key in ALLOWED
                if fnmatch.fnmatchcase(cassette, key[0])
                and fnmatch.fnmatchcase(str(step.index), key[1])
                and fnmatch.fnmatchcase(difference, key[2])
            ]
            USED.update(keys)
            if not keys:
                left.append(f"#{step.index} {step.method} {step.path}: {difference}")
    return left


def _replay(emu: EmulatorThread, cassette: str) -> list[str]:
    EmulatorAdmin(emu.url).reset()
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}, timeout=10) as client:
        steps = Replayer(client).run(cassette)
    RAN.add(cassette)
    assert steps
    return _unexplained(cassette, steps)


@pytest.mark.parametrize("cassette", CASSETTES)
def test_recorded_exchange(replay_emulator: EmulatorThread, cassette: str) -> None:
    unexplained = _replay(replay_emulator, cassette)
    assert not unexplained, "\n".join(unexplained)


def test_every_allowance_is_still_needed(replay_emulator: EmulatorThread) -> None:
    for cassette in CASSETTES:
        if cassette not in RAN:
            _replay(replay_emulator, cassette)
    assert set(ALLOWED) - USED == set()
