"""The tables of the in-memory store: one `MemoryState` shared by its three ports, as the SQL
store's parts share one database (adapters/store/schema.py). Rows mirror the SQL columns, so the
memory ports can answer with exactly what the SQL ones answer.

Every port method runs to its end without awaiting anything, so on one event loop each call is
a transaction: nothing else sees it half done. The one call that can fail half way (a link
write refused as a `LinkConflict`) undoes itself (link_table.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from idsync.clock import Clock, SystemClock
from idsync.domain.models import ImportState, Reason, Status
from idsync.domain.records import ImportRecord
from idsync.testing.link_table import LinkTable

__all__ = ["COUNTED", "ChangeRow", "ClaimRow", "ImportRow", "MemoryState"]

COUNTED = tuple(s.value for s in Status)  # every status has a counter on an import
COUNTER_NAMES = ("received", *COUNTED)


@dataclass
class ChangeRow:
    """One received change and, once done, its result (the SQL `changes` table, column by column)."""

    id: int
    user_key: str
    tenant: str
    source: str
    key: str
    op: str
    version: int | None
    import_id: str | None
    message_id: str | None
    lane: int
    payload: str | None
    origin: str
    origin_ref: str | None
    state: str  # pending | paused | inflight | done
    status: str | None
    idp_id: str | None
    reason_code: str | None
    reason_message: str | None
    attempts: int
    not_before: float
    received_at: float
    finished_at: float | None
    published: bool
    activation_url: str | None = None
    line_fp: str | None = None


@dataclass
class ClaimRow:
    """A user being worked on: who holds it and until when."""

    owner: str
    lease_until: float


@dataclass
class ImportRow:
    id: str
    tenant: str
    origin: str
    input_name: str | None
    state: str
    total: int | None
    started_at: float
    updated_at: float
    seq: int  # creation order: the newest first among imports started at the same instant
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    input_cursor: int = 0
    unchanged_unrecorded: int = 0
    input_done: bool = False
    rate: float = 0.0
    finished_at: float | None = None
    api_calls: int = 0

    def record(self) -> ImportRecord:
        return ImportRecord(
            id=self.id,
            tenant=self.tenant,
            origin=self.origin,
            input_name=self.input_name,
            state=ImportState(self.state),
            total=self.total,
            counts=dict(self.counts),
            input_cursor=self.input_cursor,
            input_done=self.input_done,
            rate=self.rate,
            started_at=self.started_at,
            updated_at=self.updated_at,
            finished_at=self.finished_at,
            api_calls=self.api_calls,
        )


class MemoryState:
    """Links, changes, claims and imports, with the clock that stamps them."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.links = LinkTable()
        self.changes: dict[int, ChangeRow] = {}
        self.by_origin_ref: dict[str, int] = {}
        self.claims: dict[str, ClaimRow] = {}
        self.imports: dict[str, ImportRow] = {}
        self._next_change = 1
        self._next_import = 1

    def now(self) -> float:
        return self.clock.time()

    def new_change_id(self) -> int:
        cid = self._next_change
        self._next_change += 1
        return cid

    def new_import_seq(self) -> int:
        seq = self._next_import
        self._next_import += 1
        return seq

    def bump_import(self, import_id: str, counts: Counter[str], now: float) -> None:
        """Add to an import's counters (an unknown import is left alone, as SQL's UPDATE does)."""
        row = self.imports.get(import_id)
        if row is None:
            return
        for name in COUNTER_NAMES:
            row.counts[name] += counts.get(name, 0)
        row.updated_at = now
        self.maybe_complete(import_id, now)

    def cancel(self, rows: list[ChangeRow], reason: Reason | None, now: float) -> None:
        """End unsent changes of a cancelled import as `cancelled`, counted (controls.py in SQL)."""
        why = reason or Reason(code="import_cancelled", message="the import was cancelled")
        by_import: Counter[str] = Counter()
        for c in rows:
            c.state, c.status, c.finished_at, c.published = "done", Status.CANCELLED.value, now, False
            c.reason_code, c.reason_message = why.code, why.message
            if c.import_id:
                by_import[c.import_id] += 1
        for import_id, n in sorted(by_import.items()):
            self.bump_import(import_id, Counter({Status.CANCELLED.value: n}), now)

    def maybe_complete(self, import_id: str, now: float) -> None:
        """An import whose input is all in and whose every change is done is completed."""
        row = self.imports.get(import_id)
        if row is None or not row.input_done or row.state != ImportState.RUNNING.value:
            return
        if row.counts["received"] == sum(row.counts[s] for s in COUNTED):
            row.state = ImportState.COMPLETED.value
            row.finished_at = now
