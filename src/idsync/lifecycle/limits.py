"""The limits an estimate uses: live from a running governor, else stored, else documented defaults.

`Runtime.remember_limits` saves what the governors learned (when a runtime closes, and every
minute in the service), so a later `idsync plan` or dry run uses this org's real numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from idsync.adapters.store.features.limits import load_limits
from idsync.adapters.store.sql import Store
from idsync.config import Settings
from idsync.engine.governor import Governor
from idsync.lifecycle.estimate import (
    DEFAULT_WINDOW_S,
    BucketLimit,
    Estimate,
    bucket_calls,
    default_limits,
    estimate,
)

__all__ = ["LimitSet", "estimate_calls", "known_limits"]

log = logging.getLogger("idsync.lifecycle.limits")


@dataclass(frozen=True)
class LimitSet:
    idp: str
    idp_type: str
    limits: dict[str, BucketLimit]
    budget_share: float
    interactive_reserve: float


def known_limits(store: Store, settings: Settings, idp: str, *, live: Governor | None = None) -> LimitSet:
    idp_settings = settings.idps[idp]
    limits = default_limits(idp_settings.type)
    for name, stored in load_limits(store, idp).items():
        window_s = stored.window_s or limits.get(name, BucketLimit(name, 0)).window_s
        limits[name] = BucketLimit(name, stored.limit, window_s, stored.learned_at)
    if live is not None:
        for name, b in live.snapshot().items():
            limit = b.get("limit")
            if isinstance(limit, int) and limit > 0:
                learned = b.get("window_s")
                known = limits.get(name)
                live_window = (
                    float(learned)
                    if isinstance(learned, int | float) and learned > 0
                    else (known.window_s if known is not None else DEFAULT_WINDOW_S)
                )
                limits[name] = BucketLimit(name, limit, live_window, live.clock.time())
    gov = idp_settings.governor
    return LimitSet(idp, idp_settings.type, limits, gov.budget_share, gov.interactive_reserve)


def estimate_calls(calls_by_kind: Mapping[str, int], limit_set: LimitSet) -> Estimate:
    return estimate(
        bucket_calls(calls_by_kind, limit_set.idp_type),
        limit_set.limits,
        budget_share=limit_set.budget_share,
        interactive_reserve=limit_set.interactive_reserve,
    )
