"""Logging of every command: readable lines on stderr, or one JSON object per line for a log
collector (`idsync --log-format json ...` or `IDSYNC_LOG_FORMAT=json`).

A JSON line holds the time, level, logger, message and a traceback if there is one, and nothing
else: never a record's extra attributes (a library could put anything there), so a JSON line
says no more than the text line does, and secrets stay out of both.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["LogFormat", "chosen_format", "setup_logging"]

ENV = "IDSYNC_LOG_FORMAT"
_FIELDS = ("time", "level", "logger", "message", "exc_info", "stack_info")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


_chosen: LogFormat | None = None  # set by `idsync --log-format`


def choose_format(value: LogFormat | None) -> None:
    global _chosen
    _chosen = value


def chosen_format() -> LogFormat:
    """`--log-format`, else IDSYNC_LOG_FORMAT, else text (an unknown value in the environment: text)."""
    if _chosen is not None:
        return _chosen
    value = os.environ.get(ENV, "").strip().lower()
    return LogFormat.json if value == "json" else LogFormat.text


class _OneLineJson(JsonFormatter):
    """python-json-logger with a fixed set of fields."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in log_data.items() if k in _FIELDS}


def json_formatter() -> logging.Formatter:
    return _OneLineJson(
        ["asctime", "levelname", "name", "message"],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def setup_logging(console: Console, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    handler: logging.Handler
    if chosen_format() is LogFormat.json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(json_formatter())
    else:
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
