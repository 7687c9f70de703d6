"""Identity-source imports: bulk-load bodies, processing of triggered sessions, source mastering.

- Bodies are the spec's `BulkUpsertRequestBody` / `BulkDeleteRequestBody`, checked with pydantic
  (lengths from `IdentitySourceUserProfileForUpsert`; "profile attributes can only be of the
  string type"); at most 200 profiles and 200 KB per request (guide).
- Processing: each source works through its triggered sessions one after another, at
  `identity_source_users_per_minute` (Okta time, so scaled by `time_scale`). `advance(now)` applies
  what is due by `now`; a background task calls it, and so does every identity-source request, so
  a `ManualClock` drives it deterministically. An upsert creates or updates the user linked to
  its externalId; a delete deactivates it (unknown externalIds are ignored). Okta reports no
  per-user results; the admin view of the source lists the failures.
- Mastering: the attributes a source sent belong to it; changing them through `/api/v1/users/{id}`
  is refused with 403 E0000023, as Okta answers for users "mastered under another system".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.idsources import (
    IdentitySourceRecord,
    IdentitySources,
    ImportOp,
    ImportSession,
    SourceLink,
)
from idsync.emulator.okta.models import UserRecord
from idsync.emulator.okta.org import RequestInfo
from idsync.emulator.okta.users import create_user, run_lifecycle, update_user

__all__ = ["MAX_BODY_BYTES", "ImportProcessor", "check_mastered", "parse_upload"]

MAX_BODY_BYTES = 200 * 1024
"""Guide: "up to 200 KB of data in a single bulk-load request" (read as KiB)."""
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
log = logging.getLogger("idsync.emulator.okta.idsources")

_FAILURES_KEPT = 1000
_MASTERED = "Operation failed because user profile is mastered under another system"


class _UpsertProfile(BaseModel):
    """`IdentitySourceUserProfileForUpsert`: strings only; custom attributes allowed."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, str | None] = Field(init=False)

    userName: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, min_length=5, max_length=100, pattern=_EMAIL)
    secondEmail: str | None = Field(default=None, min_length=5, max_length=100, pattern=_EMAIL)
    firstName: str | None = Field(default=None, min_length=1, max_length=50)
    lastName: str | None = Field(default=None, min_length=1, max_length=50)
    mobilePhone: str | None = Field(default=None, max_length=100)
    homeAddress: str | None = Field(default=None, max_length=4096)


class _UpsertItem(BaseModel):
    model_config = ConfigDict(strict=True)
    externalId: str = Field(min_length=1, max_length=512)
    profile: _UpsertProfile


class _DeleteItem(BaseModel):
    model_config = ConfigDict(strict=True)
    externalId: str = Field(min_length=1, max_length=512)


class _BulkUpsert(BaseModel):
    model_config = ConfigDict(strict=True)
    entityType: Literal["USERS"]
    profiles: list[_UpsertItem] = Field(min_length=1, max_length=200)


class _BulkDelete(BaseModel):
    model_config = ConfigDict(strict=True)
    entityType: Literal["USERS"]
    profiles: list[_DeleteItem] = Field(min_length=1, max_length=200)


def parse_upload(kind: Literal["upsert", "delete"], raw: bytes, body: Any) -> list[ImportOp]:
    """The operations of a bulk-load request, or Okta's 400 naming the field and the reason."""
    if len(raw) > MAX_BODY_BYTES:
        text = f"profiles: A bulk-load request carries at most 200 KB of data, got {len(raw)} bytes"
        raise OktaError.api_validation("profiles", text)
    model = _BulkUpsert if kind == "upsert" else _BulkDelete
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        causes = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg'].replace(' after validation', '')}"
            for e in errors
        ]
        first = str(errors[0]["loc"][0]) if errors[0]["loc"] else "body"
        raise OktaError.api_validation(first, *causes) from None
    if isinstance(parsed, _BulkUpsert):
        return [
            ImportOp("upsert", item.externalId, item.profile.model_dump(exclude_unset=True))
            for item in parsed.profiles
        ]
    return [ImportOp("delete", item.externalId) for item in parsed.profiles]


def okta_profile(source_profile: dict[str, Any]) -> dict[str, Any]:
    """The default attribute mapping: `userName` → `login`, every other attribute to its namesake."""
    return {("login" if k == "userName" else k): v for k, v in source_profile.items()}


def check_mastered(sources: IdentitySources, user: UserRecord, body: Any, *, replace: bool) -> None:
    """403 E0000023 if an update of `user` would change an attribute its identity source masters."""
    link = sources.by_user.get(user.id)
    given = body.get("profile") if isinstance(body, dict) else None
    if link is None or not isinstance(given, dict):
        return
    names = link.mastered if replace else [k for k in given if k in link.mastered]
    if any(given.get(k) != user.profile.get(k) for k in names):
        raise OktaError(403, "E0000023", _MASTERED)


class ImportProcessor:
    """Applies triggered sessions to the org's users, one session at a time per identity source."""

    def __init__(self, sources: IdentitySources) -> None:
        self.sources = sources
        self.org = sources.org
        settings = self.org.settings
        self.rate_per_s = settings.identity_source_users_per_minute / (60.0 * settings.time_scale)
        self.activate = settings.identity_source_activate
        self.error_rate = settings.identity_source_error_rate
        self._dice = random.Random(settings.seed)
        self._task: asyncio.Task[None] | None = None

    # --- the work -------------------------------------------------------------------------------

    def advance(self, now: float, budget: int = 100) -> bool:
        """Apply what is due by `now` (at most `budget` operations); True if more is due already."""
        with self.org.state.journal.batch():
            for source_id, queue in self.sources.queues.items():
                while queue and budget > 0:
                    session = queue[0]
                    if session.started_at is None and not self._start(session, source_id):
                        queue.popleft()  # ended in ERROR
                        continue
                    assert session.started_at is not None
                    due = min(
                        len(session.ops), math.floor((now - session.started_at) * self.rate_per_s + 1e-6)
                    )
                    while session.processed < due and budget > 0:
                        self._apply(session, session.ops[session.processed])
                        session.processed += 1
                        budget -= 1
                    if session.processed < len(session.ops):
                        break
                    end = session.started_at + len(session.ops) / self.rate_per_s
                    session.finished_at = end
                    session.set_status("COMPLETED", end)
                    self.sources.free_at[source_id] = end
                    queue.popleft()
        return budget <= 0

    def _start(self, session: ImportSession, source_id: str) -> bool:
        """Begin processing `session`; False if it ended in ERROR at once (`identity_source_error_rate`)."""
        start = max(session.triggered_at or session.created, self.sources.free_at.get(source_id, 0.0))
        session.started_at = start
        if self.error_rate and self._dice.random() < self.error_rate:
            session.finished_at = start
            session.set_status("ERROR", start)
            session.ops.clear()
            self.sources.free_at[source_id] = start
            return False
        return True

    def _apply(self, session: ImportSession, op: ImportOp) -> None:
        source = self.sources.source(session.source_id)
        info = session.info or RequestInfo(org_url=self.org.settings.org_url or "")  # set by trigger
        try:
            outcome = (
                self._upsert(source, op, info) if op.kind == "upsert" else self._delete(source, op, info)
            )
        except OktaError as err:
            outcome = self._failed(session, op, "; ".join(err.causes) or err.summary)
        except Exception:  # a bug must not leave the session TRIGGERED for ever
            log.exception("import of %s in session %s failed", op.external_id, session.id)
            outcome = self._failed(session, op, "internal error (see the emulator's log)")
        session.counts[outcome] = session.counts.get(outcome, 0) + 1

    @staticmethod
    def _failed(session: ImportSession, op: ImportOp, reason: str) -> str:
        if len(session.failures) < _FAILURES_KEPT:
            session.failures.append({"externalId": op.external_id, "op": op.kind, "reason": reason})
        return "failed"

    def _linked_user(
        self, source: IdentitySourceRecord, external_id: str
    ) -> tuple[SourceLink | None, UserRecord | None]:
        link = self.sources.links.get(source.id, {}).get(external_id)
        user = self.org.state.users.get(link.user_id) if link else None
        if link is not None and user is None:  # the user was deleted in Okta meanwhile
            self.sources.drop_link(link)
            link = None
        return link, user

    def _upsert(self, source: IdentitySourceRecord, op: ImportOp, info: RequestInfo) -> str:
        profile = okta_profile(op.profile or {})
        link, user = self._linked_user(source, op.external_id)
        if user is None:
            login = profile.get("login")
            existing = self.org.state.user_by_login(login) if isinstance(login, str) else None
            if existing is None:
                body = {"profile": profile, "credentials": {"provider": {"type": "IMPORT", "name": "IMPORT"}}}
                user = create_user(self.org, body, info, activate=self.activate)
                self.sources.save_link(SourceLink(source.id, op.external_id, user.id, sorted(profile)))
                return "created"
            if not source.match_by_login or existing.id in self.sources.by_user:
                self.org.count("duplicate_login_rejections")
                raise OktaError.duplicate_login()
            user = existing
            link = SourceLink(source.id, op.external_id, user.id)
        assert link is not None
        before = dict(user.profile)
        update_user(self.org, user, {"profile": profile}, info, replace=False)
        link.mastered = sorted(set(link.mastered) | set(profile))
        self.sources.save_link(link)
        if user.status == "DEPROVISIONED" and self.activate:
            run_lifecycle(self.org, user, "activate", info, send_email=True)
            return "reactivated"
        return "updated" if user.profile != before else "unchanged"

    def _delete(self, source: IdentitySourceRecord, op: ImportOp, info: RequestInfo) -> str:
        _, user = self._linked_user(source, op.external_id)
        if user is None:
            return "ignored"  # guide: an externalId not matched to a user is silently ignored
        if user.status == "DEPROVISIONED":
            return "unchanged"
        run_lifecycle(self.org, user, "deactivate", info, send_email=False)
        return "deactivated"

    # --- the background task ---------------------------------------------------------------------

    def wait_s(self, now: float) -> float | None:
        """Real seconds until the next operation is due; None when no session is waiting."""
        waits = []
        for queue in self.sources.queues.values():
            if queue:
                head = queue[0]
                start = head.started_at if head.started_at is not None else now
                waits.append(start + (head.processed + 1) / self.rate_per_s - now)
        return max(0.0, min(waits)) if waits else None

    def kick(self) -> None:
        """Make sure the background task runs (called when a session is triggered)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        clock = self.org.clock
        while True:
            busy = self.advance(clock.now())
            wait = self.wait_s(clock.now())
            if wait is None:
                return
            # Short naps: under a ManualClock time moves without the loop knowing.
            await asyncio.sleep(0 if busy else min(max(wait, 0.002), 0.1))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
            self._task = None
