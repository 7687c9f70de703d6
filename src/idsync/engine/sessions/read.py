"""After a session: wait until Okta has processed it, read its users back, and give each its result.

Okta reports no per-user results, so each user is read back by login: an account created since
the session was opened with the login the session carried is the one the session created
(`linked`); an older account with that login is someone else's (`foreign`: the per-user path and
the tenant's `existing_account` policy decide); no account is `missing` (the per-user path
creates it, looking first). An update is `updated` when the account shows what the session
carried. Results go to the store before anyone is told, so a restart settles users whose session
finished while nothing ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from idsync.clock import Clock
from idsync.domain.decision import settled
from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.models import Reason, Status
from idsync.domain.planner import ActivateUser, CreateUser, Plan
from idsync.domain.records import ClaimedUser
from idsync.domain.sessions import EntryKind, ReadResult, SessionEntry, before, created_since, latest
from idsync.domain.text import login_key
from idsync.engine.sessions.model import Entry, Flight, Hooks, SessionOptions
from idsync.errors import LinkConflict, ProviderError
from idsync.ports import IdentityProvider, ImportSessions, ReadBack, SessionStore

__all__ = ["Reader", "read_results"]

log = logging.getLogger("idsync.sessions")
_RUNNING = ("CREATED", "TRIGGERED", "IN_PROGRESS")
Result = tuple[str, ReadResult, str | None, str | None]
# While the import's last session runs (no other user waits in the pipeline: the import waits for
# this session alone), the users Okta has written are read back every few polls (a listing of the
# accounts changed since the last such read, less `list_lag_s` for the list's lag) and settled:
# when it completes only the users written since are left to read, not the whole session. Earlier
# sessions are read after they complete, while Okta processes the next (no time lost, fewer calls).
# At most this many pages a read.
EARLY_EVERY_POLLS = 3
EARLY_PAGES = 20


class _Early:
    """When the next early read is due, and how far the last one got (the IdP's time)."""

    def __init__(self, now: float, every_s: float, margin_s: float) -> None:
        self.every_s = every_s
        self.margin_s = margin_s
        self.due_at = now + every_s
        self.mark = ""
        self.stopped = False

    def due(self, now: float) -> bool:
        if self.stopped or now < self.due_at:
            return False
        self.due_at = now + self.every_s
        return True

    def since(self) -> str:
        """From when the next read lists accounts: the latest seen, less the margin."""
        return before(self.mark, self.margin_s) if self.mark else ""

    def stop(self) -> None:
        self.stopped = True


async def read_results(
    sessions: ImportSessions,
    idp: IdentityProvider,
    since: str,
    entries: list[SessionEntry],
    *,
    touched_since: str = "",
) -> list[Result]:
    """(user key, result, account id, status) for each entry of a completed session. An update
    the search does not show yet is read again by id (the search lags behind writes).
    `touched_since` (later than `since`) narrows the listing to accounts changed since then."""
    found = await sessions.read_back([e.login for e in entries], latest(since, touched_since))
    out: list[Result] = []
    for e in entries:
        back = found.get(login_key(e.login))
        done = settled_early(e, back, since)
        if done is not None:
            out.append(done)
            continue
        if e.kind is EntryKind.CREATE:
            if back is None:
                out.append((e.user_key, ReadResult.MISSING, None, None))
            else:
                out.append((e.user_key, ReadResult.FOREIGN, back.user.id, back.user.status.value))
            continue
        account = back.user if back is not None and back.user.id == e.idp_id else None
        if (account is None or not _shows(account.profile, e.profile)) and e.idp_id is not None:
            account = await idp.get_user(e.idp_id)
        if account is not None and _shows(account.profile, e.profile):
            out.append((e.user_key, ReadResult.UPDATED, e.idp_id, account.status.value))
        else:
            out.append((e.user_key, ReadResult.NOT_APPLIED, e.idp_id, None))
    return out


def settled_early(e: SessionEntry, back: ReadBack | None, since: str) -> Result | None:
    """The result a read shows for certain, even while the session runs: an account created since
    the session started with the user's login (`linked`), or the user's account showing the update
    (`updated`). None: only the read after the session decides."""
    if back is None:
        return None
    if e.kind is EntryKind.CREATE:
        if created_since(back.created, since):
            return (e.user_key, ReadResult.LINKED, back.user.id, back.user.status.value)
        return None
    if back.user.id == e.idp_id and _shows(back.user.profile, e.profile):
        return (e.user_key, ReadResult.UPDATED, e.idp_id, back.user.status.value)
    return None


def _shows(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(current.get(k) == v for k, v in wanted.items())


class Reader:
    def __init__(
        self,
        sessions: ImportSessions,
        store: SessionStore,
        idp: IdentityProvider,
        hooks: Hooks,
        clock: Clock,
        options: SessionOptions,
        *,
        done: Callable[[Entry], None],
        spawn: Callable[[Awaitable[None], ClaimedUser], None],
        last: Callable[[Flight], bool],
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.idp = idp
        self.hooks = hooks
        self.clock = clock
        self.options = options
        self.name = sessions.name
        self._done = done  # an entry left the pipeline
        self._spawn = spawn  # per-user fallbacks run beside the pipeline
        self._last = last  # does the import wait for this flight alone (nothing before or after it)?
        self._ended = ""  # the IdP's time the last session seen COMPLETED ended

    async def watch(self, flight: Flight, on_complete: Callable[[], None]) -> None:
        """Poll the session until it ends, then settle its users."""
        sid = flight.record.id
        entries = await self.store.entries(sid)  # read while Okta works, not after
        early = _Early(self.clock.time(), EARLY_EVERY_POLLS * self.options.poll_s, self.options.list_lag_s)
        while True:
            await self.clock.sleep(self.options.poll_s)
            try:
                session = await self.sessions.get_session(sid)
            except ProviderError as exc:
                log.warning("%s: cannot read import session %s: %s", self.name, sid, exc.message)
                continue
            if session is not None and session.status in _RUNNING:
                if self.options.read_while_running and early.due(self.clock.time()) and self._last(flight):
                    entries = await self._early(flight, entries, early)
                continue
            on_complete()
            if session is not None and session.status == "COMPLETED":
                # Okta runs one session at a time: this one's users were all written after the
                # session that completed before it (its end bounds the listing, not other users).
                touched_since, self._ended = self._ended, latest(self._ended, session.last_updated)
                return await self._read(flight, entries, latest(touched_since, early.since()))
            status = session.status if session is not None else "gone"
            log.warning(
                "%s: import session %s ended %s; its users are done one by one", self.name, sid, status
            )
            return await self._failed(flight)

    async def _read(self, flight: Flight, entries: list[SessionEntry], touched_since: str) -> None:
        sid = flight.record.id
        while True:
            try:
                results = await read_results(
                    self.sessions, self.idp, flight.record.since, entries, touched_since=touched_since
                )
                break
            except ProviderError as exc:
                log.warning("%s: reading back session %s failed (%s); again", self.name, sid, exc.message)
                await self.clock.sleep(self.options.poll_s)
        await self.store.record(self.name, sid, results)
        flight.read = True
        counts: dict[str, int] = {}
        for _, result, _, _ in [*results, *flight.early]:
            counts[result.value] = counts.get(result.value, 0) + 1
        log.info("%s: import session %s read back: %s", self.name, sid, counts)
        await self._settle_all(flight, results, final=True)

    async def _early(self, flight: Flight, entries: list[SessionEntry], early: _Early) -> list[SessionEntry]:
        """Read the session's users Okta has written so far and settle them now: after the last
        session only the users written since the last early read are left to read."""
        since = latest(flight.record.since, self._ended, early.since())
        mine = [e for e in entries if e.user_key in flight.entries]
        if not mine:  # none of its users is claimed here (yet): nothing to settle early
            return entries
        try:
            got = await self.sessions.read_changed([e.login for e in mine], since, max_pages=EARLY_PAGES)
        except ProviderError as exc:
            log.info("%s: early read of session %s failed (%s)", self.name, flight.record.id, exc.message)
            return entries
        if got is None:  # the org changes too much meanwhile: the read after the session does it
            early.stop()
            return entries
        found, mark = got
        early.mark = mark
        since_start = flight.record.since
        results = [r for e in mine if (r := settled_early(e, found.get(login_key(e.login)), since_start))]
        if not results:
            return entries
        await self.store.record(self.name, flight.record.id, results, final=False)
        flight.early.extend(results)
        await self._settle_all(flight, results, final=False)
        done = {r[0] for r in results}
        return [e for e in entries if e.user_key not in done]

    async def _settle_all(self, flight: Flight, results: list[Result], *, final: bool) -> None:
        """Settle the users of these results, then forget their entries; after the final read, users
        attached but not written ahead in this session go back to the queue (never sent)."""
        by_key = {r[0]: r for r in results}
        if final:
            attached, flight.entries = list(flight.entries.values()), {}
        else:
            attached = [flight.entries.pop(k) for k in by_key if k in flight.entries]
        known = [e for e in attached if e.user.user_key in by_key]
        for entry in attached:
            if entry.user.user_key not in by_key:  # not written ahead in this session: never sent
                self._done(entry)
                self._spawn(self.hooks.requeue(entry.user, None, count_attempt=True), entry.user)
        settled = await asyncio.gather(
            *(self.settle(e, *by_key[e.user.user_key][1:]) for e in known), return_exceptions=True
        )
        for entry, outcome in zip(known, settled, strict=True):
            if isinstance(outcome, Exception):  # e.g. the store: the user is tried again (looked up first)
                log.error("%s: %s/%s: %s", self.name, entry.user.source, entry.user.key, outcome)
                self._spawn(self.hooks.requeue(entry.user, None, count_attempt=True), entry.user)
        await self.store.forget(flight.record.id, [e.user.user_key for e in known])

    async def _failed(self, flight: Flight) -> None:
        """ERROR (or gone): Okta may have imported part of it. Creates go the per-user way with
        their intent (it looks the login up first); updates go into another session."""
        await self.store.abandon(self.name, flight.record.id, never_started=False)
        attached = list(flight.entries.values())
        flight.entries.clear()
        for entry in attached:
            self._done(entry)
            if entry.kind is EntryKind.CREATE:
                self._spawn(self.hooks.per_user(entry.user, _intent(entry)), entry.user)
            else:
                self._spawn(self.hooks.requeue(entry.user, entry.link, count_attempt=True), entry.user)

    async def settle(self, entry: Entry, result: ReadResult, idp_id: str | None, status: str | None) -> None:
        """Give one user its result, or send it on its way (the caller forgets its entry)."""
        self._done(entry)
        user, plan = entry.user, entry.plan
        if result is ReadResult.FOREIGN:  # decided by the tenant's policy, one by one
            return self._spawn(self.hooks.per_user(user, replace(entry.link, pending_op=None)), user)
        if result is ReadResult.MISSING:
            return self._spawn(self.hooks.per_user(user, _intent(entry)), user)
        if result is ReadResult.NOT_APPLIED:
            message = (
                f"Okta's identity source {self.sessions.source_id} did not apply this update (the account "
                "does not show it); see the source's import in the Okta Admin Console"
            )
            reason = Reason(code="identity_source_not_applied", message=message)
            failed = replace(entry.link, last_error_code=reason.code, last_error_message=message[:500])
            return await self.hooks.finish(user, Status.FAILED, entry.link.idp_id, reason, failed)
        assert idp_id is not None
        known = IdpStatus(status) if status else entry.link.idp_status
        link = replace(
            entry.link,
            idp_id=idp_id,
            login=entry.login,
            idp_status=known,
            profile_hash=plan.profile_hash,
            pending_op=None,
            via=None,
        )
        if entry.stale:  # newer changes came while the session ran: they go their own way now
            return await self.hooks.requeue(user, link, count_attempt=False)
        done = Status.CREATED if result is ReadResult.LINKED else Status.UPDATED
        await self._finish(entry, settled(link, plan), done)

    async def _finish(self, entry: Entry, link: Link, done: Status) -> None:
        activation = _activation(entry.plan, link)
        url = None
        if activation is not None:
            step = Plan(done, (activation,), profile_hash=entry.plan.profile_hash, version=entry.plan.version)
            try:
                applied = await self.hooks.run_plan(step, link, self.idp, entry.policy)
            except ProviderError as exc:  # linked, not activated yet: the queue retries the activation
                partial = exc.partial_link if isinstance(exc.partial_link, Link) else link
                return await self.hooks.requeue(entry.user, partial, count_attempt=True)
            link, url = applied.link, applied.activation_url
        try:
            await self.hooks.finish(entry.user, done, link.idp_id, None, link, url)
        except LinkConflict:  # another identity holds that account: the policy decides, per user
            self._spawn(self.hooks.per_user(entry.user, replace(entry.link, pending_op=None)), entry.user)


def _intent(entry: Entry) -> Link:
    """The link with the create in flight: the per-user path looks the login up before creating."""
    return replace(entry.link, pending_op=PendingOp.CREATE, login=entry.login)


def _activation(plan: Plan, link: Link) -> ActivateUser | None:
    """The activation the plan asked for, if the account still needs one (sessions only create)."""
    if link.idp_id is None or link.idp_status is None or not link.idp_status.activatable:
        return None
    for action in plan.actions:
        if isinstance(action, CreateUser) and (action.activate or action.activate_silently):
            return ActivateUser(link.idp_id, send_email=action.activate)
        if isinstance(action, ActivateUser):
            return replace(action, idp_id=link.idp_id)
    return None
