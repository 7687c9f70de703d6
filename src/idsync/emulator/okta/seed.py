"""Bulk seeding of users through the admin side: no rate limit, no events, no e-mails.

Why: benchmarks need an org with 100,000+ users in seconds, which the API's 600/min would
take hours to build.
"""

from __future__ import annotations

from typing import Any

from idsync.emulator.okta.lifecycle import STATUSES
from idsync.emulator.okta.models import UserRecord, login_key
from idsync.emulator.okta.org import Org
from idsync.emulator.okta.users import new_user_id

__all__ = ["seed_users"]


def seed_users(org: Org, spec: Any) -> int:
    """Create users from `{"users": [{"profile": {...}, "status": "ACTIVE"}]}` and/or
    `{"generate": {"count": n, "status": "ACTIVE", "prefix": "user", "domain": "example.com"}}`.
    Existing logins are skipped. Returns how many users were created."""
    if not isinstance(spec, dict):
        raise TypeError("expected a JSON object")
    wanted: list[tuple[dict[str, Any], str]] = []
    for item in spec.get("users", []):
        wanted.append((dict(item["profile"]), str(item.get("status", "ACTIVE"))))
    gen = spec.get("generate")
    if gen:
        prefix, domain = str(gen.get("prefix", "user")), str(gen.get("domain", "example.com"))
        start = int(gen.get("start", 0))
        for i in range(start, start + int(gen["count"])):
            login = f"{prefix}{i}@{domain}"
            wanted.append(
                (
                    {"login": login, "email": login, "firstName": "Seed", "lastName": f"User{i}"},
                    str(gen.get("status", "ACTIVE")),
                )
            )
    created = 0
    now = org.now()
    state = org.state
    with state.journal.batch():
        for profile, status in wanted:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}")
            if login_key(str(profile["login"])) in state.by_login:
                continue
            full = {"firstName": None, "lastName": None, "mobilePhone": None, "secondEmail": None, **profile}
            active = status not in ("STAGED",)
            state.add_user(
                UserRecord(
                    id=new_user_id(org),
                    seq=state.next_seq(),
                    status=status,
                    created=now,
                    last_updated=now,
                    profile=full,
                    type_id=state.meta["type_id"],
                    activated=now if active else None,
                    status_changed=now,
                    password_changed=now,
                    has_password=True,
                )
            )
            created += 1
    return created
