"""Property: random sequences of upserts, renames and deletes across two sources and two tenants
of one org, under any mix of policies, never leave an account linked to two identities (but for
sources of one merge_sources tenant) and never touch an account of another tenant."""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread
from idsync.runtime import Runtime

from .support import FAST, change, make_settings, sync

TENANTS = ("t1", "t2")
SOURCES = ("efs-admin", "panelist")
LOGINS = ("ann@example.com", "ANN@example.com", "bo@example.com", "cy@example.com")

ops = st.lists(
    st.tuples(
        st.sampled_from(TENANTS),
        st.sampled_from(SOURCES),
        st.sampled_from(("1", "2")),
        st.sampled_from(("upsert", "upsert", "upsert", "delete")),
        st.sampled_from(LOGINS),
    ),
    min_size=1,
    max_size=14,
)
policies = st.fixed_dictionaries(
    {
        t: st.sampled_from(
            [
                {"existing_account": "reject"},
                {"existing_account": "adopt_unlinked", "delete_policy": "delete"},
                {
                    "existing_account": "merge_sources",
                    "source_priority": list(SOURCES),
                    "delete_policy": "delete",
                },
                {
                    "existing_account": "merge_sources",
                    "source_priority": list(SOURCES),
                    "delete_policy": "deactivate",
                },
            ]
        )
        for t in TENANTS
    }
)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(steps=ops, tenant_policies=policies, split=st.integers(min_value=1, max_value=4))
def test_no_account_is_ever_linked_twice_or_reached_across_tenants(
    org: EmulatorThread,
    steps: list[tuple[str, str, str, str, str]],
    tenant_policies: dict[str, Any],
    split: int,
) -> None:
    with EmulatorAdmin(org.url) as admin, tempfile.TemporaryDirectory() as tmp:
        admin.reset()
        hand = {"login": "cy@example.com", "email": "cy@example.com", "firstName": "Hand", "lastName": "Made"}
        admin._post("/users", {"users": [{"profile": hand, "status": "ACTIVE"}]})  # an account made by hand
        asyncio.run(_check(org, admin, Path(tmp), steps, tenant_policies, split))


async def _check(
    org: EmulatorThread,
    admin: EmulatorAdmin,
    tmp: Path,
    steps: list[tuple[str, str, str, str, str]],
    tenant_policies: dict[str, Any],
    split: int,
) -> None:
    settings_ = make_settings(f"sqlite:///{tmp / 'idsync.db'}", org.url, tenant_policies)
    sent: dict[str, set[str]] = defaultdict(set)  # first names each tenant ever sent
    touched_by: dict[str, set[str]] = defaultdict(set)  # account id -> tenants whose results named it
    async with Runtime(settings_, worker_options=FAST) as rt:
        for n, i in enumerate(range(0, len(steps), split)):
            for tenant in TENANTS:
                batch = []
                for j, (t, source, key, op, login) in enumerate(steps[i : i + split]):
                    if t != tenant:
                        continue
                    first = f"{tenant}-{n}-{j}"
                    sent[tenant].add(first)
                    batch.append(change(t, source, key, login, first=first, op=op))
                if batch:
                    out = await sync(rt, tmp, tenant, batch)
                    for row in out.rows.values():
                        if row["idp_id"] and row["status"] != "failed":
                            touched_by[str(row["idp_id"])].add(tenant)
        holders: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for tenant in TENANTS:
            for source in SOURCES:
                for key in ("1", "2"):
                    link = rt.store.links.get(tenant, source, key)
                    if link is not None and link.idp_id is not None:
                        holders[link.idp_id].append((tenant, source, key))
    for account_id, who in holders.items():
        tenants = {t for t, _, _ in who}
        assert len(tenants) == 1, f"account {account_id} reached from tenants {tenants}"
        if len(who) > 1:
            (tenant,) = tenants
            assert tenant_policies[tenant]["existing_account"] == "merge_sources", who
            assert len({s for _, s, _ in who}) == len(who), f"one source holds {account_id} twice: {who}"
    for account_id, tenants in touched_by.items():
        assert len(tenants) == 1, f"results of tenants {tenants} name account {account_id}"
    for user in admin.users():
        owners = touched_by.get(user["id"], set())
        first = user["profile"]["firstName"]
        if not owners:  # only the account made by hand may be nobody's, and then nobody changed it
            assert (user["login"], first) == ("cy@example.com", "Hand")
            continue
        assert any(first in sent[t] for t in owners), (
            f"{user['login']} has {first!r}, sent by none of {owners}"
        )
