"""The records that move between the engine and its stores: a change as received and as queued,
a user claimed with its changes, the outcome of a change, an import's record. Plain values, so
the ports (idsync/ports) can name them and any store (SQL, in memory) can carry them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from idsync.domain.links import Link
from idsync.domain.models import ImportProgress, ImportState, Lane, Reason, Status

__all__ = [
    "ClaimedUser",
    "Finished",
    "ImportRecord",
    "IngestRow",
    "LineMark",
    "Outcome",
    "QueuedChange",
    "Receipt",
    "Received",
    "parse_json_object",
    "received_from_text",
]


@dataclass(frozen=True)
class Received:
    """One message as it came in, before validation."""

    payload: dict[str, Any] | str  # the decoded object, or the reason it could not be decoded
    origin_ref: str | None = None
    raw: str | None = None
    text: str | None = None  # the JSON text, when it was not decoded yet (see `received_from_text`)
    # (tenant, source, key) as the way in names the message (a Kafka key): a message that cannot
    # say who it is about is still answered under that name.
    named: tuple[str, str, str] | None = None


def received_from_text(text: str, origin_ref: str | None = None) -> Received:
    """A JSON message, decoded only if the fast path cannot take it (ingest.to_change)."""
    return _LazyReceived(text, origin_ref)


class _LazyReceived(Received):
    """Decodes the JSON text on first use of `payload`: most lines never need it."""

    def __init__(self, text: str, origin_ref: str | None) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "origin_ref", origin_ref)
        object.__setattr__(self, "raw", text[:2000])

    def __getattr__(self, name: str) -> Any:
        if name == "payload":
            payload = parse_json_object(self.text or "")
            object.__setattr__(self, "payload", payload)
            return payload
        raise AttributeError(name)


def parse_json_object(text: str) -> dict[str, Any] | str:
    """The object in a message, or the reason it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"message: is not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "message: is nested too deeply"
    if not isinstance(value, dict):
        return f"message: must be a JSON object, not {type(value).__name__}"
    return value


@dataclass(frozen=True)
class IngestRow:
    """A received change: valid (with tenant/source/key) or not (then `result` says why)."""

    tenant: str
    source: str
    key: str
    op: str
    lane: Lane
    payload: str
    origin: str
    user_key: str
    version: int | None = None
    import_id: str | None = None
    message_id: str | None = None
    origin_ref: str | None = None
    result_status: Status | None = None  # set: decided at once, no IdP call (stored as done)
    reason: Reason | None = None
    idp_id: str | None = None
    line_fp: str | None = None  # the line's fingerprint (domain/marks.py), kept for the worker


# A link to mark as at rest with a line (domain/marks.py): tenant, source, key, mark.
LineMark = tuple[str, str, str, str]


@dataclass(frozen=True)
class QueuedChange:
    id: int
    op: str
    version: int | None
    payload: str
    import_id: str | None
    message_id: str | None
    lane: Lane
    attempts: int
    origin: str
    line_fp: str | None = None


@dataclass
class ClaimedUser:
    """One user's pending changes, in arrival order, held by one worker under a lease."""

    user_key: str
    tenant: str
    source: str
    key: str
    changes: list[QueuedChange] = field(default_factory=list)
    link: Link | None = None  # read in the claim's transaction

    @property
    def lane(self) -> Lane:
        return min(c.lane for c in self.changes)


@dataclass(frozen=True)
class Outcome:
    change_id: int
    status: Status
    idp_id: str | None = None
    reason: Reason | None = None
    import_id: str | None = None
    activation_url: str | None = None  # only when the tenant sends no activation e-mail


@dataclass(frozen=True)
class Finished:
    """A user's finished changes, for a group commit."""

    user_key: str
    owner: str
    outcomes: list[Outcome]
    release: bool = True
    line_mark: LineMark | None = None  # the link written with it is at rest with this line


@dataclass(frozen=True)
class ImportRecord:
    id: str
    tenant: str
    origin: str
    input_name: str | None
    state: ImportState
    total: int | None
    counts: dict[str, int]
    input_cursor: int
    input_done: bool
    rate: float
    started_at: float
    updated_at: float
    finished_at: float | None
    api_calls: int = 0

    def progress(self) -> ImportProgress:
        """Counts and rate: while running the recent rate (set by whoever runs it), once finished
        the average over the whole import."""
        p = ImportProgress(
            import_id=self.id,
            tenant=self.tenant,
            state=self.state,
            total=self.total,
            rate=self.rate,
            api_calls=self.api_calls,
            **self.counts,
        )
        if self.state is not ImportState.RUNNING and self.finished_at is not None:
            elapsed = self.finished_at - self.started_at
            p.rate = p.done / elapsed if elapsed > 0 else 0.0
        if self.state is ImportState.RUNNING and self.rate > 0:
            remaining = (self.total - p.done) if self.total is not None else p.pending
            p.eta_s = max(remaining, 0) / self.rate
        return p


@dataclass(frozen=True)
class Receipt:
    """What storing a batch of received changes gave: the new change ids in input order (None for
    a redelivered message), and the safety-threshold runs the batch tripped (domain/safety.py)."""

    ids: list[int | None]
    tripped: list[tuple[str, str]] = field(default_factory=list)  # (run id, what it is) per tripped run
