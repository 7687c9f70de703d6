"""Identifiers shaped like Okta's (`00u…` users, `00g…` groups, `0oa…` apps, `who…` hooks).

Why a factory object: with a seed the ids are reproducible in tests; the state still checks for
collisions, because a seeded sequence restarts after a restart of a persistent emulator.
"""

from __future__ import annotations

import os
import random
import secrets
import string

__all__ = ["IdFactory"]

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        # Not a secrets generator on purpose: ids are not credentials, and this runs on every request.
        self._rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(16), "big"))
        self._seeded = seed is not None

    def _chars(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self._rng.choices(alphabet, k=n))

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
        """Activation tokens, temporary passwords: unpredictable unless the emulator is seeded."""
        if self._seeded:
            return self._chars(length)
        return "".join(secrets.choice(_ALNUM) for _ in range(length))

    def secret(self) -> str:
        """A 40-character OAuth client secret (unpredictable unless seeded)."""
        if self._seeded:
            return self._chars(40, _URLSAFE)
        return "".join(secrets.choice(_URLSAFE) for _ in range(40))

    def uuid(self) -> str:
        hexes = self._chars(32, "0123456789abcdef")
        return f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-a{hexes[17:20]}-{hexes[20:]}"
