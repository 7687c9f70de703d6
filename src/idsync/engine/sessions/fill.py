"""Filling a session: open one when Okta allows it, upload the waiting users in uploads of up to
200 (and 200 KB), start the import when the session is full or no user came for a while.

Write-ahead: an upload's users (and their links' create intents) are stored before the upload is
sent. An upload whose answer is lost is never sent again: the session may hold it or not, so it
is deleted (CLOSED, its data dropped) and its users go into a new one. A session that cannot be
opened because a CREATED one exists (a run that died before storing its id) has that one deleted:
idsync assumes it alone drives the source (docs/migration.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from idsync.clock import Clock
from idsync.domain.links import PendingOp
from idsync.domain.sessions import EntryKind, SessionRecord, SessionState
from idsync.engine.sessions.model import Entry, Flight, Open, SessionOptions
from idsync.errors import InvalidRequest, ProviderError, SourceUnavailable, UnknownOutcome
from idsync.ports import ImportSessions, SessionStore

__all__ = ["Filler"]

log = logging.getLogger("idsync.sessions")
# Uploads sent to one session at once: the first session's fill is the one a migration waits for
# (Okta processes nothing meanwhile), 50 uploads one after another cost 50 round trips.
UPLOADS_AT_ONCE = 8


class Filler:
    def __init__(
        self,
        sessions: ImportSessions,
        store: SessionStore,
        clock: Clock,
        options: SessionOptions,
        *,
        disable: Callable[[SourceUnavailable], None],
        per_user: Callable[[list[Entry]], None],
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.options = options
        self.idp = sessions.name
        self.waiting: list[Entry] = []
        self.open: Open | None = None
        self.next_open_at = 0.0
        self.last_offer_at = 0.0
        self.last_opened: str | None = None  # the session this run opened last
        # In a step, users may be held by nothing but the step itself (an upload under way, a
        # session being deleted): the pipeline is busy then, though `waiting` and `open` are empty.
        self.stepping = False
        self._disable = disable
        self._per_user = per_user  # entries the IdP refused in an upload
        self.uploads_limit = min(options.uploads_per_session, sessions.max_uploads)

    def give_back(self, entries: list[Entry]) -> None:
        """Entries back to the front of `waiting` (they go into the next session first)."""
        self.waiting[:0] = entries

    def empty(self) -> bool:
        """No user waits for a session, none is being filled."""
        return not (self.waiting or self.open)

    def in_hand(self) -> list[Entry]:
        """The users of the session being filled, then those waiting for one."""
        return [*(self.open.entries if self.open is not None else ()), *self.waiting]

    def wanted(self) -> int:
        """Users still to take: the open session's free places (its uploads go before a user for the
        next session is taken, which would slow the fill Okta waits for), else a session's worth."""
        cap = self.options.max_waiting
        if self.open is not None:
            cap = min(cap, (self.uploads_limit - self.open.uploads) * self.sessions.max_profiles)
        return cap - len(self.waiting)

    def hungry(self) -> bool:
        """Users came within the last second and more are wanted."""
        return self.clock.time() - self.last_offer_at < 1.0 and self.wanted() > 0

    def filling(self) -> bool:
        """A session is open with users still to upload into it."""
        return self.open is not None and self.open.uploads < self.uploads_limit and bool(self.waiting)

    @property
    def quiet(self) -> bool:
        return self.clock.time() - self.last_offer_at >= self.options.fill_wait_s

    async def step(self) -> Flight | None:
        """Open, fill and start as far as possible now; the started session, if any."""
        self.stepping = True
        try:
            return await self._step()
        finally:
            self.stepping = False

    async def _step(self) -> Flight | None:
        if self.open is None:
            if not self.waiting or self.clock.time() < self.next_open_at:
                return None
            self.open = await self._open()
            if self.open is None:
                return None
        current = self.open
        # A partial upload only when no more users are coming for now, or the session filled long enough.
        flush = self.quiet or self.clock.time() - current.opened_at >= self.options.max_fill_s
        while current.uploads < self.uploads_limit and self.waiting:
            batch: list[list[Entry]] = []
            while len(batch) < UPLOADS_AT_ONCE and current.uploads + len(batch) < self.uploads_limit:
                chunk = self._chunk(partial=flush)
                if not chunk:
                    break
                batch.append(chunk)
            if not batch:
                break
            if not await self._upload_all(current, batch):
                return None
        full = current.uploads >= self.uploads_limit
        if current.entries and (full or (flush and not self.waiting)):
            return await self._start(current)
        if not current.entries and not self.waiting and flush:  # every upload refused: nothing to start
            await self.scrap()
        return None

    def _chunk(self, *, partial: bool) -> list[Entry]:
        """The next upload: up to `max_profiles` users and `max_bytes`; a partial one only if asked."""
        size, n = 0, 0
        for entry in self.waiting:
            add = self.sessions.upload_size(entry.external_id, entry.source)
            if n >= self.sessions.max_profiles or size + add > self.sessions.max_bytes:
                break
            size += add
            n += 1
        if n == 0 and self.waiting:
            n = 1  # one profile larger than an upload: the IdP refuses it and the user goes per-user
        full = n >= self.sessions.max_profiles or n < len(self.waiting)
        if not full and not partial:
            return []
        chunk, self.waiting[:n] = self.waiting[:n], []
        return chunk

    async def _open(self) -> Open | None:
        now = self.clock.time()
        try:
            session = await self.sessions.create_session()
        except SourceUnavailable as exc:
            self._disable(exc)
            return None
        except InvalidRequest:
            # One CREATED session per source, none within 5 minutes of an active one.
            await self._clear_created()
            return None
        except ProviderError as exc:
            log.warning("%s: cannot open an import session (%s); trying again", self.idp, exc.message)
            self.next_open_at = now + self.options.poll_s
            return None
        record = SessionRecord(
            self.idp, session.id, self.sessions.source_id, SessionState.FILLING, session.created
        )
        await self.store.save_session(record)
        self.last_opened = session.id
        log.info("%s: opened import session %s", self.idp, session.id)
        return Open(record, opened_at=self.clock.time())  # after the answer: not before Okta's

    async def _clear_created(self) -> None:
        """A CREATED session we are not filling blocks the source: delete it. Else the five-minute
        rule holds: try again after a poll."""
        try:
            listed = await self.sessions.list_sessions()
        except ProviderError as exc:
            log.warning("%s: cannot list import sessions: %s", self.idp, exc.message)
            listed = []
        created = [s for s in listed if s.status == "CREATED"]
        for s in created:
            log.warning("%s: deleting import session %s left CREATED by an earlier run", self.idp, s.id)
            await self._delete(s.id)
            await self.store.abandon(self.idp, s.id, never_started=True)
        self.next_open_at = self.clock.time() + (0.0 if created else self.options.poll_s)

    async def _delete(self, session_id: str) -> None:
        try:
            await self.sessions.delete_session(session_id)
        except ProviderError as exc:  # it expires after 24 h unused; never started, it imports nothing
            log.warning("%s: could not delete import session %s: %s", self.idp, session_id, exc.message)

    async def _upload_all(self, current: Open, batch: list[list[Entry]]) -> bool:
        """Send a batch of uploads at once; then settle each in order. A failed one scraps the
        session only after every upload of the batch has its answer (none is left behind)."""
        first = current.uploads + 1
        answers = await asyncio.gather(
            *(self._send(current, chunk, first + i) for i, chunk in enumerate(batch))
        )
        failed: list[tuple[list[Entry], int, ProviderError]] = []
        for i, (chunk, exc) in enumerate(zip(batch, answers, strict=True)):
            if exc is None:
                current.uploads += 1
                current.entries.extend(chunk)
            else:
                failed.append((chunk, first + i, exc))
        left = [entry for chunk, _, _ in failed for entry in chunk]
        hard = [f for f in failed if not isinstance(f[2], InvalidRequest)]
        if hard:  # the session may hold an upload, or the source is refused: start again
            _, number, exc = hard[0]
            self._give_up(current, number, exc)
            await self.scrap(left)
            return False
        for n, (chunk, _, exc) in enumerate(failed):  # 400s only
            assert isinstance(exc, InvalidRequest)
            if not await self._refused(current, chunk, exc):
                self.give_back([entry for rest, _, _ in failed[n + 1 :] for entry in rest])
                return False
        return True

    async def _send(self, current: Open, chunk: list[Entry], number: int) -> ProviderError | None:
        """One upload, written ahead with its users' create intents; its error, if any."""
        sid = current.record.id
        intents = [
            replace(e.link, pending_op=PendingOp.CREATE, login=e.login)
            for e in chunk
            if e.kind is EntryKind.CREATE
        ]
        await self.store.add_upload(self.idp, [e.stored(sid, number) for e in chunk], intents)
        try:
            await self.sessions.upload(sid, [(e.external_id, e.source) for e in chunk])
        except ProviderError as exc:
            return exc
        return None

    def _give_up(self, current: Open, number: int, exc: ProviderError) -> None:
        if isinstance(exc, SourceUnavailable):
            self._disable(exc)
            return
        kind = "no answer" if isinstance(exc, UnknownOutcome) else exc.message
        log.warning(
            "%s: upload %d of session %s failed (%s): the session is deleted and its users go into a new one",
            self.idp,
            number,
            current.record.id,
            kind,
        )
        self.next_open_at = self.clock.time() + self.options.poll_s

    async def _refused(self, current: Open, chunk: list[Entry], exc: InvalidRequest) -> bool:
        """400: the body (a profile Okta will not take), or a session that takes no more uploads."""
        try:
            state = await self.sessions.get_session(current.record.id)
        except ProviderError:
            state = None
        if state is not None and state.status == "CREATED":
            log.info("%s: an upload was refused (%s); its users go the per-user way", self.idp, exc.message)
            await self.store.forget(current.record.id, [e.user.user_key for e in chunk])
            self._per_user(chunk)
            return True
        await self.scrap(chunk)
        return False

    async def scrap(self, extra: list[Entry] | None = None) -> None:
        """Delete the open session (never started: it imports nothing); its users wait again."""
        current, self.open = self.open, None
        self.give_back([*(current.entries if current is not None else ()), *(extra or ())])
        if current is not None:  # its users wait again first: none is unaccounted for meanwhile
            await self._delete(current.record.id)
            await self.store.abandon(self.idp, current.record.id, never_started=True)

    async def _start(self, current: Open) -> Flight | None:
        sid = current.record.id
        try:
            session = await self.sessions.start_import(sid)
        except SourceUnavailable as exc:
            self._disable(exc)
            await self.scrap()
            return None
        except ProviderError as exc:  # an answer lost: read the session before anything else
            try:
                read = await self.sessions.get_session(sid)
            except ProviderError:
                read = None
            if read is None or read.status == "CREATED":
                log.warning("%s: start of session %s failed (%s); trying again", self.idp, sid, exc.message)
                return None
            session = read
        now = self.clock.time()
        # When Okta took the start (a session read later may be COMPLETED: its lastUpdated is the end).
        started = session.last_updated if session.status == "TRIGGERED" and session.last_updated else None
        record = replace(
            current.record,
            state=SessionState.TRIGGERED,
            uploads=current.uploads,
            triggered_at=now,
            started=started,
        )
        await self.store.save_session(record)
        self.open = None
        # Okta counts its five minutes from the last session's creation: the next one opens (and
        # fills while this one is processed) then. A 400 means the rule still holds: poll again.
        self.next_open_at = current.opened_at + self.options.session_gap_s
        log.info(
            "%s: started import session %s with %d users (%s)",
            self.idp,
            sid,
            len(current.entries),
            session.status,
        )
        return Flight(record, {e.user.user_key: e for e in current.entries})
