"""Builders for the store conformance tests (test_stores*.py): links, received rows, outcomes."""

from __future__ import annotations

from typing import Any

from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import Lane, Reason, Status, user_key
from idsync.domain.records import ClaimedUser, Finished, IngestRow, Outcome
from idsync.ports import Stores

T = "acme"  # the tenant of most tests


def link(source: str, key: str, idp_id: str | None, login: str | None = None, **kw: Any) -> Link:
    tenant = kw.pop("tenant", T)
    status = kw.pop("idp_status", IdpStatus.STAGED if idp_id else None)
    return Link(tenant, source, key, "okta", idp_id, login, idp_status=status, **kw)


def row(
    key: str,
    *,
    source: str = "crm",
    tenant: str = T,
    op: str = "upsert",
    lane: Lane = Lane.BULK,
    import_id: str | None = None,
    origin_ref: str | None = None,
    status: Status | None = None,
    reason: Reason | None = None,
    version: int | None = None,
    idp_id: str | None = None,
) -> IngestRow:
    return IngestRow(
        tenant=tenant,
        source=source,
        key=key,
        op=op,
        lane=lane,
        payload=f'{{"key": "{key}"}}',
        origin="file" if import_id else "http",
        user_key=user_key(tenant, source, key),
        version=version,
        import_id=import_id,
        message_id=f"m-{key}",
        origin_ref=origin_ref,
        result_status=status,
        reason=reason,
        idp_id=idp_id,
    )


def done(user: ClaimedUser, owner: str, status: Status, **kw: Any) -> Finished:
    """Every change of a claimed user finished with one status."""
    release = kw.pop("release", True)
    return Finished(
        user.user_key,
        owner,
        [Outcome(c.id, status, import_id=c.import_id, **kw) for c in user.changes],
        release,
    )


async def claim_all(stores: Stores, owner: str = "w1", now: float = 1000.0, **kw: Any) -> list[ClaimedUser]:
    return await stores.queue.claim(
        owner, limit=kw.pop("limit", 50), lease_s=kw.pop("lease_s", 60.0), now=now, **kw
    )


async def state_of(stores: Stores, change_id: int | None) -> tuple[object, ...]:
    assert change_id is not None
    r = await stores.queue.change_result(change_id)
    assert r is not None
    return r["state"], r["status"], r["attempts"]
