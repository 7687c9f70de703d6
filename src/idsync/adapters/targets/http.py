"""The application's HTTP callback as the target: one JSON POST per change (`change_message`).

Retried with exponential backoff on connection errors, timeouts, 429 (honouring Retry-After)
and 5xx; a 4xx other than 429 means the application refused the change, which retrying will
not fix. A retried POST carries the same `id`, and the body is the user's full mapped state,
so the application can apply it twice without harm. The answer may name the application's
key for the user (`{"key": "4711"}`); idsync then remembers it in the link.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import httpx

from idsync.adapters.governed import parse_retry_after
from idsync.clock import Clock, SystemClock
from idsync.config.inbound import HttpTargetSettings
from idsync.domain.inbound import AppUser, TargetChange, change_message
from idsync.errors import TargetError

__all__ = ["HttpTarget"]


class HttpTarget:
    readable = False

    def __init__(
        self,
        settings: HttpTargetSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        where: str = "target",
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.where = where
        headers = {"Content-Type": "application/json", "User-Agent": "idsync-inbound/0.1"}
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self._client = httpx.AsyncClient(headers=headers, timeout=settings.timeout_s, transport=transport)

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def find(self, match: Sequence[tuple[str, str]]) -> AppUser | None:
        return None  # write-only: the application matches by e-mail/login itself

    async def get(self, key: str) -> AppUser | None:
        return None

    async def apply(self, change: TargetChange) -> str:
        answer = await self._post(change_message(change, "upsert"))
        key = answer.get("key") if isinstance(answer, dict) else None
        return str(key) if key not in (None, "") else (change.key or change.okta_id)

    async def unlink(self, key: str, okta_id: str) -> None:
        change = TargetChange(integration="", okta_id=okta_id, login="", key=key)
        await self._post({**change_message(change, "unlink"), "integration": None})

    async def _post(self, message: dict[str, Any]) -> Any:
        s = self.settings
        problem = ""
        retry_after: float | None = None
        for attempt in range(s.max_attempts):
            if attempt:
                await self.clock.sleep(self._backoff(attempt, retry_after))
            retry_after = None
            try:
                response = await self._client.post(s.url, json=message)
            except httpx.TransportError as exc:
                problem = type(exc).__name__
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.time())
                continue
            if response.status_code >= 400:
                raise TargetError(
                    f"{self.where}: the application refused the change: HTTP {response.status_code}",
                    retryable=False,
                )
            try:
                return response.json() if response.content else None
            except ValueError:
                return None
        raise TargetError(f"{self.where}: no success after {s.max_attempts} attempts (last: {problem})")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.settings.backoff_max_s)
        base = min(self.settings.backoff_base_s * 2 ** (attempt - 1), self.settings.backoff_max_s)
        return float(base * (0.5 + random.random() / 2))  # jitter: callers that failed together spread out
