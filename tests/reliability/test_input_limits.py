"""Fast checks of the fixes the bad-input corpus led to (the corpus itself is test_bad_input.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from idsync.adapters.files import MAX_RECORD_BYTES, read_records
from idsync.adapters.kafka.codec import DEAD_LETTER_VALUE_BYTES, dead_letter_message, decode
from idsync.domain.models import ChangeMessage, Reason, validation_reason
from idsync.domain.records import Received
from idsync.engine.ingest import Defaults, to_change
from idsync.service.ndjson import ndjson_records
from tests.reliability.corpus import valid


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def test_a_kafka_message_over_the_record_limit_is_refused_and_its_dead_letter_fits() -> None:
    big = _Record("changes", 0, 7, b"t/app/1", b"x" * (10 * 1024 * 1024), [])
    (item,) = decode(big)
    decoded = item.decoded
    assert isinstance(decoded, Received) and isinstance(decoded.payload, str)
    assert decoded.payload == f"message: is 10,485,760 bytes long; the limit is {MAX_RECORD_BYTES:,}"
    dead = dead_letter_message(big, Reason(code="invalid", message=decoded.payload))
    body = json.loads(dead.value)
    assert len(dead.value) < 1_000_000  # Kafka's default message limit
    assert len(body["value"]) == DEAD_LETTER_VALUE_BYTES and body["value_truncated"] is True
    assert body["value_bytes"] == 10 * 1024 * 1024 and body["offset"] == 7
    # Control characters escape to six characters each in JSON: still within the limit.
    controls = _Record("changes", 0, 8, None, b"\x01" * MAX_RECORD_BYTES, [])
    assert len(dead_letter_message(controls, Reason(code="invalid", message="x")).value) < 1_000_000


def test_a_version_beyond_64_bits_is_refused_naming_the_field() -> None:
    message = valid(1)
    ChangeMessage.model_validate({**message, "version": 2**63 - 1})
    with pytest.raises(ValidationError) as exc:
        ChangeMessage.model_validate({**message, "version": 2**63})
    assert validation_reason(exc.value).message.startswith("version: ")


async def test_ndjson_bytes_that_are_not_utf8_are_refused() -> None:
    good = json.dumps(valid(1)).encode()

    async def body():  # type: ignore[no-untyped-def]
        yield good + b"\n" + good.replace(b"Ann", b"\xc5nn") + b"\n" + good + b"\n"

    records = [r async for r in ndjson_records(body())]
    assert [r.error is None for r in records] == [True, False, True]
    assert records[1].error is not None and records[1].error.startswith("message: is not UTF-8")


def test_file_lines_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    good = json.dumps(valid(1)).encode()
    path = tmp_path / "u.jsonl"
    path.write_bytes(good + b"\n" + good.replace(b"Ann", b"\xc5nn") + b"\n" + good + b"\n")
    records = list(read_records(path))
    assert [r.error is None for r in records] == [True, False, True]
    assert records[1].error is not None and "is not UTF-8" in records[1].error
    csv = tmp_path / "u.csv"
    csv.write_bytes(b"key,login,email,firstName,lastName\n1,a@example.com,a@example.com,\xc5nn,Lee\n")
    (row,) = read_records(csv, source="app")
    assert row.error is not None and row.error.startswith("row: is not UTF-8")


def test_a_malformed_import_id_in_an_import_line_is_refused() -> None:
    defaults = Defaults(origin="http", tenant="t", import_id="imp")
    refused = to_change(Received(payload={**valid(1), "import_id": {}}), defaults)
    assert isinstance(refused, Reason) and refused.message.startswith("import_id: ")
    accepted = to_change(Received(payload=valid(1)), defaults)
    assert isinstance(accepted, ChangeMessage) and accepted.import_id == "imp"
