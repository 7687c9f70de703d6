"""A JSON-lines log of every distinct response shape the emulator served, for spec checks.

Why: the test suite starts emulators in threads, in subprocesses and through the CLI; with
`exchange_log` (or the `IDSYNC_EMULATOR_EXCHANGE_LOG` variable, which subprocesses inherit) each
one appends what it answered to a file of its own in that directory, and the suite validates
them all against Okta's spec at the end. Only one line per *shape* is written (the same
endpoint, status and fields, values aside except enum-like words such as `ACTIVE`), so a test
creating 20,000 users writes a handful of lines. Secrets the emulator hands out (client secrets,
activation and reset tokens) are redacted; types are kept.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["ENV_VAR", "ExchangeLog", "shape_key"]

ENV_VAR = "IDSYNC_EMULATOR_EXCHANGE_LOG"
_REDACTED = frozenset(
    {"client_secret", "activationToken", "activationUrl", "tempPassword", "resetPasswordUrl"}
)
_WORD = re.compile(r"[A-Za-z_]{1,32}")
_counter = 0
_counter_lock = threading.Lock()


def _skeleton(node: Any) -> Any:
    if isinstance(node, dict):
        return tuple(sorted((k, _skeleton(v)) for k, v in node.items()))
    if isinstance(node, list):
        return ("[]", tuple(sorted({repr(_skeleton(v)) for v in node})))
    if isinstance(node, str):
        return node if _WORD.fullmatch(node) else "<str>"
    if isinstance(node, bool) or node is None:
        return node
    return "<num>"


def shape_key(method: str, template: str, status: int, has_body: bool, body: Any) -> str:
    """Equal keys validate alike against a schema: same endpoint, status, fields and types."""
    return repr((method, template, status, has_body, _skeleton(body)))


def _redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: "redacted" if k in _REDACTED and isinstance(v, str) else _redact(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return node


class ExchangeLog:
    """Appends each new response shape to `<directory>/emulator-<pid>-<n>.jsonl` (opened lazily)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self._seen: set[str] = set()
        self._file: IO[str] | None = None

    @classmethod
    def from_settings(
        cls, directory: str | None, environ: dict[str, str] | None = None
    ) -> ExchangeLog | None:
        chosen = directory or (environ if environ is not None else dict(os.environ)).get(ENV_VAR)
        return cls(chosen) if chosen else None

    def record(self, method: str, path: str, template: str, status: int, body: bytes) -> None:
        parsed = json.loads(body) if body else None
        key = shape_key(method, template, status, bool(body), parsed)
        if key in self._seen:
            return
        self._seen.add(key)
        line = {
            "method": method,
            "path": path,
            "template": template,
            "status": status,
            "has_body": bool(body),
            "body": _redact(parsed),
        }
        out = self._open()
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()

    def _open(self) -> IO[str]:
        global _counter
        if self._file is None:
            with _counter_lock:
                _counter += 1
                n = _counter
            self.directory.mkdir(parents=True, exist_ok=True)
            name = self.directory / f"emulator-{os.getpid()}-{n}.jsonl"
            self._file = name.open("a", encoding="utf-8")
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
