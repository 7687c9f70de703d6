"""The pure parts of the transports: Kafka message decoding/encoding, NDJSON from chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from idsync.adapters.files import MAX_RECORD_BYTES
from idsync.adapters.kafka.codec import (
    ImportEnd,
    ImportStart,
    dead_letter_message,
    decode,
    progress_message,
    result_message,
)
from idsync.domain.models import ImportProgress, ImportState, Reason
from idsync.domain.records import Received
from idsync.service.ndjson import ndjson_records


@dataclass
class Rec:
    value: bytes | None
    key: bytes | None = b"t/app/1"
    topic: str = "changes"
    partition: int = 2
    offset: int = 41
    headers: Any = ()


def decode_one(record: Rec) -> object:
    """The one message a record that is not a batch carries."""
    (item,) = decode(record)
    assert item.index is None and item.element is None
    return item.decoded


def test_a_change_is_decoded_with_its_origin_reference() -> None:
    got = decode_one(Rec(json.dumps({"tenant": "t", "op": "delete", "source": "app", "key": "1"}).encode()))
    assert isinstance(got, Received) and got.origin_ref == "changes:2:41"
    assert isinstance(got.payload, dict) and got.payload["op"] == "delete"


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, "tombstone"), (b"\xff\xfe", "UTF-8"), (b"{nope", "not valid JSON"), (b"7", "JSON object")],
)
def test_undecodable_values_carry_the_reason(value: bytes | None, problem: str) -> None:
    got = decode_one(Rec(value))
    assert isinstance(got, Received) and isinstance(got.payload, str) and problem in got.payload


def test_import_end_controls() -> None:
    end = {"control": "import_end", "tenant": "t", "import_id": "imp-1", "total": 3}
    assert decode_one(Rec(json.dumps(end).encode())) == ImportEnd("t", "imp-1", 3)
    bad = decode_one(Rec(json.dumps({**end, "total": -1}).encode()))
    assert isinstance(bad, Reason) and "total" in bad.message
    unknown = decode_one(Rec(b'{"control": "reboot"}'))
    assert isinstance(unknown, Reason) and "reboot" in unknown.message


def test_a_batch_is_one_change_per_element_each_with_its_own_reference() -> None:
    changes = [{"tenant": "t", "op": "delete", "source": "app", "key": str(i)} for i in range(2)]
    start = {"control": "import_start", "tenant": "t", "import_id": "imp-b", "expected": 2}
    items = decode(Rec(json.dumps([start, *changes, 42]).encode(), key=b"t/app/batch"))
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert items[0].decoded == ImportStart("t", "imp-b", 2, False)
    first, second, bad = (i.decoded for i in items[1:])
    assert isinstance(first, Received) and isinstance(second, Received) and isinstance(bad, Received)
    assert (first.origin_ref, second.origin_ref, bad.origin_ref) == (
        "changes:2:41:1",
        "changes:2:41:2",
        "changes:2:41:3",
    )
    assert isinstance(second.payload, dict) and second.payload["key"] == "1"
    assert bad.payload == "message[3]: must be a JSON object, not int"
    # The dead letter of an element carries that element alone, its index, and the record's place.
    dead = dead_letter_message(
        Rec(b"[...]", key=b"t/app/batch"), Reason(code="invalid", message="x"), items[3]
    )
    body = json.loads(dead.value)
    assert (body["value"], body["index"], body["offset"]) == ("42", 3, 41)
    assert ("idsync-ref", b"changes:2:41") in dead.headers


def test_a_message_that_cannot_say_who_it_is_about_is_named_by_its_kafka_key() -> None:
    named = decode_one(Rec(b"{nope", key=b"t/app/4711"))
    assert isinstance(named, Received) and named.named == ("t", "app", "4711")
    odd = decode_one(Rec(b"[]", key=b"just-a-key"))
    assert isinstance(odd, Received) and odd.named == ("?", "?", "just-a-key")
    assert odd.payload == "message: is an empty batch (a JSON array with no change message)"
    assert decode_one(Rec(b"{nope", key=None)).named is None  # type: ignore[attr-defined]


def test_outgoing_messages() -> None:
    out = result_message(
        tenant="t", source="app", key="1", status="failed", idp_id=None, reason_code="invalid",
        reason_message="user.email: is not a valid e-mail address", version=3, import_id=None,
        message_id="m-1", origin_ref="changes:0:5",
    )  # fmt: skip
    assert out.key == b"t/app/1" and ("idsync-ref", b"changes:0:5") in out.headers
    assert json.loads(out.value) == {
        "status": "failed",
        "reason": {"code": "invalid", "message": "user.email: is not a valid e-mail address"},
        "tenant": "t",
        "source": "app",
        "key": "1",
        "version": 3,
        "message_id": "m-1",
    }
    progress = progress_message(
        ImportProgress(import_id="imp", tenant="t", state=ImportState.RUNNING, received=5, created=2)
    )
    body = json.loads(progress.value)
    assert (progress.key, body["done"], body["pending"]) == (b"imp", 2, 3)
    dead = dead_letter_message(
        Rec(b"{nope", headers=[("trace", b"abc")]), Reason(code="invalid", message="x")
    )
    assert json.loads(dead.value)["value"] == "{nope" and ("trace", b"abc") in dead.headers


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def _records(*parts: bytes, start_after: int = 0) -> list[tuple[int, str | None, str | None]]:
    return [
        (r.number, r.text, r.error) async for r in ndjson_records(_chunks(*parts), start_after=start_after)
    ]


async def test_ndjson_lines_across_chunks_and_without_final_newline() -> None:
    assert await _records(b'{"a"', b":1}\n\n{", b'"b":2}') == [
        (1, '{"a":1}', None),
        (2, None, "message: is an empty line"),
        (3, '{"b":2}', None),
    ]
    assert await _records(b"{}\n{}\n{}\n", start_after=2) == [(3, "{}", None)]


async def test_an_over_long_line_is_skipped_without_holding_it() -> None:
    big = b"x" * (MAX_RECORD_BYTES // 2)
    got = await _records(b"{}\n", big, big, big, b"\n{}\n")
    assert [(n, t) for n, t, _ in got] == [(1, "{}"), (2, None), (3, "{}")]
    assert "limit" in (got[1][2] or "")
