"""A concurrent SDK script: 8 asyncio workers sharing one client of the official Okta SDK, each
creating users from one queue; on a 429 the SDK waits until the reset (`maxRetries`) and sends
again, as it does for the sequential script."""

from __future__ import annotations

import asyncio
import time

from bench.peers.common import PeerResult, body, client, main

WORKERS = 8


async def run(url: str, token: str, users: int, workers: int = WORKERS) -> PeerResult:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(users):
        queue.put_nowait(i)
    errors = 0

    async def worker(okta: object) -> None:
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            _, _, err = await okta.create_user(body(i), activate=False)  # type: ignore[attr-defined]
            errors += err is not None

    async with client(url, token) as okta:
        started = time.monotonic()
        await asyncio.gather(*(worker(okta) for _ in range(workers)))
        wall = time.monotonic() - started
    return PeerResult(wall, users - errors, errors)


if __name__ == "__main__":
    main(run, __doc__)
