"""The secret scan: every secret the suite configures, and everything the suite logged.

`SecretScan` (one per test session, `SCAN`) collects

- secrets: every `SecretStr` resolved by `idsync.config` while the suite runs (IdP tokens, the API
  token, Kafka passwords, hook secrets, target tokens, passwords inside database URLs), plus the
  ones tests register themselves (tokens handed to subprocesses, OIDC client secrets);
- texts: log records of this process (a handler on the root logger writes them to a file),
  the captured output of every test, `/metrics` pages and error bodies that tests register;
- files: the logs of every subprocess a test started under the session's temp directory.

`leaks()` answers where a secret was found. The emulator (which plays Okta) prints its own token
in its start-up banner by design; that one line shape is the only allowance.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

__all__ = ["SCAN", "Leak", "SecretScan", "secrets_of"]

# Public defaults printed in the docs: not secrets (the embedded emulator's built-in tokens).
PUBLIC = {"idsync-emulator-token", "00idsync-emulator-default-token-do-not-use-in-prod"}
MIN_LENGTH = 8  # shorter values would match ordinary text
LOG_SUFFIXES = {".log", ".txt", ".out", ".err", ".csv"}
# The emulator's start-up banner: `API token: X   (Authorization: SSWS X)` (docs/emulator.md).
_BANNER = re.compile(r"^API token: (\S+)\s+\(Authorization: SSWS \1\)\s*$")


@dataclass(frozen=True)
class Leak:
    secret_hint: str  # the first characters only: the report must not leak it either
    where: str
    excerpt: str


def _hint(secret: str) -> str:
    return f"{secret[:4]}... ({len(secret)} chars)"


def secrets_of(value: Any) -> Iterator[str]:
    """Every secret held in a settings object (any depth), and passwords inside URL settings."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        password = urlsplit(secret).password if "://" in secret else None
        if password:
            yield password
        elif "://" not in secret:
            yield secret
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secrets_of(getattr(value, name, None))
    elif isinstance(value, dict):
        for item in value.values():
            yield from secrets_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secrets_of(item)


@dataclass
class SecretScan:
    # Not in the repr: pytest prints a failing test's fixtures, which would leak every secret.
    secrets: set[str] = field(default_factory=set, repr=False)
    texts: list[tuple[str, str]] = field(default_factory=list, repr=False)
    files: set[Path] = field(default_factory=set)
    roots: set[Path] = field(default_factory=set)  # directories whose log files are all scanned
    log_file: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_secret(self, *values: str) -> None:
        with self._lock:
            for v in values:
                if v and len(v) >= MIN_LENGTH and v not in PUBLIC:
                    self.secrets.add(v)

    def add_text(self, where: str, text: str) -> None:
        if text:
            with self._lock:
                self.texts.append((where, text))

    def add_file(self, path: Path) -> None:
        with self._lock:
            self.files.add(Path(path))

    def log_files(self) -> list[Path]:
        found = set(self.files)
        for root in self.roots:
            if root.exists():
                found.update(p for p in root.rglob("*") if p.is_file() and p.suffix in LOG_SUFFIXES)
        if self.log_file is not None:
            found.add(self.log_file)
        return sorted(p for p in found if p.exists())

    def leaks(self) -> list[Leak]:
        secrets = sorted(self.secrets)
        out: list[Leak] = []
        with self._lock:
            texts = list(self.texts)
        for where, text in texts:
            out.extend(_search(secrets, where, text))
        for path in self.log_files():
            out.extend(_search(secrets, str(path), path.read_text(errors="replace")))
        return out

    def volume(self) -> dict[str, int]:
        """What was scanned: for the report in docs/reliability.md."""
        files = self.log_files()
        return {
            "secrets": len(self.secrets),
            "texts": len(self.texts),
            "text_bytes": sum(len(t) for _, t in self.texts),
            "files": len(files),
            "file_bytes": sum(p.stat().st_size for p in files),
        }


def _search(secrets: Iterable[str], where: str, text: str) -> Iterator[Leak]:
    for secret in secrets:
        start = text.find(secret)
        while start >= 0:
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", start)
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            if not _BANNER.match(line.strip()):
                excerpt = line.replace(secret, "<SECRET>")[:200]
                yield Leak(_hint(secret), where, excerpt)
                break
            start = text.find(secret, start + len(secret))


class FileLogHandler(logging.Handler):
    """Writes every record (message, arguments and traceback) to the session's log file.

    `close()` only flushes: uvicorn's logging set-up (`dictConfig`) closes every handler of the
    process each time a test starts a server, and this one must keep writing. `finish()` closes."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.NOTSET)
        self.path = path
        self._fh = path.open("a", encoding="utf-8", errors="replace")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                text = self.format(record)
            except Exception:  # a record that cannot be formatted: keep its raw parts
                text = f"{record.name}: {record.msg!r} {record.args!r}"
            if self._fh.closed:
                self._fh = self.path.open("a", encoding="utf-8", errors="replace")
            self._fh.write(text + "\n")
            self._fh.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def finish(self) -> None:
        self._fh.close()
        super().close()


SCAN = SecretScan()
