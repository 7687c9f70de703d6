"""The engine wired as idsync/runtime.py wires it, on the in-memory parts of idsync.testing: the
memory store, an in-memory Okta org behind `MemoryIdp`, and a fake clock. No database, no HTTP,
no sleeping: retries wait on the fake clock, which `drain` moves to the next change due."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from idsync.clock import FakeClock
from idsync.domain.links import Link
from idsync.domain.models import ChangeMessage, Lane, Reason
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import Received
from idsync.engine.ingest import Defaults, Ingestor
from idsync.engine.worker import Worker, WorkerOptions
from idsync.testing import Account, MemoryIdp, MemoryOrg, MemoryPacing, MemoryStores

T = "acme"
FAST = WorkerOptions(poll_s=0.001, backlog_poll_s=0.05, retry_base_s=2.0, retry_max_s=60.0)


@dataclass
class World:
    clock: FakeClock
    stores: MemoryStores
    org: MemoryOrg
    idp: MemoryIdp
    worker: Worker
    ingestor: Ingestor
    policies: dict[str, TenantPolicy]

    async def send(self, *messages: dict[str, Any], import_id: str | None = None) -> list[int]:
        """Receive changes as the HTTP API (interactive) or an import (bulk) does; their ids."""
        if import_id is not None:
            await self.stores.imports.create(import_id, T, "file")
        defaults = Defaults(origin="file" if import_id else "http", import_id=import_id)
        stored = await self.ingestor.receive([Received(payload=m) for m in messages], defaults)
        if import_id is not None:
            await self.stores.imports.finish_input(import_id)
        self.worker.notify(Lane.BULK if import_id else Lane.INTERACTIVE)  # as the HTTP API does
        ids = [cid for cid, _ in stored]
        assert all(cid is not None for cid in ids), [p for _, p in stored if isinstance(p, Reason)]
        return [cid for cid in ids if cid is not None]

    async def result(self, change_id: int) -> dict[str, object]:
        found = await self.stores.queue.change_result(change_id)
        assert found is not None
        return found

    def account(self, login: str) -> Account:
        """The org's account with this login (it must exist)."""
        found = self.org.user(login)
        assert found is not None, f"no account {login}"
        return found

    def made_by_hand(self, login: str) -> str:
        """An account someone created in the org directly (no identity links it); its id."""
        profile = {"login": login, "email": login, "firstName": "Hand", "lastName": "Made"}
        return self.org.create(profile, activate=False).id

    def set_policy(self, tenant: str = T, **policy: Any) -> None:
        """The tenant's policy from now on (a new ingestor: it keeps the policies it has read)."""
        self.policies[tenant] = TenantPolicy(tenant=tenant, idp="okta", **policy)
        self.ingestor = Ingestor(self.stores.queue, self.stores.links, self.policies.get)

    async def link(self, key: str, source: str = "crm") -> Link | None:
        return await self.stores.links.get(T, source, key)


def world(options: WorkerOptions = FAST, **policy: Any) -> World:
    clock = FakeClock()
    stores = MemoryStores(clock)
    org = MemoryOrg(clock=clock)
    idp = MemoryIdp("okta", org)
    policies = {T: TenantPolicy(tenant=T, idp="okta", **policy)}
    worker = Worker(
        stores.queue,
        stores.links,
        policies.get,
        {"okta": idp},
        {"okta": MemoryPacing(clock)},
        clock,
        options=options,
        owner="w1",
    )
    ingestor = Ingestor(stores.queue, stores.links, policies.get)
    return World(clock, stores, org, idp, worker, ingestor, policies)


def upsert(
    key: str, login: str, *, source: str = "crm", version: int | None = None, **user: Any
) -> dict[str, Any]:
    first = user.pop("firstName", login.split("@")[0].split(".")[0].title())
    msg: dict[str, Any] = {
        "tenant": T,
        "op": "upsert",
        "source": source,
        "key": key,
        "user": {"login": login, "email": login, "firstName": first, "lastName": "Tester", **user},
    }
    if version is not None:
        msg["version"] = version
    ChangeMessage.model_validate(msg)  # a test's own message must be valid
    return msg


async def drain(w: World, *, advance: bool = True, rounds: int = 5000) -> None:
    """Run the worker until every change is done. With `advance`, the fake clock moves to the
    next change due whenever no user is in progress (retries, backoff); without it, the run
    stops at the first such wait."""
    stop = asyncio.Event()
    task = asyncio.create_task(w.worker.run(stop=stop))
    state = w.stores.state
    try:
        for _ in range(rounds):
            await asyncio.sleep(0.001)
            if task.done():
                task.result()
            if all(c.state == "done" for c in state.changes.values()):
                return
            if state.claims:
                continue  # a user is in progress
            due = await w.stores.queue.next_due()
            if due is not None and due > w.clock.time():
                if not advance:
                    return
                w.clock.advance(due - w.clock.time())
        raise AssertionError("the queue did not drain")
    finally:
        stop.set()
        w.worker.wakeup.set()
        await task
