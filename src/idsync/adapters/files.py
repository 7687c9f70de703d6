"""Reading import files (CSV or JSONL) as a stream, in constant memory, one record at a time.

A JSONL line is one change message. A CSV row has the columns `key`, `login`, `email`,
`firstName`, `lastName` and optionally `op`, `source`, `version`; any other column becomes a user
attribute (adapters/csv_records.py: delimiter, quoted line breaks). Files are UTF-8 (a BOM is
accepted) unless `--encoding` names another encoding; a file whose first 64 KiB are not UTF-8 is
refused before anything is stored, naming `--encoding`. A record that cannot be read (an over-long
line, a row with too many cells, a stray byte that is not UTF-8) is still yielded, with the
problem, so it becomes a `failed` result and never stops the import.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idsync.adapters.csv_records import DELIMITERS, csv_header, csv_rows, row_to_change
from idsync.domain.records import Received, received_from_text
from idsync.errors import InputError

MAX_RECORD_BYTES = 1 << 20  # 1 MiB: far above any real user, far below a memory problem
SAMPLE_BYTES = 64 * 1024  # what is read to tell a file in another encoding before any import
_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileOptions:
    """How to read a file's text: its encoding (None: UTF-8, with or without a BOM) and, for a
    CSV, its delimiter (None: detected from the header)."""

    encoding: str | None = None
    delimiter: str | None = None

    def checked(self) -> FileOptions:
        """The options with their names normalised; an InputError names the option that is wrong."""
        encoding = self.encoding
        if encoding is not None:
            try:
                encoding = codecs.lookup(encoding).name
            except LookupError:
                raise InputError(
                    f"--encoding: {self.encoding!r} is not an encoding Python knows "
                    "(e.g. utf-8, cp1252, latin-1, utf-16)"
                ) from None
        delimiter = self.delimiter
        if delimiter is not None:
            delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(delimiter, delimiter)
            if len(delimiter) != 1 or delimiter in '"\r\n' or delimiter.isalnum():
                raise InputError(
                    f"--delimiter: {self.delimiter!r} is not one character that can separate cells "
                    f"(e.g. {', '.join(repr(d) for d in DELIMITERS[:2])} or 'tab')"
                )
        return FileOptions(encoding, delimiter)

    @property
    def codec(self) -> str:
        """The codec to open the file with: UTF-8 drops a leading BOM."""
        return "utf-8-sig" if self.encoding in (None, "utf-8") else str(self.encoding)

    @property
    def label(self) -> str:
        return "UTF-8" if self.encoding in (None, "utf-8") else str(self.encoding)


@dataclass(frozen=True)
class RawRecord:
    number: int  # 1-based record number in the file (the resume cursor)
    text: str | None = None  # a JSONL line
    data: dict[str, Any] | None = None  # a CSV row turned into a change message
    error: str | None = None


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head[:1] == b"{" else "csv"


def _open(path: Path, options: FileOptions) -> io.TextIOWrapper:
    # Bytes the encoding cannot read become lone surrogates; the record is then refused (never
    # replaced: a replaced byte would change a name without anyone noticing).
    try:
        return path.open("r", encoding=options.codec, newline="", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def check_encoding(path: Path, options: FileOptions = FileOptions()) -> None:
    """Refuse a file whose first 64 KiB are not in the encoding it is read with (an Excel export
    in Windows-1252, say), naming `--encoding`; a stray byte further on fails only its record."""
    try:
        with path.open("rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        codecs.getincrementaldecoder(options.codec)("strict").decode(sample, final=False)
    except UnicodeDecodeError as exc:
        line = sample.count(b"\n", 0, exc.start) + 1
        byte = sample[exc.start : exc.start + 1].hex()
        if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            hint = "it starts with a UTF-16 byte order mark (Excel's 'Unicode Text'): pass --encoding utf-16"
        elif options.encoding in (None, "utf-8"):
            hint = (
                "pass --encoding with the encoding it was saved in, e.g. --encoding cp1252 (Excel's "
                "'CSV' on Windows) or --encoding latin-1"
            )
        else:
            hint = "pass --encoding with the encoding it was saved in"
        raise InputError(
            f"{path}: is not {options.label} (byte 0x{byte} at line {line} cannot be read): {hint}"
        ) from None


def csv_lacks_source(path: Path, fmt: str | None = None, options: FileOptions = FileOptions()) -> bool:
    """A CSV whose header has no `source` column: its rows need `--source` (the link key)."""
    if (fmt or detect_format(path)) != "csv":
        return False
    try:
        with _open(path, options) as fh:
            header, _ = csv_header(fh, options.delimiter, MAX_RECORD_BYTES)
    except (OSError, InputError, UnicodeError):
        return False  # reading it later names the problem
    return "source" not in header


MISSING_SOURCE = (
    "{file}: the CSV has no 'source' column: pass --source NAME, the system the users come from "
    "(e.g. --source app); it is part of each user's link key, so use the same name on every run"
)


def count_records(path: Path, fmt: str, options: FileOptions = FileOptions()) -> int:
    """Number of records, read in 1 MiB blocks (for progress and ETA). In a CSV a line break
    inside quotes does not end a record (quotes are counted: exact for well-formed quoting)."""
    decoder = codecs.getincrementaldecoder(options.codec)("replace")
    lines = 0
    quoted = False
    last = "\n"
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            text = decoder.decode(block, final=not block)
            if text:
                last = text[-1]
            if fmt == "csv":
                parts = text.split('"')
                lines += sum(p.count("\n") for p in parts[(1 if quoted else 0) :: 2])
                quoted ^= (len(parts) - 1) % 2 == 1
            else:
                lines += text.count("\n")
            if not block:
                break
    if last != "\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


def read_records(
    path: Path,
    *,
    fmt: str | None = None,
    start_after: int = 0,
    source: str | None = None,
    options: FileOptions = FileOptions(),
) -> Iterator[RawRecord]:
    fmt = fmt or detect_format(path)
    with _open(path, options) as fh:
        if fmt == "jsonl":
            yield from _jsonl(fh, start_after, options)
            return

        def not_decoded(text: str, where: str) -> str | None:
            return _undecoded(text, options, where)

        rows = csv_rows(
            fh,
            start_after=start_after,
            delimiter=options.delimiter,
            limit=MAX_RECORD_BYTES,
            not_decoded=not_decoded,
        )
        for number, row, problem in rows:
            if row is None:
                yield RawRecord(number, error=problem)
            else:
                yield RawRecord(number, data=row_to_change(row, source))


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


def _jsonl(fh: io.TextIOBase, start_after: int, options: FileOptions) -> Iterator[RawRecord]:
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
        problem = None if text.isascii() else _undecoded(text, options)  # ASCII: nothing undecoded
        if problem:
            yield RawRecord(number, error=f"message: {problem}")
            continue
        yield RawRecord(number, text=text)


def _undecoded(text: str, options: FileOptions, where: str = "") -> str | None:
    """Why text read with `surrogateescape` holds bytes its encoding could not read (None: none)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        hint = "; if the file is in another encoding, pass --encoding" if options.encoding is None else ""
        return f"is not {options.label} (invalid byte at character {exc.start + 1}{where}){hint}"
    return None


def received_from_file(record: RawRecord) -> Received:
    """A record of a file as the ingestor takes it (a line that could not be read is refused there)."""
    if record.error is not None:
        return Received(payload=record.error)
    if record.data is not None:
        return Received(payload=record.data)
    assert record.text is not None
    return received_from_text(record.text)
