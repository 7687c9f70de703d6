"""Group commit: the writes of many concurrent workers go to the store in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass

from idsync.domain.links import Link
from idsync.domain.records import Finished
from idsync.errors import LinkConflict
from idsync.ports import ChangeQueue

__all__ = ["GroupCommitter"]


class GroupCommitter:
    """Group commit: writes of many concurrent workers go to the store in one transaction.

    A worker awaits its write until the transaction that holds it has committed, so a write-ahead
    intent is durable before the IdP call it announces, and a result is durable before anyone is
    told. Batching turns hundreds of small transactions a second into a few dozen. When the store
    refuses a link (`LinkConflict`: a second identity for one IdP account), the batch is written
    again one entry at a time, so only the writer of that link learns of it. The IdP calls made
    for each import ride along with the next batch (`count_calls`, `flush`).
    """

    def __init__(self, queue: ChangeQueue, *, max_delay_s: float = 0.01, max_batch: int = 500) -> None:
        self._queue = queue
        self._max_delay_s = max_delay_s
        self._max_batch = max_batch
        self._entries: list[_Entry] = []
        self._flusher: asyncio.Task[None] | None = None
        self._full = asyncio.Event()
        self._calls: Counter[str] = Counter()

    def count_calls(self, import_id: str, calls: int) -> None:
        """IdP calls made for an import: written with the next batch."""
        if calls:
            self._calls[import_id] += calls

    async def flush(self) -> None:
        """Write the calls counted since the last batch (when the worker stops)."""
        if self._calls:
            await self._submit([], [])

    async def save_link(self, link: Link) -> None:
        await self._submit([link], [])

    async def finish(self, finished: Finished, link: Link | None = None) -> None:
        await self._submit([link] if link is not None else [], [finished])

    async def _submit(self, links: list[Link], finished: list[Finished]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._entries.append(_Entry(links, finished, fut))
        if len(self._entries) >= self._max_batch:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        while self._entries:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._max_delay_s)
            self._full.clear()
            entries, self._entries = self._entries, []
            try:
                await self._write(entries)
            except LinkConflict:
                for entry in entries:  # find the entry the store refuses; the others go through
                    await self._settle([entry])
                continue
            except BaseException as exc:
                _fail(entries, exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            _done(entries)

    async def _settle(self, entries: list[_Entry]) -> None:
        try:
            await self._write(entries)
        except Exception as exc:
            _fail(entries, exc)
        else:
            _done(entries)

    async def _write(self, entries: list[_Entry]) -> None:
        links = [link for e in entries for link in e.links]
        finished = [f for e in entries for f in e.finished]
        calls, self._calls = self._calls, Counter()
        try:
            await self._queue.write_batch(saved_links=links, finished=finished, api_calls=calls)
        except BaseException:
            self._calls.update(calls)  # counted with a later batch
            raise


@dataclass
class _Entry:
    links: list[Link]
    finished: list[Finished]
    waiter: asyncio.Future[None]


def _done(entries: list[_Entry]) -> None:
    for e in entries:
        if not e.waiter.done():
            e.waiter.set_result(None)


def _fail(entries: list[_Entry], exc: BaseException) -> None:
    for e in entries:  # every waiter learns the batch failed
        if not e.waiter.done():
            e.waiter.set_exception(
                exc if isinstance(exc, Exception) else RuntimeError("store write cancelled")
            )
