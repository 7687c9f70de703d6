"""Identifiers shaped like Okta's (`00u…` users, `00g…` groups, `0oa…` apps, `who…` hooks).

Why a factory object: with a seed the ids are reproducible in tests; the state still checks for
collisions, because a seeded sequence restarts after a restart of a persistent emulator.
"""

from __future__ import annotations

import random
import string

__all__ = ["IdFactory"]

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        self._rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()

    def _chars(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def object_id(self, prefix: str) -> str:
        """A 20-character id starting with `prefix` (Okta's ids are 20 characters)."""
        return prefix + self._chars(20 - len(prefix))

    def request_id(self) -> str:
        """Like `X0f5LC30n5ak4VN@XaI0yAAABd8` (observed `X-Okta-Request-Id`)."""
        return self._chars(15) + "@" + self._chars(11)

    def error_id(self) -> str:
        """Like `oaeMzddieo5QvW8lOZVv0uV6w` (observed `errorId`)."""
        return "oae" + self._chars(22, _URLSAFE)

    def token(self, length: int = 20) -> str:
        return self._chars(length)

    def secret(self) -> str:
        """A 40-character OAuth client secret."""
        return self._chars(40, _URLSAFE)

    def uuid(self) -> str:
        hexes = "".join(self._rng.choice("0123456789abcdef") for _ in range(32))
        return f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-a{hexes[17:20]}-{hexes[20:]}"
