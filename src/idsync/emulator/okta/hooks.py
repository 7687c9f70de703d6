"""Event hooks, the sending side: verification handshake and asynchronous deliveries.

Okta's contract (FACTS §7, EH-CONCEPT): a one-time GET with `x-okta-verification-challenge`
answered by `{"verification": value}`; then POSTs of batched System Log events to ACTIVE and
VERIFIED hooks subscribed to their type, with the configured Authorization header and extra
headers, a 3-second timeout and at most one retry (5xx, timeouts and connection errors are
retried; 4xx are not). Deliveries run in a background task: an API call never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from idsync.emulator.okta.clock import Clock
from idsync.emulator.okta.events import OrgEvent, delivery_payload
from idsync.emulator.okta.ids import IdFactory
from idsync.emulator.okta.models import HookRecord

__all__ = ["HookDispatcher", "hook_headers"]

log = logging.getLogger("idsync.emulator.okta.hooks")


def hook_headers(hook: HookRecord) -> dict[str, str]:
    config = hook.channel.get("config", {})
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    for extra in config.get("headers") or []:
        if isinstance(extra, dict) and extra.get("key"):
            headers[str(extra["key"])] = str(extra.get("value", ""))
    auth = config.get("authScheme")
    if isinstance(auth, dict) and auth.get("key") and auth.get("value") is not None:
        headers[str(auth["key"])] = str(auth["value"])
    return headers


class HookDispatcher:
    """Queue of org events; a background task delivers them to the hooks that want them."""

    def __init__(
        self,
        hooks: Callable[[], list[HookRecord]],
        actor: Callable[[], dict[str, Any]],
        clock: Clock,
        ids: IdFactory,
        *,
        timeout_s: float = 3.0,
        org_url: str | None = None,
    ) -> None:
        self._hooks = hooks
        self._actor = actor
        self._clock = clock
        self._ids = ids
        self.timeout_s = timeout_s
        self.org_url = org_url
        self._queue: asyncio.Queue[tuple[OrgEvent, int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.counts = {"events_queued": 0, "events_done": 0, "delivered": 0, "failed": 0, "attempts": 0}
        """(Event, hook) pairs queued and handled (delivered or given up); deliveries by outcome."""

    # --- EventSink ---------------------------------------------------------------------------

    def emit(self, event: OrgEvent) -> None:
        listeners = sum(1 for h in self._hooks() if self._subscribed(h, event.event_type))
        if not listeners:
            return
        self._ensure_started()
        assert self._queue is not None
        self.counts["events_queued"] += listeners
        self._queue.put_nowait((event, listeners))

    @staticmethod
    def _subscribed(hook: HookRecord, event_type: str) -> bool:
        items = hook.events.get("items") or []
        return hook.status == "ACTIVE" and hook.verification_status == "VERIFIED" and event_type in items

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
        for task in list(self._inflight):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self) -> None:
        """Wait until every queued event has been delivered or has failed (tests, shutdown)."""
        while (self._queue is not None and not self._queue.empty()) or self._inflight:
            await asyncio.sleep(0.01)

    # --- delivery ----------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            queued = [await self._queue.get()]
            while not self._queue.empty():
                queued.append(self._queue.get_nowait())
            hooks = self._hooks()
            for event, listeners in queued:  # listeners that went away meanwhile count as handled
                now_listening = sum(1 for h in hooks if self._subscribed(h, event.event_type))
                self.counts["events_done"] += max(0, listeners - now_listening)
            batch = [event for event, _ in queued]
            for hook in hooks:
                events = [e for e in batch if self._subscribed(hook, e.event_type)]
                if events:
                    task = asyncio.get_running_loop().create_task(self._deliver(hook, events))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)

    async def _deliver(self, hook: HookRecord, events: list[OrgEvent]) -> None:
        org_url = self.org_url or events[0].org_url
        event_id = self._ids.uuid()
        payload = delivery_payload(events, hook.id, org_url, event_id, self._clock.now(), self._actor())
        record: dict[str, Any] = {
            "hook_id": hook.id,
            "event_id": event_id,
            "event_types": [e.event_type for e in events],
            "event_uuids": [e.uuid for e in events],
            "attempts": 0,
            "status": None,
            "error": None,
        }
        uri = str(hook.channel.get("config", {}).get("uri"))
        for _attempt in range(2):
            record["attempts"] += 1
            self.counts["attempts"] += 1
            try:
                response = await self._http().post(uri, json=payload, headers=hook_headers(hook))
            except httpx.HTTPError as exc:
                record["status"], record["error"] = None, f"{type(exc).__name__}: {exc}"
                continue
            record["status"], record["error"] = response.status_code, None
            if response.status_code < 500:
                break
        ok = record["status"] is not None and 200 <= record["status"] < 300
        record["delivered"] = ok
        record["finished_at"] = self._clock.now()
        self.counts["delivered" if ok else "failed"] += 1
        self.counts["events_done"] += len(events)
        self.deliveries.append(record)
        if not ok:
            log.info("event hook %s delivery failed: %s", hook.id, record["error"] or record["status"])

    async def verify(self, hook: HookRecord) -> str | None:
        """Run the verification handshake; None when it succeeded, else why it failed."""
        challenge = self._ids.token(40)
        headers = {**hook_headers(hook), "x-okta-verification-challenge": challenge}
        uri = str(hook.channel.get("config", {}).get("uri"))
        problem = "no answer"
        for _attempt in range(2):
            try:
                response = await self._http().get(uri, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            try:
                answer = response.json()
            except ValueError:
                return f"HTTP {response.status_code}, body is not JSON"
            if (
                response.status_code == 200
                and isinstance(answer, dict)
                and answer.get("verification") == challenge
            ):
                return None
            return f"HTTP {response.status_code}, verification value did not match"
        return problem

    def reset(self) -> None:
        self.deliveries.clear()
        self.counts = dict.fromkeys(self.counts, 0)
