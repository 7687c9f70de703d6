"""Okta's per-minute rate limits: buckets, per-token ceilings, windows, background load.

Model (FACTS §4, docs/rl2-token-oauth.md):
- A request falls in exactly one bucket (`classify`), chosen like Okta does: exact endpoint
  first, then the longest prefix. Limits default to the Enterprise column of the old
  "Management rate limits" table. Which calls share a counter changed between orgs, as the
  recordings show (`LAYOUTS`, chosen with `rate_limit_layout`):
  - "2025" (the default; CASS test_list_app_links, test_reset_factors,
    test_comprehensive_user_lifecycle, test_application_with_http_info_methods): create, list,
    search, every `POST /users/{id}/lifecycle/*` and the `/users/{id}/…` sub-resources count
    down one counter; `POST|PUT|DELETE /users/{id}` a second; `GET /users/{id}` a third.
    `GET /apps/{id}` has its own counter, apart from `PUT|DELETE /apps/{id}`.
  - "2020" (CASS test_create_get_user, test_update_user_profile, test_activate_deactivate_delete_app):
    `lifecycle/deactivate` counts with `DELETE /users/{id}`, and every method of
    `/apps/{id}` shares one counter.
- Each bucket has a window of 60 s times `time_scale` that opens at the first request after the
  previous one ended (Okta: "not necessarily synchronized with wall clock minutes").
- Each API token may use at most `token_share` of a bucket (Okta default 50%); the org total
  is the bucket limit, and `background_load` of it is used by other applications, spread
  evenly over the window. With `count_rejected`, a request answered 429 is counted too
  (Okta: "after a request has been matched, the counters for the impacted buckets are
  updated", rate-limits.md); Remaining stays 0.
- Headers: `X-Rate-Limit-Limit` is the ceiling applicable to this request (the token's),
  `-Remaining` is what this token can still do, i.e. min(token's rest, org's rest), and `-Reset`
  is the end of the window (epoch seconds; fractional when `time_scale` ≠ 1).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BUCKETS", "LAYOUTS", "Layout", "RateDecision", "RateLimiter", "classify", "format_reset"]

Layout = Literal["2025", "2020"]
LAYOUTS: tuple[Layout, ...] = ("2025", "2020")

BUCKETS: dict[str, tuple[int, str]] = {
    "users": (600, "GET|POST /api/v1/users and /api/v1/users/{id}/* (2020: except lifecycle/deactivate)"),
    "users.id": (600, "POST|PUT|DELETE /api/v1/users/{id} (2020: and lifecycle/deactivate)"),
    "users.get": (1000, "GET /api/v1/users/{idOrLogin}"),
    "apps": (100, "/api/v1/apps and /api/v1/apps/{id}/*"),
    "apps.id": (600, "POST|PUT|DELETE /api/v1/apps/{id} (2020: GET too)"),
    "apps.get": (600, "GET /api/v1/apps/{id} (2025 layout only)"),
    "groups": (600, "/api/v1/groups and /api/v1/groups/{id}/*"),
    "groups.id": (600, "/api/v1/groups/{id}"),
    "logs": (50, "/api/v1/logs"),
    "identitySources": (600, "/api/v1/identity-sources/* (no documented limit: UNVERIFIED)"),
    "api": (600, "every other /api/v1 endpoint"),
}


def classify(method: str, path: str, layout: Layout = "2025") -> str:
    """The bucket of a request (exact matches first, then the longest prefix) in an org's layout."""
    parts = path.rstrip("/").split("/")  # ['', 'api', 'v1', resource, id, ...]
    resource = parts[3] if len(parts) > 3 else ""
    depth = len(parts) - 3
    if resource == "users":
        if depth == 1:
            return "users"
        if depth == 2:
            return "users.get" if method == "GET" else "users.id"
        if layout == "2020" and parts[5:] == ["lifecycle", "deactivate"]:
            return "users.id"
        return "users"
    if resource == "apps" and depth == 2:
        return "apps.get" if method == "GET" and layout == "2025" else "apps.id"
    if resource == "groups" and depth >= 2 and parts[4] == "rules":
        return "groups"  # group rules count with /groups, not /groups/{id} (CASS test_group_rule_operations)
    if resource in ("apps", "groups"):
        return f"{resource}.id" if depth == 2 else resource
    if resource == "logs":
        return "logs"
    if resource == "identity-sources":
        return "identitySources"
    return "api"


def format_reset(reset_at: float, time_scale: float) -> str:
    """Whole epoch seconds at real speed (rounded up, so never before the true reset); with a
    time scale two decimals, rounded up, so a client can pace within sub-second windows."""
    if time_scale == 1.0:
        return str(math.ceil(reset_at))
    return f"{math.ceil(reset_at * 100) / 100:.2f}"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    bucket: str
    limit: int
    """The ceiling reported in `X-Rate-Limit-Limit` (the token's)."""
    remaining: int
    reset_at: float


@dataclass
class _Window:
    bucket: str
    start: float
    end: float
    limit: int
    token_limit: int
    calls: int = 0
    rejected: int = 0
    per_token: dict[str, int] = field(default_factory=dict)

    def as_dict(self, background: int) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "window_start": self.start,
            "window_end": self.end,
            "calls": self.calls,
            "rejected_429": self.rejected,
            "limit": self.limit,
            "token_limit": self.token_limit,
            "background_calls": background,
            "calls_by_token": dict(self.per_token),
        }


class RateLimiter:
    def __init__(
        self,
        limits: Mapping[str, int] | None = None,
        *,
        time_scale: float = 1.0,
        token_share: float = 0.5,
        background_load: float = 0.0,
        count_rejected: bool = False,
        history: int = 50_000,
    ) -> None:
        unknown = set(limits or {}) - set(BUCKETS)
        if unknown:
            raise ValueError(f"unknown rate-limit bucket(s): {', '.join(sorted(unknown))}")
        self.limits = {name: (limits or {}).get(name, default) for name, (default, _) in BUCKETS.items()}
        self.window_s = 60.0 * time_scale
        self.time_scale = time_scale
        self.token_share = token_share
        self.background_load = background_load
        self.count_rejected = count_rejected
        self._current: dict[str, _Window] = {}
        self._closed: deque[dict[str, Any]] = deque(maxlen=history)

    def token_limit(self, bucket: str) -> int:
        return max(1, math.floor(self.limits[bucket] * self.token_share))

    def _background(self, window: _Window, now: float) -> int:
        if not self.background_load:
            return 0
        elapsed = min(1.0, max(0.0, (now - window.start) / self.window_s))
        return math.floor(window.limit * self.background_load * elapsed)

    def _window(self, bucket: str, now: float) -> _Window:
        window = self._current.get(bucket)
        if window is None or now >= window.end:
            if window is not None:
                self._closed.append(window.as_dict(self._background(window, window.end)))
            limit = self.limits[bucket]
            window = _Window(bucket, now, now + self.window_s, limit, self.token_limit(bucket))
            self._current[bucket] = window
        return window

    def check(self, bucket: str, token: str, now: float, *, consume: bool = True) -> RateDecision:
        """Count one request of `token` (if allowed and `consume`) and say what to answer."""
        window = self._window(bucket, now)
        token_used = window.per_token.get(token, 0)
        org_used = window.calls + self._background(window, now)
        token_left = window.token_limit - token_used
        org_left = window.limit - org_used
        if token_left <= 0 or org_left <= 0:
            if consume:
                window.rejected += 1
                if self.count_rejected:
                    window.calls += 1
                    window.per_token[token] = token_used + 1
            return RateDecision(False, bucket, window.token_limit, 0, window.end)
        if consume:
            window.calls += 1
            window.per_token[token] = token_used + 1
            token_left, org_left = token_left - 1, org_left - 1
        return RateDecision(True, bucket, window.token_limit, max(0, min(token_left, org_left)), window.end)

    def charge_rejected(self, bucket: str, token: str | None, now: float) -> None:
        """A request answered 429 before the bucket was checked (a storm, the concurrency cap):
        counted in the bucket only with `count_rejected`, like any request Okta matched."""
        if not self.count_rejected:
            return
        window = self._window(bucket, now)
        window.calls += 1
        window.rejected += 1
        if token is not None:
            window.per_token[token] = window.per_token.get(token, 0) + 1

    def peek(self, bucket: str, now: float) -> RateDecision:
        """Headers for a request that is not counted (e.g. one refused before authentication)."""
        window = self._window(bucket, now)
        org_left = window.limit - window.calls - self._background(window, now)
        return RateDecision(org_left > 0, bucket, window.limit, max(0, org_left), window.end)

    def windows(self, now: float) -> list[dict[str, Any]]:
        """Every window seen, oldest first, the open ones last (for /__emulator/stats)."""
        current = [w.as_dict(self._background(w, min(now, w.end))) for w in self._current.values()]
        return [*self._closed, *sorted(current, key=lambda w: w["window_start"])]

    def totals(self) -> dict[str, int]:
        rejected = sum(w["rejected_429"] for w in self._closed) + sum(
            w.rejected for w in self._current.values()
        )
        calls = sum(w["calls"] for w in self._closed) + sum(w.calls for w in self._current.values())
        return {"calls": calls, "rejected_429": rejected}

    def reset(self) -> None:
        self._current.clear()
        self._closed.clear()
