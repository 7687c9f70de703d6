"""Counters of what the emulator served, and the optional recording of every exchange.

Why in memory only: these describe this run (for benchmarks and tests); the org itself is what
`--state-file` keeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exchange", "Recorder", "Stats"]


@dataclass
class Stats:
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    """Requests by endpoint (`METHOD /template`) and HTTP status."""
    served_429: dict[str, int] = field(
        default_factory=lambda: {"rate_limit": 0, "concurrency": 0, "storm": 0}
    )
    max_in_flight: int = 0

    def count(self, endpoint: str, status: int) -> None:
        by_status = self.requests.setdefault(endpoint, {})
        key = str(status)
        by_status[key] = by_status.get(key, 0) + 1

    def reset(self) -> None:
        self.requests.clear()
        self.served_429 = dict.fromkeys(self.served_429, 0)
        self.max_in_flight = 0


@dataclass(frozen=True)
class Exchange:
    """One /api/v1 request and its response, as sent (for conformance checks)."""

    method: str
    path: str
    template: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: list[tuple[str, str]]
    response_body: bytes


class Recorder:
    def __init__(self, enabled: bool, limit: int = 200_000) -> None:
        self.enabled = enabled
        self.exchanges: deque[Exchange] = deque(maxlen=limit)

    def record(self, exchange: Exchange) -> None:
        if self.enabled:
            self.exchanges.append(exchange)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "method": e.method,
                "path": e.path,
                "template": e.template,
                "query": e.query,
                "status": e.status,
                "response_headers": e.response_headers,
                "response_body": e.response_body.decode("utf-8", "replace"),
                "request_body": e.request_body.decode("utf-8", "replace"),
            }
            for e in self.exchanges
        ]
