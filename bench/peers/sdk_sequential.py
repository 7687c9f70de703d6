"""The seeds' migration script: the official Okta SDK creating one user after the other (not
activated); on a 429 the SDK itself waits until the reset and sends again."""

from __future__ import annotations

import time

from bench.peers.common import PeerResult, body, client, main


async def run(url: str, token: str, users: int) -> PeerResult:
    errors = 0
    async with client(url, token) as okta:  # one aiohttp session for every call
        started = time.monotonic()
        for i in range(users):
            _, _, err = await okta.create_user(body(i), activate=False)
            errors += err is not None
        wall = time.monotonic() - started
    return PeerResult(wall, users - errors, errors)


if __name__ == "__main__":
    main(run, __doc__)
