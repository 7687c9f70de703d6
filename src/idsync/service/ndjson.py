"""NDJSON from an HTTP body, one record at a time, in constant memory.

The same records as a JSONL file (`idsync.adapters.files`): each line is one record numbered
from 1 (the resume cursor); an empty line or one over `MAX_RECORD_BYTES` is a record with the
problem, so it becomes a `failed` result and never stops the import. An over-long line is
skipped as it streams by, never held.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from idsync.adapters.files import MAX_RECORD_BYTES, RawRecord


def _record(number: int, line: bytes | None, size: int) -> RawRecord:
    if line is None:
        return RawRecord(number, error=f"message: is {size:,} bytes long; the limit is {MAX_RECORD_BYTES:,}")
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError as exc:  # never guess: a replaced byte would change a name silently
        return RawRecord(number, error=f"message: is not UTF-8 ({exc.reason} at byte {exc.start})")
    if not text:
        return RawRecord(number, error="message: is an empty line")
    return RawRecord(number, text=text)


async def ndjson_records(chunks: AsyncIterable[bytes], *, start_after: int = 0) -> AsyncIterator[RawRecord]:
    buf = bytearray()
    skipping = 0  # > 0: bytes of an over-long line being skipped
    number = 0
    async for chunk in chunks:
        start = 0
        while start <= len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if skipping:
                skipping += len(piece)
            else:
                buf += piece
                if len(buf) > MAX_RECORD_BYTES:
                    skipping = len(buf)
                    buf.clear()
            if end < 0:
                break
            number += 1
            if number > start_after:
                yield _record(number, None if skipping else bytes(buf), skipping)
            buf.clear()
            skipping = 0
            start = end + 1
    if buf or skipping:
        number += 1
        if number > start_after:
            yield _record(number, None if skipping else bytes(buf), skipping)
