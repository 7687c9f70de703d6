"""Runs the synchronous store in worker threads so the event loop never blocks on the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from idsync.adapters.store import Store

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        # SQLite has one writer: one thread keeps its transactions in line. PostgreSQL takes more.
        threads = 1 if store.dialect == "sqlite" else 8
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="idsync-store")

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()
