"""Every real exchange with Okta we hold, replayed against the emulator: same statuses, same
error codes, same fields with the same types (values such as ids, dates and tokens aside),
and the same rate-limit counters (which calls share one, Remaining going down).

The 78 cassettes (data/recordings, see its README) come from okta-sdk-python's integration
tests, recorded against a 2020 test org, a 2022 developer org and a 2025 developer org; each is
replayed with the counter layout of its org (`rate_limit_layout`). Where the emulator answers
differently, `ALLOWED` names the cassette and the steps, with the reason; every other difference
fails, and an allowance that no longer matches a step fails too (so the list cannot go stale).
docs/emulator.md lists the same deviations per cassette.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.emulator.okta.ratelimit import BUCKETS

from .conformance import problems
from .recording_allowances import ALLOWED, Allowance
from .replay import RECORDINGS, Replayer, Step, fields_of_2025, layout_of, org_year

CASSETTES = sorted(p.stem for p in RECORDINGS.glob("*.yaml"))
DOCS = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"

# A distinct limit per bucket: the emulator's X-Rate-Limit-Limit then names the counter charged.
LIMITS = {bucket: 5000 + 100 * i for i, bucket in enumerate(BUCKETS)}


def _pre_existing_group(client: httpx.Client) -> dict[str, str]:
    """test_group_profile_custom_attributes reads a group of the recording org, `test_group_id`."""
    body = {"profile": {"name": "Basic Auth Web", "customGroupAttribute": "custom_group_attr_value"}}
    created = client.post("/api/v1/groups", json=body)
    assert created.status_code == 200, created.text
    return {"test_group_id": created.json()["id"]}


def _earlier_grants(client_id: str, *scopes: str) -> Callable[[httpx.Client], dict[str, str]]:
    """The recording org kept grants of earlier runs for the test's fixed `client_id`: they were
    made through apps since deleted, and the recorded lists show them for the new app too."""

    def setup(client: httpx.Client) -> dict[str, str]:
        oauth = {
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://example.com/cb"],
            "response_types": ["code"],
        }
        app = {
            "name": "oidc_client",
            "label": "Earlier run",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"client_id": client_id}},
            "settings": {"oauthClient": oauth},
        }
        created = client.post("/api/v1/apps", json=app)
        assert created.status_code == 200, created.text
        app_id = created.json()["id"]
        for scope in scopes:
            grant = {"issuer": str(client.base_url).rstrip("/"), "scopeId": scope}
            answer = client.post(f"/api/v1/apps/{app_id}/grants", json=grant)
            assert answer.status_code == 200, answer.text
        assert client.post(f"/api/v1/apps/{app_id}/lifecycle/deactivate").status_code == 200
        assert client.delete(f"/api/v1/apps/{app_id}").status_code == 204
        return {}

    return setup


# Objects the recording org already had, created before the replay (not a step of it).
SETUP: dict[str, Callable[[httpx.Client], dict[str, str]]] = {
    "TestGroupsResource.test_group_profile_custom_attributes": _pre_existing_group,
    "TestApplicationsResource.test_get_consent_grant": _earlier_grants(
        "testclientid123456", "okta.apps.read"
    ),
    "TestApplicationsResource.test_grant_consent_to_scope": _earlier_grants(
        "testclientid12345", "okta.users.read", "okta.apps.read"
    ),
    "TestApplicationsResource.test_revoke_consent_grant": _earlier_grants(
        "testclientid123456", "okta.apps.read", "okta.roles.read"
    ),
}
USED: set[tuple[Allowance, int]] = set()
RAN: set[str] = set()


@dataclass
class Org:
    emulators: dict[str, EmulatorThread]

    def for_cassette(self, cassette: str) -> EmulatorThread:
        return self.emulators[layout_of(cassette)]


@cache
def _newer_fields() -> frozenset[tuple[str, str]]:
    return frozenset(fields_of_2025())


@pytest.fixture(scope="module")
def replay_org() -> Iterator[Org]:
    emulators = {
        layout: EmulatorThread(
            EmulatorSettings(
                record_exchanges=True, seed=99, rate_limit_layout=layout, limits=LIMITS, token_share=1.0
            )
        ).start()
        for layout in ("2025", "2020")
    }
    try:
        yield Org(emulators)
    finally:
        found: list[str] = []
        for emu in emulators.values():
            emu.stop()
            found += problems(list(emu.emulator.recorder.exchanges))
    assert not found, "responses not matching Okta's OpenAPI spec:\n" + "\n".join(found[:20])


def _unexplained(cassette: str, steps: list[Step]) -> list[str]:
    left = []
    for step in steps:
        for difference in step.differences:
            matched = [
                a
                for a in ALLOWED
                if a.cassette == cassette
                and step.index in a.steps
                and fnmatch.fnmatchcase(difference, a.difference)
            ]
            USED.update((a, step.index) for a in matched)
            if not matched:
                left.append(f"#{step.index} {step.method} {step.path}: {difference}")
    return left


def _replay(org: Org, cassette: str) -> list[str]:
    emu = org.for_cassette(cassette)
    EmulatorAdmin(emu.url).reset()
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}, timeout=10) as client:
        ids = SETUP[cassette](client) if cassette in SETUP else {}
        newer = set(_newer_fields()) if org_year(cassette) < 2025 else set()
        steps = Replayer(client, ids, newer).run(cassette)
    RAN.add(cassette)
    assert len(steps) == len(Replayer.interactions(cassette))
    assert all(s.served_rate is not None for s in steps if s.status), "every answer carries X-Rate-Limit-*"
    return _unexplained(cassette, steps)


@pytest.mark.parametrize("cassette", CASSETTES)
def test_recorded_exchange(replay_org: Org, cassette: str) -> None:
    unexplained = _replay(replay_org, cassette)
    assert not unexplained, "\n".join(unexplained)


def test_every_cassette_is_replayed_and_every_allowance_is_still_needed(replay_org: Org) -> None:
    assert len(CASSETTES) == 78
    for cassette in CASSETTES:
        if cassette not in RAN:
            _replay(replay_org, cassette)
    listed = {(a, step) for a in ALLOWED for step in a.steps}
    assert listed - USED == set()


def test_allowances_name_a_cassette_and_steps() -> None:
    for allowance in ALLOWED:
        assert allowance.cassette in CASSETTES, allowance
        assert allowance.steps and all(isinstance(s, int) for s in allowance.steps), allowance
        assert allowance.difference.strip("*?[]. ") and allowance.reason, allowance


def test_docs_list_every_cassette_and_its_deviations() -> None:
    text = DOCS.read_text()
    for cassette in CASSETTES:
        assert f"`{cassette}`" in text, f"docs/emulator.md does not list {cassette}"
    for allowance in ALLOWED:
        row = next(line for line in text.splitlines() if f"`{allowance.cassette}`" in line)
        assert "replayed" in row and "deviation" in row, row
