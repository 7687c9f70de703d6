"""Reading import files (CSV or JSONL) as a stream, in constant memory, one record at a time.

A JSONL line is one change message. A CSV row has the columns `key`, `login`, `email`,
`firstName`, `lastName` and optionally `op`, `source`, `version`; any other column becomes a user
attribute. A record that cannot be read (an over-long line, a row with too many cells) is still
yielded, with the problem, so it becomes a `failed` result and never stops the import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idsync.domain.records import Received, received_from_text
from idsync.errors import InputError

MAX_RECORD_BYTES = 1 << 20  # 1 MiB: far above any real user, far below a memory problem
CSV_CORE = ("op", "tenant", "source", "key", "version", "import_id")


@dataclass(frozen=True)
class RawRecord:
    number: int  # 1-based record number in the file (the resume cursor)
    text: str | None = None  # a JSONL line
    data: dict[str, Any] | None = None  # a CSV row turned into a change message
    error: str | None = None


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("rb") as fh:
        head = fh.read(1).lstrip()
    return "jsonl" if head == b"{" else "csv"


def csv_lacks_source(path: Path, fmt: str | None = None) -> bool:
    """A CSV whose header has no `source` column: its rows need `--source` (the link key)."""
    if (fmt or detect_format(path)) != "csv":
        return False
    try:
        with path.open("r", encoding="utf-8", newline="", errors="replace") as fh:
            header = next(csv.reader([fh.readline(MAX_RECORD_BYTES)]), [])
    except OSError:
        return False  # reading it later names the problem
    return "source" not in {h.strip().lstrip("\ufeff") for h in header}


MISSING_SOURCE = (
    "{file}: the CSV has no 'source' column: pass --source NAME, the system the users come from "
    "(e.g. --source app); it is part of each user's link key, so use the same name on every run"
)


def count_records(path: Path, fmt: str) -> int:
    """Number of records, read in 1 MiB blocks (for progress and ETA)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


def read_records(
    path: Path, *, fmt: str | None = None, start_after: int = 0, source: str | None = None
) -> Iterator[RawRecord]:
    fmt = fmt or detect_format(path)
    try:
        # Bytes that are not UTF-8 become lone surrogates; the record is then refused (never
        # replaced: a replaced byte would change a name without anyone noticing).
        fh = path.open("r", encoding="utf-8", newline="", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        if fmt == "jsonl":
            yield from _jsonl(fh, start_after)
        else:
            yield from _csv(fh, start_after, source)


def _bounded_lines(fh: io.TextIOBase) -> Iterator[tuple[str | None, int]]:
    """Lines of at most MAX_RECORD_BYTES characters; a longer one is skipped in chunks (None)."""
    while True:
        line = fh.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_RECORD_BYTES and not line.endswith("\n"):
            size = len(line)
            while True:
                rest = fh.readline(MAX_RECORD_BYTES)
                size += len(rest)
                if not rest or rest.endswith("\n"):
                    break
            yield None, size
            continue
        yield line, len(line)


def _jsonl(fh: io.TextIOBase, start_after: int) -> Iterator[RawRecord]:
    number = 0
    for line, size in _bounded_lines(fh):
        number += 1
        if number <= start_after:
            continue
        if line is None:
            yield RawRecord(
                number, error=f"message: is {size:,} characters long; the limit is {MAX_RECORD_BYTES:,}"
            )
            continue
        text = line.strip()
        if not text:
            yield RawRecord(number, error="message: is an empty line")
            continue
        problem = _not_utf8(text)
        if problem:
            yield RawRecord(number, error=f"message: {problem}")
            continue
        yield RawRecord(number, text=text)


def _csv(fh: io.TextIOBase, start_after: int, source: str | None) -> Iterator[RawRecord]:
    header_line = fh.readline(MAX_RECORD_BYTES)
    if not header_line:
        return
    header = next(csv.reader([header_line]))
    header = [h.strip() for h in header]
    if "key" not in header:
        raise InputError("CSV header must have a 'key' column (the application's id of the user)")
    number = 0
    for line, size in _bounded_lines(fh):
        number += 1
        if number <= start_after:
            continue
        if line is None:
            yield RawRecord(
                number, error=f"row: is {size:,} characters long; the limit is {MAX_RECORD_BYTES:,}"
            )
            continue
        if not line.strip():
            yield RawRecord(number, error="row: is empty")
            continue
        problem = _not_utf8(line)
        if problem:
            yield RawRecord(number, error=f"row: {problem}")
            continue
        try:
            cells = next(csv.reader([line]))
        except csv.Error as exc:
            yield RawRecord(number, error=f"row: is not valid CSV ({exc})")
            continue
        if len(cells) > len(header):
            yield RawRecord(number, error=f"row: has {len(cells)} cells, the header has {len(header)}")
            continue
        yield RawRecord(number, data=_row_to_change(dict(zip(header, cells, strict=False)), source))


def _not_utf8(text: str) -> str | None:
    """Why a line read with `surrogateescape` is not UTF-8 (None when it is)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not UTF-8 (invalid byte at character {exc.start + 1})"
    return None


def _row_to_change(row: dict[str, str], source: str | None) -> dict[str, Any]:
    change: dict[str, Any] = {"op": row.get("op") or "upsert"}
    if source or row.get("source"):
        change["source"] = row.get("source") or source
    for name in ("tenant", "key", "import_id"):
        if row.get(name):
            change[name] = row[name]
    if row.get("version"):
        version = row["version"].strip()
        change["version"] = int(version) if version.isdigit() else version
    user = {k: v for k, v in row.items() if k not in CSV_CORE and v != ""}
    if user:
        change["user"] = user
    return change


def received_from_file(record: RawRecord) -> Received:
    """A record of a file as the ingestor takes it (a line that could not be read is refused there)."""
    if record.error is not None:
        return Received(payload=record.error)
    if record.data is not None:
        return Received(payload=record.data)
    assert record.text is not None
    return received_from_text(record.text)
