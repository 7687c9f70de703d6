"""Splitting one IdP budget over instances through the store (SQLite and PostgreSQL).

The safety rule is checked after every step of a randomised run of three instances: the shares
recorded in the store never add up to more than the budget, no instance's cap exceeds its
recorded share, and the calls of one window stay within the budget."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.adapters.store import Store
from idsync.adapters.store.aio import AsyncStore, Runner
from idsync.domain.budget import OtherShare, split, target
from idsync.engine.governor import BucketUsage
from idsync.service.coordinator import Coordinator

BUDGET = 100


def test_alone_an_instance_with_work_gets_the_whole_budget() -> None:
    assert split(BUDGET, 0, [], True).cap == BUDGET


def test_a_newcomer_takes_only_what_is_free() -> None:
    holder = [OtherShare("a", BUDGET, True)]
    assert split(BUDGET, 0, holder, True).cap == 0
    assert split(BUDGET, 0, [OtherShare("a", 70, True)], True).cap == 30


def test_an_instance_gives_back_down_to_its_fair_part() -> None:
    decided = split(BUDGET, BUDGET, [OtherShare("b", 0, True)], True)
    assert (decided.recorded, decided.cap) == (BUDGET, BUDGET // 2)  # recorded lower next sync


def test_idle_instances_keep_a_little_for_interactive_changes() -> None:
    assert target(BUDGET, [OtherShare("a", 98, True)], False) == 2
    assert target(BUDGET, [OtherShare("a", 2, False)], True) == 98


class FakeGovernor:
    """One bucket, driven by the test: calls made, calls waiting, the cap set by the coordinator."""

    def __init__(self) -> None:
        self.default_allowance: int | None = None
        self.allowance: int | None = None
        self.sent = 0
        self.waiting = 0

    def usage(self) -> dict[str, BucketUsage]:
        return {"users": BucketUsage(600, BUDGET, self.sent, self.waiting, self.allowance)}

    def set_allowance(self, bucket: str, calls: int | None) -> None:
        self.allowance = calls

    def send(self, n: int) -> int:
        room = max((self.allowance or 0) - self.sent, 0)
        made = min(n, room)
        self.sent += made
        return made


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    s = Store(url)
    yield s
    s.close()


async def test_shares_never_exceed_the_budget_and_converge(store: Store) -> None:
    runner = Runner(store.dialect)
    db = AsyncStore(store, runner)
    rng = random.Random(7)
    governors = {name: FakeGovernor() for name in "abc"}
    coordinators = {
        name: Coordinator(db, {"okta": gov}, name, interval_s=0.1, ttl_s=60)  # type: ignore[dict-item]
        for name, gov in governors.items()
    }
    for c in coordinators.values():
        c.start()
    window_calls = 0
    for step in range(300):
        name = rng.choice("abc")
        gov = governors[name]
        gov.waiting = rng.choice([0, 5, 5, 5])
        if gov.waiting:
            window_calls += gov.send(rng.randint(0, 40))
        if step % 25 == 24:  # the IdP's window ends for everyone
            for g in governors.values():
                g.sent = 0
            window_calls = 0
        await coordinators[name].sync_once()
        shares = {r["instance"]: r["allowance"] for r in coordinators["a"].service.shares()}
        assert sum(shares.values()) <= BUDGET, (step, shares)
        for n, g in governors.items():
            assert (g.allowance or 0) <= shares.get(n, 0), (step, n, g.allowance, shares)
        assert window_calls <= BUDGET
    # All three busy for a while: each ends up with an even part.
    for _ in range(4):
        for name, gov in governors.items():
            gov.waiting, gov.sent = 5, 0
            await coordinators[name].sync_once()
    assert {n: g.allowance for n, g in governors.items()} == {"a": 33, "b": 33, "c": 33}
    # One leaves: the other two share its part.
    await coordinators["c"].leave()
    for _ in range(3):
        for name in "ab":
            await coordinators[name].sync_once()
    assert {n: governors[n].allowance for n in "ab"} == {"a": 50, "b": 50}
    runner.close()
    store.close()
