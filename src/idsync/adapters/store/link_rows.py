"""A link from its row's columns, built without `Link.__init__` (a re-import reads a million)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idsync.domain.links import IdpStatus, Link, PendingOp

__all__ = ["link_from_tuple"]

_STATUSES = {s.value: s for s in IdpStatus}
_PENDING = {p.value: p for p in PendingOp}


def link_from_tuple(t: Sequence[Any]) -> Link:
    """A link from its columns in `LINK_FIELDS` order. Built as its fields' dict at once: a frozen
    dataclass's __init__ sets each of its 15 fields through object.__setattr__, most of the cost
    of reading a million links back on a re-import (Link has no __post_init__ to skip;
    tests/unit/test_link_rows.py checks this against `Link(...)`)."""
    link: Link = _new(Link)
    _set(
        link,
        "__dict__",
        {
            "tenant": t[0],
            "source": t[1],
            "key": t[2],
            "idp": t[3],
            "idp_id": t[4],
            "login": t[5],
            "profile_hash": t[6],
            "idp_status": _STATUSES.get(t[7]) if t[7] else None,
            "version": t[8],
            "pending_op": _PENDING.get(t[9]) if t[9] else None,
            "last_error_code": t[10],
            "last_error_message": t[11],
            "via": (t[12], t[13]) if t[13] is not None else None,
            "sharers": (),
            "handover": False,
        },
    )
    return link


_new = object.__new__
_set = object.__setattr__
