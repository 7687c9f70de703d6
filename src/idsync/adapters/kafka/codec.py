"""The Kafka message formats of idsync. Pure: bytes in, values out, and back.

- In (changes topic): the value is one change message (DESIGN.md) as JSON, or a batch: a JSON
  array of them, each element its own change with its own result (`topic:partition:offset:index`).
  The key should be `tenant/source/key` so one user's changes share a partition and stay in
  order; a message that cannot say who it is about is answered under its key. A value
  `{"control": "import_end", "tenant": ..., "import_id": ..., "total": N}` declares that an
  import sent over Kafka has N changes in all: it completes once N were received and done.
  `{"control": "import_start", "tenant": ..., "import_id": ..., "expected": N, "link_existing": true}`
  opens one: `expected` (optional) plays the part of import_end's total, so the import completes
  without an import_end; `link_existing` lists the org's accounts first (docs/migration.md).
- Out (results topic): one `Result` per change, keyed `tenant/source/key`.
- Out (progress topic): `ImportProgress` plus `done`/`pending`, keyed by the import id.
- Out (dead-letter topic): the original key, value and headers, plus the reason as JSON; for an
  element of a batch, that element and its `index`.

Every produced message carries the header `idsync-type` (result, import_progress,
dead_letter), so results and progress may share one topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from idsync.adapters.files import MAX_RECORD_BYTES
from idsync.adapters.kafka.controls import IMPORT_CONTROLS, ImportControlRequest, import_control
from idsync.domain.models import (
    Identifier,
    ImportProgress,
    Reason,
    Result,
    Status,
    describe_validation_error,
)
from idsync.domain.records import Received

TYPE_HEADER = "idsync-type"
# A dead letter carries at most this much of the refused value, so it always fits in a message
# (a 10 MB value would make the dead letter itself too large and stop the partition).
DEAD_LETTER_VALUE_BYTES = 64 * 1024
REF_HEADER = "idsync-ref"
Headers = list[tuple[str, bytes]]


class Record(Protocol):
    """The parts of aiokafka's ConsumerRecord that idsync reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


@dataclass(frozen=True)
class Outgoing:
    key: bytes
    value: bytes
    headers: Headers


class ImportEndMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control: Literal["import_end"]
    tenant: Identifier
    import_id: Identifier
    total: Annotated[StrictInt, Field(ge=0)]


@dataclass(frozen=True)
class ImportEnd:
    """A control message: this import has `total` changes in all."""

    tenant: str
    import_id: str
    total: int


class ImportStartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control: Literal["import_start"]
    tenant: Identifier
    import_id: Identifier
    expected: Annotated[StrictInt, Field(ge=0)] | None = None
    link_existing: bool = False


@dataclass(frozen=True)
class ImportStart:
    """A control message: an import begins; `expected` changes, if it says how many."""

    tenant: str
    import_id: str
    expected: int | None
    link_existing: bool


def record_ref(record: Record) -> str:
    """The change's origin reference: the store drops a redelivered message by it."""
    return f"{record.topic}:{record.partition}:{record.offset}"


def user_message_key(tenant: str, source: str, key: str) -> bytes:
    return f"{tenant}/{source}/{key}".encode()


Decoded = Received | ImportEnd | ImportStart | ImportControlRequest | Reason


@dataclass(frozen=True)
class Item:
    """One message of a Kafka record: the record's value, or one element of a batch."""

    decoded: Decoded
    index: int | None = None  # its place in the batch
    element: str | None = None  # the batch element's JSON: what its dead letter carries


def named_by_key(key: bytes | None) -> tuple[str, str, str] | None:
    """(tenant, source, key) from a Kafka key `tenant/source/key`; another key is the key alone."""
    if not key:
        return None
    text = key[:600].decode("utf-8", "replace")
    parts = text.split("/", 2)
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    return "?", "?", text


def decode(record: Record) -> list[Item]:
    """What a message carries: one change (possibly invalid: the ingestor records why), a control,
    or a bad control; a batch (a JSON array) carries one of these per element, with its index."""
    ref = record_ref(record)
    named = named_by_key(record.key)

    def refused(reason: str) -> list[Item]:
        return [Item(Received(payload=reason, origin_ref=ref, named=named))]

    if record.value is None:
        return refused("message: is empty (a tombstone)")
    if len(record.value) > MAX_RECORD_BYTES:  # as for a line of a file: never decoded
        return refused(f"message: is {len(record.value):,} bytes long; the limit is {MAX_RECORD_BYTES:,}")
    try:
        text = record.value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return refused(f"message: is not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return refused(f"message: is not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return refused("message: is nested too deeply")
    if isinstance(value, dict):
        return [Item(_one(value, ref, named, text[:2000]))]
    if not isinstance(value, list):
        return refused(f"message: must be a JSON object or an array of them, not {type(value).__name__}")
    if not value:
        return refused("message: is an empty batch (a JSON array with no change message)")
    out: list[Item] = []
    for i, element in enumerate(value):
        raw = json.dumps(element, ensure_ascii=False)
        if isinstance(element, dict):
            out.append(Item(_one(element, f"{ref}:{i}", named, raw[:2000]), i, raw))
        else:
            reason = f"message[{i}]: must be a JSON object, not {type(element).__name__}"
            out.append(Item(Received(payload=reason, origin_ref=f"{ref}:{i}", named=named), i, raw))
    return out


def _one(payload: dict[str, Any], ref: str, named: tuple[str, str, str] | None, raw: str) -> Decoded:
    if "control" in payload:
        return _control(payload)
    return Received(payload=payload, origin_ref=ref, raw=raw, named=named)


def _control(payload: dict[str, Any]) -> ImportEnd | ImportStart | ImportControlRequest | Reason:
    kind = payload.get("control")
    if kind in IMPORT_CONTROLS:  # cancel, pause, resume (adapters/kafka/controls.py)
        return import_control(payload)
    if kind not in ("import_end", "import_start"):
        known = ", ".join(["import_start", "import_end", *IMPORT_CONTROLS])
        return Reason(
            code="invalid",
            message=f"control: unknown control {str(kind)[:40]!r}; expected one of {known}",
        )
    try:
        if kind == "import_start":
            start = ImportStartMessage.model_validate(payload)
            return ImportStart(start.tenant, start.import_id, start.expected, start.link_existing)
        end = ImportEndMessage.model_validate(payload)
    except ValidationError as exc:
        text = "; ".join(f"{e.field}: {e.reason}" for e in describe_validation_error(exc))
        return Reason(code="invalid", message=text)
    return ImportEnd(end.tenant, end.import_id, end.total)


def result_message(
    *,
    tenant: str,
    source: str,
    key: str,
    status: str,
    idp_id: str | None,
    reason_code: str | None,
    reason_message: str | None,
    version: int | None,
    import_id: str | None,
    message_id: str | None,
    origin_ref: str | None,
    activation_url: str | None = None,
) -> Outgoing:
    reason = Reason(code=reason_code or "", message=reason_message or "") if reason_code else None
    result = Result(
        status=Status(status),
        idp_id=idp_id,
        reason=reason,
        tenant=tenant,
        source=source,
        key=key,
        version=version,
        import_id=import_id,
        message_id=message_id,
        activation_url=activation_url,
    )
    headers: Headers = [(TYPE_HEADER, b"result")]
    if origin_ref:
        headers.append((REF_HEADER, origin_ref.encode()))
    return Outgoing(
        user_message_key(tenant, source, key), result.model_dump_json(exclude_none=True).encode(), headers
    )


def progress_message(progress: ImportProgress) -> Outgoing:
    body = progress.model_dump(mode="json")
    body["done"], body["pending"] = progress.done, progress.pending
    return Outgoing(
        progress.import_id.encode(),
        json.dumps(body, separators=(",", ":")).encode(),
        [(TYPE_HEADER, b"import_progress")],
    )


def dead_letter_message(record: Record, reason: Reason, item: Item | None = None) -> Outgoing:
    """The refused message (or, for an element of a batch, that element alone) with the reason."""
    index = item.index if item is not None else None
    value = record.value or b""
    if item is not None and item.element is not None:
        value = item.element.encode()
    head = value[:DEAD_LETTER_VALUE_BYTES]
    body: dict[str, object] = {
        "reason": reason.model_dump(),
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key[:1000].decode("utf-8", "replace") if record.key is not None else None,
        "value": head.decode("utf-8", "replace"),
    }
    if index is not None:
        body["index"] = index
    if len(head) < len(value):  # the whole value stays in the changes topic at that offset
        body["value_truncated"] = True
        body["value_bytes"] = len(value)
    headers: Headers = [(str(k), bytes(v)) for k, v in (record.headers or ()) if k != TYPE_HEADER]
    headers += [(TYPE_HEADER, b"dead_letter"), (REF_HEADER, record_ref(record).encode())]
    return Outgoing(record.key or b"", json.dumps(body, separators=(",", ":")).encode(), headers)
