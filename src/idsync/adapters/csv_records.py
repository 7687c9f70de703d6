"""CSV as people export it, read as a stream: one record at a time, in constant memory.

The csv module reads the text stream itself, so a quoted cell with a line break (an address typed
with Alt+Enter in Excel) stays one record, and CRLF line ends are taken as they come. The
delimiter is the one of `,` `;` tab that the header uses most (a German Excel "CSV UTF-8" export
uses `;`), unless `--delimiter` names it. Not `csv.Sniffer`: it gives up on exactly such an
export (a quoted cell with a line break) and guesses `doublequote=False` when it does answer.

A record that cannot be read (over the size limit, not valid CSV, more cells than the header) is
still yielded, with the problem, so it becomes a `failed` result and never stops the import.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from idsync.errors import InputError

__all__ = ["CSV_CORE", "DELIMITERS", "csv_header", "csv_rows", "detect_delimiter", "row_to_change"]

CSV_CORE = ("op", "tenant", "source", "key", "version", "import_id")
DELIMITERS = (",", ";", "\t")
Decoded = Callable[[str, str], str | None]  # (text, where it is) -> why it is not decoded


class _TooLong(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class _Lines:
    """The physical lines of a text stream for csv.reader, each record held to `limit` characters:
    a longer record raises `_TooLong` (the reader starts afresh with the next line)."""

    def __init__(self, fh: io.TextIOBase, limit: int) -> None:
        self._fh = fh
        self._limit = limit
        self.record_chars = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._fh.readline(self._limit + 1)
        if not line:
            raise StopIteration
        self.record_chars += len(line)
        if len(line) > self._limit and not line.endswith("\n"):
            while rest := self._fh.readline(self._limit):  # skip the rest of it, a chunk at a time
                self.record_chars += len(rest)
                if rest.endswith("\n"):
                    break
        if self.record_chars > self._limit:
            size, self.record_chars = self.record_chars, 0
            raise _TooLong(size)
        return line


def detect_delimiter(header_line: str) -> str:
    """The candidate the header uses most outside quotes (`,` when it uses none: one column)."""
    outside = "".join(header_line.split('"')[::2])
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip()


def csv_header(fh: io.TextIOBase, delimiter: str | None, limit: int) -> tuple[list[str], str]:
    """(column names, delimiter): the header is the first line; it may carry a BOM and spaces."""
    first = fh.readline(limit)
    if not first:
        return [], delimiter or ","
    chosen = delimiter or detect_delimiter(first)
    header = next(csv.reader([first], delimiter=chosen), [])
    return [_clean(h) for h in header], chosen


def csv_rows(
    fh: io.TextIOBase, *, start_after: int, delimiter: str | None, limit: int, not_decoded: Decoded
) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """(record number, row, problem) per record after `start_after` (numbers count the records
    after the header: the resume cursor). `not_decoded(text, where)` says why a cell holds bytes the
    encoding could not read (None when it holds none)."""
    header, chosen = csv_header(fh, delimiter, limit)
    if not header:
        return
    if "key" not in header:
        shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        name = "tab" if chosen == "\t" else repr(chosen)
        raise InputError(
            f"CSV header must have a 'key' column (the application's id of the user); read with the "
            f"delimiter {name}, its columns are {shown}: if the file uses another delimiter, pass "
            f"--delimiter (',', ';' or 'tab')"
        )
    lines = _Lines(fh, limit)
    reader = csv.reader(lines, delimiter=chosen, strict=True)
    for number in itertools.count(1):
        lines.record_chars = 0
        row: dict[str, str] | None = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _TooLong as exc:
            problem: str | None = f"row: is {exc.size:,} characters long; the limit is {limit:,}"
        except csv.Error as exc:
            problem = f"row: is not valid CSV ({exc})"
        else:
            row, problem = _row(cells, header, not_decoded)
        if number > start_after:
            yield number, row, problem


def _row(
    cells: list[str], header: list[str], not_decoded: Decoded
) -> tuple[dict[str, str] | None, str | None]:
    joined = "".join(cells)
    if not joined.strip():
        return None, "row: is empty"
    if len(cells) > len(header):
        return None, f"row: has {len(cells)} cells, the header has {len(header)}"
    if not_decoded(joined, "") is not None:  # once per row; the cell is looked for only then
        for name, cell in zip(header, cells, strict=False):
            problem = not_decoded(cell, f" of column {name!r}")
            if problem:
                return None, f"row: {problem}"
    return dict(zip(header, cells, strict=False)), None


def row_to_change(row: dict[str, str], source: str | None) -> dict[str, Any]:
    """A CSV row as a change message: the core columns, every other column a user attribute."""
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
