"""What the crash and fault runs must end with, checked against the emulator and the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from idsync.adapters.store import Store
from idsync.adapters.store.schema import changes, claims, links
from idsync.emulator.okta import EmulatorAdmin
from tests.reliability.crash import Workload, emails_per_user


@dataclass
class IdpVerdict:
    accounts: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_profile: list[str] = field(default_factory=list)
    wrong_status: list[str] = field(default_factory=list)
    emails: int = 0
    double_emails: list[str] = field(default_factory=list)
    no_email: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {
            k: v[:10]
            for k, v in self.__dict__.items()
            if isinstance(v, list) and v  # every list names something that went wrong
        }


def check_idp(url: str, workload: Workload, *, status: str = "PROVISIONED") -> IdpVerdict:
    """Every valid user exactly once, with the right profile and status, e-mailed exactly once."""
    admin = EmulatorAdmin(url)
    users = admin.users()
    v = IdpVerdict(accounts=len(users))
    logins = Counter(u["login"].lower() for u in users)
    expected = {f"user{i}@example.com": i for i in range(workload.users)}
    v.duplicates = sorted(login for login, n in logins.items() if n > 1)
    v.missing = sorted(set(expected) - set(logins))
    v.unexpected = sorted(set(logins) - set(expected))
    for u in users:
        i = expected.get(u["login"].lower())
        if i is None:
            continue
        want = workload.profile(i)
        got = {k: u["profile"].get(k) for k in want}
        if got != want:
            v.wrong_profile.append(f"{u['login']}: {got} != {want}")
        if u["status"] != status:
            v.wrong_status.append(f"{u['login']}: {u['status']}")
    if status == "PROVISIONED":
        emails = emails_per_user(admin.outbox())
        v.emails = sum(emails.values())
        v.double_emails = sorted(uid for uid, n in emails.items() if n > 1)
        v.no_email = sorted(u["id"] for u in users if emails[u["id"]] == 0)
        v.double_emails += [u["login"] for u in users if u.get("activation_emails", 1) > 1]
    return v


@dataclass
class StoreVerdict:
    counts: dict[str, int]
    recount: dict[str, int]
    states: dict[str, int]
    claims: int
    links: int
    links_pending: int
    failed: dict[str, str]


def check_store(url: str, import_id: str) -> StoreVerdict:
    store = Store(url)
    try:
        record = store.imports.get(import_id)
        assert record is not None, f"no import {import_id} in the store"
        recount = store.imports.recount(import_id)
        with store.engine.connect() as conn:
            states = dict(
                conn.execute(
                    select(changes.c.state, func.count())
                    .where(changes.c.import_id == import_id)
                    .group_by(changes.c.state)
                ).all()
            )
            held = conn.execute(select(func.count()).select_from(claims)).scalar_one()
            n_links = conn.execute(select(func.count()).select_from(links)).scalar_one()
            pending = conn.execute(
                select(func.count()).select_from(links).where(links.c.pending_op.is_not(None))
            ).scalar_one()
        failed = store.imports.results(import_id, statuses=None, limit=10**7)
    finally:
        store.close()
    reasons = {
        str(r["key"]): f"{r['reason_code']}: {r['reason_message']}" for r in failed if r["status"] == "failed"
    }
    return StoreVerdict(
        counts=dict(record.counts),
        recount=recount,
        states={str(k): int(n) for k, n in states.items()},
        claims=int(held),
        links=int(n_links),
        links_pending=int(pending),
        failed=reasons,
    )


def exact_counters(verdict: StoreVerdict, workload: Workload) -> list[str]:
    """The import's counters against what was sent (and against its own rows)."""
    c, problems = verdict.counts, []
    invalid = len(workload.invalid())
    valid = workload.changes - invalid
    expect = {"received": workload.changes, "failed": invalid, "unchanged": 0, "skipped": 0}
    for name, value in expect.items():
        if c[name] != value:
            problems.append(f"{name} = {c[name]}, expected {value}")
    if c["created"] + c["updated"] != valid:
        problems.append(f"created + updated = {c['created'] + c['updated']}, expected {valid} (counters {c})")
    if c["created"] < workload.users:
        problems.append(f"created = {c['created']} < {workload.users} users")
    for name, value in verdict.recount.items():
        if c.get(name) != value:
            problems.append(f"counter {name} = {c.get(name)} but the rows say {value}")
    return problems


def figures(idp: IdpVerdict, store: StoreVerdict) -> dict[str, Any]:
    return {
        "accounts": idp.accounts,
        "duplicates": len(idp.duplicates),
        "missing": len(idp.missing),
        "wrong_profile": len(idp.wrong_profile),
        "wrong_status": len(idp.wrong_status),
        "activation_emails": idp.emails,
        "double_emails": len(idp.double_emails),
        "counters": store.counts,
    }
