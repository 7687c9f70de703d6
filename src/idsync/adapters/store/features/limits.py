"""The rate limits the governor learned, per IdP and bucket, so estimates need no IdP call.

Why stored: `idsync plan` and `idsync activate --dry-run` answer "how long will it take?" before
anything is sent. The governor learns each bucket's limit (and window length) from the IdP's
headers during every run; the runtime saves them when it closes and the service every minute.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Integer, String, Table, delete, insert, select

from idsync.adapters.store import schema

if TYPE_CHECKING:
    from idsync.adapters.store.sql import Store

__all__ = [
    "StoredLimit",
    "idp_counters",
    "idp_limits",
    "load_counters",
    "load_limits",
    "save_counters",
    "save_limits",
]

idp_limits = Table(
    "idp_limits",
    schema.metadata,
    Column("idp", String(100), primary_key=True),
    Column("bucket", String(100), primary_key=True),
    Column("limit_per_window", Integer, nullable=False),  # X-Rate-Limit-Limit: our token's ceiling
    Column("window_s", Float),  # None until two consecutive windows were seen
    Column("learned_at", Float, nullable=False),
)

schema.register(
    "limits_0001",
    "idp_limits: rate limits learned per IdP and bucket (estimates without an IdP call)",
    lambda conn: idp_limits.create(conn, checkfirst=True),
)


# Which endpoint is charged to which counter, as the governor learned it from the answers'
# X-Rate-Limit headers (engine/counters.py): the next run starts from it, `idsync doctor` shows it.
idp_counters = Table(
    "idp_counters",
    schema.metadata,
    Column("idp", String(100), primary_key=True),
    Column("endpoint", String(200), primary_key=True),  # e.g. "POST /users/{id}/lifecycle/deactivate"
    Column("counter", String(200), nullable=False),
    Column("learned_at", Float, nullable=False),
)

schema.register(
    "limits_0002",
    "idp_counters: which endpoints share a rate-limit counter, learned from the IdP's headers",
    lambda conn: idp_counters.create(conn, checkfirst=True),
)


@dataclass(frozen=True)
class StoredLimit:
    bucket: str
    limit: int
    window_s: float | None
    learned_at: float


def save_limits(
    store: Store, idp: str, snapshot: Mapping[str, Mapping[str, object]], now: float | None = None
) -> int:
    """Keep what `Governor.snapshot()` learned; a bucket whose window was not measured this time
    keeps the window measured before. Returns the number of buckets saved."""
    now = time.time() if now is None else now
    learned = {
        name: (int(str(b["limit"])), _float(b.get("window_s")))
        for name, b in snapshot.items()
        if isinstance(b.get("limit"), int) and int(str(b["limit"])) > 0
    }
    if not learned:
        return 0
    with store.engine.begin() as conn:
        before = {
            r.bucket: r.window_s
            for r in conn.execute(
                select(idp_limits).where(idp_limits.c.idp == idp, idp_limits.c.bucket.in_(learned))
            )
        }
        conn.execute(delete(idp_limits).where(idp_limits.c.idp == idp, idp_limits.c.bucket.in_(learned)))
        conn.execute(
            insert(idp_limits),
            [
                {
                    "idp": idp,
                    "bucket": name,
                    "limit_per_window": limit,
                    "window_s": window if window is not None else before.get(name),
                    "learned_at": now,
                }
                for name, (limit, window) in learned.items()
            ],
        )
    return len(learned)


def load_limits(store: Store, idp: str) -> dict[str, StoredLimit]:
    with store.engine.begin() as conn:
        rows = conn.execute(select(idp_limits).where(idp_limits.c.idp == idp)).all()
    return {
        r.bucket: StoredLimit(r.bucket, int(r.limit_per_window), r.window_s, float(r.learned_at))
        for r in rows
    }


def save_counters(store: Store, idp: str, placed: Mapping[str, str], now: float | None = None) -> int:
    """Keep the endpoint -> counter placements the governor confirmed in this run."""
    if not placed:
        return 0
    now = time.time() if now is None else now
    with store.engine.begin() as conn:
        conn.execute(
            delete(idp_counters).where(idp_counters.c.idp == idp, idp_counters.c.endpoint.in_(placed))
        )
        conn.execute(
            insert(idp_counters),
            [{"idp": idp, "endpoint": e, "counter": c, "learned_at": now} for e, c in placed.items()],
        )
    return len(placed)


def load_counters(store: Store, idp: str) -> dict[str, tuple[str, float]]:
    """Endpoint -> (counter, when it was learned)."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(idp_counters).where(idp_counters.c.idp == idp)).all()
    return {r.endpoint: (r.counter, float(r.learned_at)) for r in rows}


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None
