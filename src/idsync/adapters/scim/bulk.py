"""A micro-batcher for SCIM /Bulk (RFC 7644 §3.7).

The engine's worker carries out up to ~32 users at once and calls the connector once per user;
it knows nothing of batching. Writes that arrive within a short window (a few ms) are sent as one
/Bulk request instead, and each caller gets its own operation's result, or its own typed error.

- A batch closes when the window ends, when it holds the server's `maxOperations`, or when the
  next operation would push it past `maxPayloadSize`; an operation too big for any batch is sent
  on its own.
- While a batch of the lane is on its way, the next one keeps filling past its window and goes
  when the first is answered (as Nagle's algorithm does for TCP): under load a batch holds what
  the workers have in hand, so a rate-limited server is asked as few times as possible.
- Batches are kept per lane, and the send runs in the lane of the batch, so interactive work is
  still served first by the governor and is never queued behind a bulk batch.
- `failOnErrors` is not set: the server carries out every operation (RFC 7644 §3.7.3) and one
  user's error stays that user's.

The batcher only groups and dispatches; the connector says how a batch and a lone operation are
sent, and what an operation's result or error is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from idsync.adapters.scim.errors import copy_error
from idsync.domain.models import Lane
from idsync.errors import ProviderError, Unavailable

__all__ = ["BULK_REQUEST", "MicroBatcher", "OpResult", "Operation"]

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_ENVELOPE_BYTES = len(json.dumps({"schemas": [BULK_REQUEST], "Operations": []}))


@dataclass(frozen=True)
class Operation:
    """One write: what a bulk operation carries (method, path relative to the base URL, data)."""

    method: str
    path: str
    data: dict[str, Any] | None = None

    def bulk_entry(self, bulk_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"method": self.method, "path": self.path, "bulkId": bulk_id}
        if self.data is not None:
            entry["data"] = self.data
        return entry

    @property
    def size(self) -> int:
        """Its bytes in a bulk request (with a comma and a bulkId of up to 8 characters)."""
        return len(json.dumps(self.bulk_entry("b0000000"), ensure_ascii=False).encode()) + 1


@dataclass(frozen=True)
class OpResult:
    """A successful operation: its status, the resource's location, and the resource when the
    server returned it (a single request does; a bulk operation usually does not)."""

    status: int
    location: str | None = None
    resource: dict[str, Any] | None = None


# A batch's outcome: for each operation, in order, its result or its error.
BatchSender = Callable[[Sequence[Operation], Lane], Awaitable[list[OpResult | ProviderError]]]
SingleSender = Callable[[Operation, Lane], Awaitable[OpResult]]


@dataclass
class _Batch:
    lane: Lane
    ops: list[Operation] = field(default_factory=list)
    futures: list[asyncio.Future[OpResult]] = field(default_factory=list)
    size: int = _ENVELOPE_BYTES
    timer: asyncio.TimerHandle | None = None
    due: bool = False  # the window ended while the lane's previous batch was on its way


class MicroBatcher:
    def __init__(
        self,
        send_batch: BatchSender,
        send_one: SingleSender,
        *,
        max_operations: int,
        max_payload_bytes: int | None,
        window_s: float = 0.005,
    ) -> None:
        self._send_batch = send_batch
        self._send_one = send_one
        self.max_operations = max(1, max_operations)
        self.max_payload_bytes = max_payload_bytes
        self.window_s = window_s
        self._open: dict[Lane, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending: dict[Lane, int] = {}
        self.batches_sent = 0

    def _fits(self, batch: _Batch, op_size: int) -> bool:
        if len(batch.ops) >= self.max_operations:
            return False
        return self.max_payload_bytes is None or batch.size + op_size <= self.max_payload_bytes

    async def submit(self, op: Operation, lane: Lane) -> OpResult:
        """Send `op` in the next batch of its lane; its own result or error comes back."""
        size = op.size
        if self.max_payload_bytes is not None and _ENVELOPE_BYTES + size > self.max_payload_bytes:
            return await self._send_one(op, lane)  # too big for any bulk request the server accepts
        batch = self._open.get(lane)
        if batch is not None and not self._fits(batch, size):
            self._close(batch)
            batch = None
        if batch is None:
            batch = self._open[lane] = _Batch(lane)
            batch.timer = asyncio.get_running_loop().call_later(self.window_s, self._window_ended, batch)
        future: asyncio.Future[OpResult] = asyncio.get_running_loop().create_future()
        batch.ops.append(op)
        batch.futures.append(future)
        batch.size += size
        if len(batch.ops) >= self.max_operations:
            self._close(batch)
        return await future

    def _window_ended(self, batch: _Batch) -> None:
        if self._sending.get(batch.lane, 0):
            batch.due = True  # goes when the batch on its way is answered
        else:
            self._close(batch)

    def _close(self, batch: _Batch) -> None:
        """Stop filling `batch` and send it (in a task that runs in the batch's lane)."""
        if self._open.get(batch.lane) is not batch:
            return
        del self._open[batch.lane]
        if batch.timer is not None:
            batch.timer.cancel()
        self._sending[batch.lane] = self._sending.get(batch.lane, 0) + 1
        task = asyncio.create_task(self._dispatch(batch), name=f"scim-bulk:{batch.lane.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, batch: _Batch) -> None:
        try:
            await self._deliver(batch)
        finally:
            self._sending[batch.lane] -= 1
            waiting = self._open.get(batch.lane)
            if waiting is not None and waiting.due and not self._sending[batch.lane]:
                self._close(waiting)

    async def _deliver(self, batch: _Batch) -> None:
        try:
            if len(batch.ops) == 1:
                outcomes: list[OpResult | ProviderError] = [await self._one(batch.ops[0], batch.lane)]
            else:
                self.batches_sent += 1
                outcomes = await self._send_batch(batch.ops, batch.lane)
        except ProviderError as exc:  # the whole request failed: every caller gets the error
            outcomes = [copy_error(exc) for _ in batch.ops]
        except BaseException as exc:
            for future in batch.futures:
                if not future.done():
                    future.set_exception(Unavailable(f"bulk request not completed: {exc!r}"))
            raise
        for future, outcome in zip(batch.futures, outcomes, strict=True):
            if future.done():
                continue  # the caller gave up waiting
            if isinstance(outcome, ProviderError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _one(self, op: Operation, lane: Lane) -> OpResult | ProviderError:
        try:
            return await self._send_one(op, lane)
        except ProviderError as exc:
            return exc

    async def aclose(self) -> None:
        """Send what is still waiting and let the batches in flight finish."""
        for batch in list(self._open.values()):
            self._close(batch)
        while self._tasks:  # a batch held back goes when the one before it is answered
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
