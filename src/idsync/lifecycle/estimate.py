"""How long a given number of API calls takes at an IdP's rate limits. Pure: no I/O, no clock.

The governor paces every rate-limit bucket to `budget_share` of the limit the IdP reports for our
token, keeps `interactive_reserve` of that for single-user changes, and spreads the rest evenly
over each window (engine/pacer.py). Buckets are paced independently, so a job lasts as long as
its busiest bucket needs. The same arithmetic as the pacer, so the estimate and the run agree.

Limits come from what the governor learned (stored per IdP and bucket) or, before anything was
learned, from Okta's documented defaults (okta/FACTS.md §4: 600 calls/min for user create/list,
the Enterprise column for the others, and by default one API token may use 50% of a bucket).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CALL_BUCKETS",
    "OKTA_DEFAULT_LIMITS",
    "OKTA_TOKEN_SHARE",
    "BucketEstimate",
    "BucketLimit",
    "Estimate",
    "bucket_calls",
    "bulk_per_window",
    "default_limits",
    "estimate",
    "format_duration",
]

DEFAULT_WINDOW_S = 60.0
OKTA_TOKEN_SHARE = 0.5  # FACTS §4: by default one token may use half of each bucket
# Org-wide per-minute limits (FACTS §4, Enterprise column), under idsync's bucket names
# (adapters/okta/buckets.py): create/list/activate share "users".
OKTA_DEFAULT_LIMITS: dict[str, int] = {
    "users": 600,
    "users/{id}": 600,
    "users/{id}:get": 1000,
    "apps": 100,
    "apps/{id}": 600,
}

# Which bucket each kind of call counts in, per IdP type, in step with the connectors' classifiers.
CALL_BUCKETS: dict[str, dict[str, str]] = {
    "okta": {
        "create": "users",  # POST /users (with ?activate=true when the mode activates: one call)
        "activate": "users",  # POST /users/{id}/lifecycle/activate: counted with create/list
        "update": "users/{id}",
        "deactivate": "users/{id}",
        "delete": "users/{id}",
        "lookup": "users/{id}:get",  # GET /users/{login} before a create whose outcome is unknown
        "get": "users/{id}:get",  # GET /users/{id} before an activation that may have happened
        "list_apps": "apps",
        "create_app": "apps",
        "update_app": "apps/{id}",
    },
    "scim": {
        "create": "write",
        "activate": "write",
        "update": "write",
        "deactivate": "write",
        "delete": "write",
        "lookup": "read",
        "get": "read",
    },
}
CALL_BUCKETS["emulator"] = CALL_BUCKETS["okta"]


@dataclass(frozen=True)
class BucketLimit:
    """Calls per window that the IdP allows our token in one bucket."""

    bucket: str
    limit: int
    window_s: float = DEFAULT_WINDOW_S
    learned_at: float | None = None  # None: a documented default, nothing learned yet


@dataclass(frozen=True)
class BucketEstimate:
    bucket: str
    calls: int
    limit: BucketLimit | None
    per_window: int | None  # bulk calls the governor sends per window
    seconds: float | None  # None: no limit known for this bucket


@dataclass(frozen=True)
class Estimate:
    buckets: tuple[BucketEstimate, ...]
    budget_share: float

    @property
    def calls(self) -> int:
        return sum(b.calls for b in self.buckets)

    @property
    def seconds(self) -> float | None:
        """The busiest bucket's time; None when a bucket with calls has no known limit."""
        if any(b.seconds is None for b in self.buckets if b.calls):
            return None
        return max((b.seconds or 0.0 for b in self.buckets), default=0.0)

    @property
    def uses_defaults(self) -> bool:
        return any(b.limit is not None and b.limit.learned_at is None for b in self.buckets if b.calls)

    @property
    def busiest(self) -> BucketEstimate | None:
        timed = [b for b in self.buckets if b.calls and b.seconds is not None]
        return max(timed, key=lambda b: b.seconds or 0.0) if timed else None


def default_limits(idp_type: str) -> dict[str, BucketLimit]:
    """Okta's documented defaults, as our token's share; other IdPs publish none."""
    if idp_type not in ("okta", "emulator"):
        return {}
    return {
        name: BucketLimit(name, max(int(limit * OKTA_TOKEN_SHARE), 1))
        for name, limit in OKTA_DEFAULT_LIMITS.items()
    }


def bucket_calls(calls: Mapping[str, int], idp_type: str) -> dict[str, int]:
    """Calls by kind ("create", "activate", ...) summed per rate-limit bucket."""
    table = CALL_BUCKETS.get(idp_type, {})
    out: dict[str, int] = {}
    for kind, n in calls.items():
        if n:
            bucket = table.get(kind, kind)
            out[bucket] = out.get(bucket, 0) + n
    return out


def bulk_per_window(limit: int, budget_share: float, interactive_reserve: float) -> int:
    """Bulk calls per window of a long job: the pacer's budget. The reserve it keeps for
    interactive calls is lent to bulk just before each reset when no interactive call used it
    (engine/pacer.py), so a job with no interactive traffic beside it spends the whole budget;
    `interactive_reserve` is kept in the signature for the estimates that name it."""
    del interactive_reserve  # lent back every window (see above)
    return max(int(limit * budget_share), 1)


def estimate(
    calls_by_bucket: Mapping[str, int],
    limits: Mapping[str, BucketLimit],
    *,
    budget_share: float,
    interactive_reserve: float,
) -> Estimate:
    out = []
    for bucket, calls in sorted(calls_by_bucket.items()):
        limit = limits.get(bucket)
        if limit is None:
            out.append(BucketEstimate(bucket, calls, None, None, None))
            continue
        per_window = bulk_per_window(limit.limit, budget_share, interactive_reserve)
        out.append(BucketEstimate(bucket, calls, limit, per_window, calls / per_window * limit.window_s))
    return Estimate(tuple(out), budget_share)


def format_duration(seconds: float | None) -> str:
    """`2 h 05 min`, `4 min 10 s`, `12 s`, `< 1 s`; `unknown` for None."""
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "< 1 s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
