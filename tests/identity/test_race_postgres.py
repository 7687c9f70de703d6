"""Two instances on one PostgreSQL store race for the same logins: every login ends as one
account, held by one identity; the other identity fails with login_taken and the account keeps
the winner's profile."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.runtime import Runtime

from .support import FAST, accounts, change, linked_ids, make_settings, sync

pytestmark = pytest.mark.postgres
LOGINS = 40


@pytest.mark.parametrize("policy", ["reject", "adopt_unlinked"])
async def test_two_instances_racing_for_one_login_never_share_an_account(
    org: EmulatorThread, admin: EmulatorAdmin, pg_database: str, tmp_path: Path, policy: str
) -> None:
    admin.set_faults(latency_ms=15, latency_jitter_ms=10)  # widen the window between create and link
    tenants = {"efs": {"existing_account": policy}}
    one = make_settings(pg_database, org.url, tenants, instance="instance-1")
    two = make_settings(pg_database, org.url, tenants, instance="instance-2")
    wanted = [f"race{i}@example.com" for i in range(LOGINS)]
    async with Runtime(one, worker_options=FAST) as rt1, Runtime(two, worker_options=FAST) as rt2:
        out1, out2 = await asyncio.gather(
            sync(
                rt1,
                tmp_path,
                "efs",
                [change("efs", "efs-admin", f"a{i}", w, first="Admin") for i, w in enumerate(wanted)],
            ),
            sync(
                rt2,
                tmp_path,
                "efs",
                [change("efs", "panelist", f"p{i}", w.upper(), first="Panel") for i, w in enumerate(wanted)],
            ),
        )
        held = linked_ids(rt1)
    org_accounts = accounts(admin)
    assert len(org_accounts) == LOGINS
    assert len(held) == LOGINS and max(Counter(held).values()) == 1
    for i, login in enumerate(wanted):
        a, p = out1.status("efs-admin", f"a{i}"), out2.status("panelist", f"p{i}")
        assert sorted([a, p]) == ["created", "failed"], (login, a, p)
        loser = out1.reason("efs-admin", f"a{i}") if a == "failed" else out2.reason("panelist", f"p{i}")
        assert loser[0] == "login_taken"
        assert org_accounts[login]["profile"]["firstName"] == ("Admin" if a == "created" else "Panel")
