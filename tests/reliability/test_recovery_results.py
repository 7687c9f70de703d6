"""After a crash, a retried create reports what really happened: `created` when our own create
(announced by its write-ahead intent) went through before the kill, the adoption's own status
when the account was someone else's. Found by the crash harness (users created just before a
kill were counted as `unchanged`); here each case is set up exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from idsync.config import Settings, settings_from_dict
from idsync.domain.links import Link, PendingOp
from idsync.domain.models import Status
from idsync.domain.records import received_from_text
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.ingest import Defaults
from idsync.runtime import Runtime
from tests.reliability.support import OKTA_TOKEN, user_message


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.01)) as emu:
        yield emu


def _settings(tmp_path: Path, url: str, existing_account: str = "reject") -> Settings:
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": {"type": "okta", "url": url, "token_env": "OKTA_TOKEN"}},
            "tenants": {"t": {"idp": "okta", "mode": "sync", "existing_account": existing_account}},
        },
        {"OKTA_TOKEN": OKTA_TOKEN},
    )


def _create_in_okta(url: str, login: str, first: str) -> str:
    answer = httpx.post(
        f"{url}/api/v1/users",
        params={"activate": "false"},
        json={"profile": {"login": login, "email": login, "firstName": first, "lastName": "Lee1"}},
        headers={"Authorization": f"SSWS {OKTA_TOKEN}"},
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


async def _crash_and_resume(rt: Runtime, intent: bool, url: str) -> tuple[Status, str | None]:
    """Store the change, take it as a worker would, let the create land at the IdP, die before
    the result is stored, recover as a restart does, and run the worker to the end."""
    message = user_message(1)
    ((change_id, _),) = await rt.ingestor.receive(
        [received_from_text(json.dumps(message))], Defaults(origin="http")
    )
    (_held,) = rt.store.queue.claim("dead-worker", limit=1, lease_s=60)
    if intent:  # what apply.py writes before it sends the create
        link = Link(tenant="t", source="app", key="1", idp="okta")
        rt.store.links.save(replace(link, pending_op=PendingOp.CREATE, login="user1@example.com"))
    _create_in_okta(url, "user1@example.com", "Ann")
    assert rt.store.queue.release_all() == 1  # the restart takes back what the dead run held
    await rt.worker.run(until_idle=lambda: True)
    row = rt.store.queue.change_result(int(change_id or 0))
    assert row is not None and row["state"] == "done", row
    return Status(row["status"]), row["reason_code"]


async def test_a_create_that_landed_before_the_kill_counts_as_created(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    async with Runtime(_settings(tmp_path, emulator.url)) as rt:
        status, _ = await _crash_and_resume(rt, intent=True, url=emulator.url)
        link = rt.store.links.get("t", "app", "1")
    assert status is Status.CREATED
    (account,) = EmulatorAdmin(emulator.url).users()
    assert link is not None and link.idp_id == account["id"] and link.pending_op is None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("adopt_unlinked", (Status.UNCHANGED, None)), ("reject", (Status.FAILED, "login_taken"))],
)
async def test_an_account_that_was_there_before_is_never_counted_as_ours(
    emulator: EmulatorThread, tmp_path: Path, policy: str, expected: tuple[Status, str | None]
) -> None:
    # No intent: the worker died before it sent anything; the account is someone else's. It is
    # adopted where the tenant says so (its profile already matches: unchanged), else refused.
    async with Runtime(_settings(tmp_path, emulator.url, policy)) as rt:
        outcome = await _crash_and_resume(rt, intent=False, url=emulator.url)
    assert outcome == expected
    assert len(EmulatorAdmin(emulator.url).users()) == 1
