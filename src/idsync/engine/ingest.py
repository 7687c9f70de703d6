"""Receiving changes: validate, filter out what needs no IdP call, store the rest in the queue.

Every received change is stored, with its result when it is decided at once: invalid messages
(`failed`, naming the field), unchanged users, externally routed users, sync mode off. Only the
rest enters the queue. A user with a change still in the queue is never decided ahead of it.
The planner decides here exactly as the worker would, so both always agree.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from idsync.domain.decision import newer
from idsync.domain.links import Link
from idsync.domain.marks import line_fp, line_mark, policy_fp
from idsync.domain.models import ChangeMessage, Lane, Reason, Status, user_key, validation_reason
from idsync.domain.planner import plan
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import IngestRow, Received
from idsync.ports import ChangeQueue, LinkStore

Policies = Callable[[str], TenantPolicy | None]
T = TypeVar("T")

BATCH = 1000
log = logging.getLogger("idsync.ingest")


@dataclass(frozen=True)
class Defaults:
    """What the way in imposes on every message: the import it belongs to, the tenant it must be."""

    origin: str
    tenant: str | None = None
    import_id: str | None = None
    lane: Lane | None = None
    # Store a row for each unchanged user? Ways in that send a result per change need it; a file
    # import counts them instead (a million-user re-import would write a million rows of "unchanged").
    record_unchanged: bool = True
    # Let this run deactivate/delete beyond the tenant's safety threshold (domain/safety.py).
    force: bool = False


def _short(value: object, n: int = 100) -> str:
    return str(value)[:n] if value is not None else ""


def to_change(item: Received, defaults: Defaults) -> ChangeMessage | Reason:
    """Validate one message; the reason names the field when it is not valid."""
    if item.text is not None:
        fast = _from_text(item.text, defaults)
        if fast is not None:
            return fast
    payload = item.payload
    if isinstance(payload, str):
        return Reason(code="invalid", message=payload)
    data = dict(payload)
    if defaults.tenant is not None:
        data.setdefault("tenant", defaults.tenant)
        if data["tenant"] != defaults.tenant:
            return Reason(
                code="tenant_mismatch",
                message=f"tenant: is {_short(data['tenant'], 40)!r}, but this import is for "
                f"tenant {defaults.tenant!r}",
            )
    if defaults.import_id is not None:  # the way in's import applies (to the stored row) ...
        data.setdefault("import_id", defaults.import_id)  # ... but a malformed one is still refused
    try:
        return ChangeMessage.model_validate(data)
    except ValidationError as exc:
        return validation_reason(exc)


def _from_text(text: str, defaults: Defaults) -> ChangeMessage | None:
    """The fast path for a JSON line that names its tenant: parsed and validated in pydantic-core.
    None means: take the ordinary path (it fills in defaults and words the errors)."""
    try:
        change = ChangeMessage.model_validate_json(text)
    except ValidationError:
        return None
    if defaults.tenant is not None and change.tenant != defaults.tenant:
        return None
    return change  # the import id of the way in is applied to the stored row


class Ingestor:
    def __init__(self, queue: ChangeQueue, links: LinkStore, policies: Policies) -> None:
        self._queue = queue
        self._links = links
        self._policies = policies
        self._known: dict[str, TenantPolicy | None] = {}
        self._policy_marks: dict[str, str | None] = {}
        self.passed_over = 0  # lines found at rest by their marks, never parsed

    def policy(self, tenant: str) -> TenantPolicy | None:
        if tenant not in self._known:
            self._known[tenant] = self._policies(tenant)
        return self._known[tenant]

    async def receive(
        self, items: Sequence[Received], defaults: Defaults, *, cursor: int | None = None
    ) -> list[tuple[int | None, ChangeMessage | Reason]]:
        """Validate, pre-decide and store one batch. Returns (change id, change or reason) per
        stored item. A way in that only counts unchanged users (a file import) first passes over
        the lines whose links hold their marks (domain/marks.py): they are not even parsed."""
        fps = self._line_fps(items, defaults)
        at_rest = await self._at_rest(fps, defaults) if fps is not None else {}
        parsed = [None if i in at_rest else to_change(item, defaults) for i, item in enumerate(items)]
        if at_rest:
            # A user with another change waiting, in the queue or above in this batch, is decided
            # behind it: the line is read after all.
            waiting = {p.user_key for p in parsed if isinstance(p, ChangeMessage)}
            waiting |= await self._queue.open_user_keys(sorted(set(at_rest.values())))
            for i, user in at_rest.items():
                if user in waiting:
                    parsed[i] = to_change(items[i], defaults)
        kept = [i for i, p in enumerate(parsed) if p is not None]
        self.passed_over += len(items) - len(kept)
        return await self.store(
            [p for p in parsed if p is not None],
            [items[i] for i in kept] if len(kept) < len(items) else items,
            defaults,
            cursor=cursor,
            at_rest=len(items) - len(kept),
            line_fps=[fps[i] for i in kept] if fps is not None else None,
        )

    def _line_fps(self, items: Sequence[Received], defaults: Defaults) -> list[str | None] | None:
        """Each line's fingerprint, when this way in can pass over lines (None: it cannot)."""
        if defaults.record_unchanged or defaults.tenant is None:
            return None
        tenant = defaults.tenant
        return [
            line_fp(tenant, item.text)
            if item.text is not None
            else (line_fp(tenant, repr(item.payload)) if isinstance(item.payload, dict) else None)
            for item in items
        ]

    async def _at_rest(self, fps: list[str | None], defaults: Defaults) -> dict[int, str]:
        """The lines whose links hold their marks, by index, with their user's key."""
        assert defaults.tenant is not None
        policy_mark = self.policy_mark(defaults.tenant)
        if policy_mark is None:
            return {}
        marks = {line_mark(policy_mark, fp): i for i, fp in enumerate(fps) if fp is not None}
        found = await self._links.at_rest_lines(defaults.tenant, list(marks))
        out: dict[int, str] = {}
        for i, fp in enumerate(fps):
            hit = found.get(line_mark(policy_mark, fp)) if fp is not None else None
            if hit is not None:
                out[i] = user_key(defaults.tenant, *hit)
        return out

    def policy_mark(self, tenant: str) -> str | None:
        """The tenant's policy fingerprint (domain/marks.py), None for a tenant not configured."""
        if tenant not in self._policy_marks:
            policy = self.policy(tenant)
            self._policy_marks[tenant] = policy_fp(policy) if policy is not None else None
        return self._policy_marks[tenant]

    async def store(
        self,
        parsed: Sequence[ChangeMessage | Reason],
        items: Sequence[Received],
        defaults: Defaults,
        *,
        cursor: int | None = None,
        at_rest: int = 0,
        line_fps: Sequence[str | None] | None = None,
    ) -> list[tuple[int | None, ChangeMessage | Reason]]:
        """Pre-decide and store one batch that was validated already (`to_change`: once per message,
        whatever the way in). Returns (change id, change or reason) per item. `at_rest`: lines
        passed over (counted unchanged); `line_fps`: the items' fingerprints, kept with queued
        changes so the worker can mark the links it leaves at rest."""
        valid = [p for p in parsed if isinstance(p, ChangeMessage)]
        keys = [(c.tenant, c.source, c.key) for c in valid]
        user_keys = [c.user_key for c in valid]  # built once a change: asked for three times
        links = await self._links.get_many(keys) if valid else {}
        busy = await self._queue.open_user_keys(user_keys) if valid else set()
        rows: list[IngestRow] = []
        kept: list[ChangeMessage | Reason] = []
        unrecorded = at_rest
        named = zip(keys, user_keys, strict=True)
        fps = line_fps if line_fps is not None else [None] * len(items)
        proved: list[tuple[Link, str]] = []  # lines found unchanged here, to mark their links with
        for item, p, fp in zip(items, parsed, fps, strict=True):
            if isinstance(p, Reason):
                rows.append(self._rejected(item, p, defaults))
                kept.append(p)
                continue
            key, user_key = next(named)
            link = links.get(key)
            row = self._accepted(item, p, user_key, defaults, link, busy, fp)
            if row is None:
                unrecorded += 1
                if fp is not None and link is not None and (pm := self.policy_mark(p.tenant)):
                    proved.append((link, line_mark(pm, fp)))
                continue
            rows.append(row)
            kept.append(p)
        receipt = await self._queue.receive(
            rows,
            import_id=defaults.import_id,
            cursor=cursor,
            unrecorded_unchanged=unrecorded,
            force=defaults.force,
        )
        if proved:  # a link written by another way (an activation, a session, an older release)
            await self._links.mark_at_rest(proved)
        for run_id, tripped in receipt.tripped:
            log.warning(
                "safety threshold: %s; nothing more of it is sent until it is released "
                "(idsync safety release %s, or POST /safety/runs/{run_id}/release) or its held "
                "changes are discarded (idsync safety discard %s)",
                tripped,
                run_id,
                run_id,
            )
        return list(zip(receipt.ids, kept, strict=True))

    def _rejected(self, item: Received, reason: Reason, defaults: Defaults) -> IngestRow:
        data = item.payload if isinstance(item.payload, dict) else {}
        named = item.named or ("?", "?", "?")
        tenant = _short(data.get("tenant") or defaults.tenant or named[0])
        source, key = _short(data.get("source") or named[1]), _short(data.get("key") or named[2], 200)
        raw = item.raw if item.raw is not None else (json.dumps(data)[:2000] if data else "")
        return IngestRow(
            tenant=tenant,
            source=source,
            key=key,
            op=_short(data.get("op") or "?", 16),
            lane=defaults.lane or (Lane.BULK if defaults.import_id else Lane.INTERACTIVE),
            payload=raw[:2000],
            origin=defaults.origin,
            user_key=f"invalid:{uuid.uuid4().hex}",
            import_id=defaults.import_id,
            origin_ref=item.origin_ref,
            message_id=_short(data.get("message_id"), 200) or None,
            result_status=Status.FAILED,
            reason=reason,
        )

    def _accepted(
        self,
        item: Received,
        change: ChangeMessage,
        user_key: str,
        defaults: Defaults,
        link: Link | None,
        busy: set[str],
        fp: str | None = None,
    ) -> IngestRow | None:
        """The row to store for a valid change (None: an unchanged user that is only counted)."""
        status, reason = self._decide(change, user_key, link, busy)
        if status is Status.UNCHANGED and not defaults.record_unchanged:
            return None
        if status is None:
            payload = change.model_dump_json(exclude_none=True)  # queued: the worker reads it back
        else:
            payload = item.raw if item.raw is not None else change.model_dump_json(exclude_none=True)
        return IngestRow(
            tenant=change.tenant,
            source=change.source,
            key=change.key,
            op=change.op.value,
            lane=_lane(change, defaults),
            payload=payload,
            origin=defaults.origin,
            user_key=user_key,
            version=change.version,
            import_id=defaults.import_id or change.import_id,
            message_id=change.message_id,
            origin_ref=item.origin_ref,
            result_status=status,
            reason=reason,
            idp_id=link.idp_id if (link is not None and status is not None) else None,
            line_fp=fp if status is None else None,
        )

    def _decide(
        self, change: ChangeMessage, user_key: str, link: Link | None, busy: set[str]
    ) -> tuple[Status | None, Reason | None]:
        """The result decided at once, or (None, None): the change goes to the queue."""
        policy = self.policy(change.tenant)
        if policy is None:
            return Status.FAILED, Reason(
                code="unknown_tenant", message=f"tenant: {change.tenant!r} is not configured"
            )
        if user_key in busy:
            return None, None  # queue behind the user's earlier change
        decided = plan(change, link, policy)  # next_step of a lone change: its plan (decision.py)
        if decided.needs_worker:
            busy.add(user_key)
            return None, None
        if decided.status is Status.UNCHANGED and link is not None and newer(change.version, link.version):
            busy.add(user_key)  # a newer version to record: let the worker write the link
            return None, None
        return decided.status, decided.reason


def _lane(change: ChangeMessage, defaults: Defaults) -> Lane:
    """A change that belongs to an import is bulk work; one on its own is interactive."""
    if defaults.lane is not None:
        return defaults.lane
    return Lane.BULK if (defaults.import_id or change.import_id) else Lane.INTERACTIVE


def batches(records: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    batch: list[T] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
