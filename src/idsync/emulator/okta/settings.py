"""Every option of the Okta emulator, as frozen values with units in their names.

Why one frozen object: the CLI, the in-process thread, the subprocess and the tests all build
the same `EmulatorSettings`; a subprocess receives it as JSON (`to_dict`/`from_dict`), so a flag
added here reaches every way of starting the emulator at once.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_TOKEN", "EmulatorSettings", "FaultSettings", "load_settings_file"]

DEFAULT_TOKEN = "00idsync-emulator-default-token-do-not-use-in-prod"
"""The API token accepted when none is given (printed at start; shaped like an Okta token)."""


def _known(cls: type[Any], data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """`data` as a new dict once every key names a field of `cls`; why: a typo must not pass."""
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what}(s): {', '.join(sorted(unknown))}")
    return dict(data)


@dataclass(frozen=True)
class FaultSettings:
    """Injected faults. Rates are fractions of /api/v1 requests (0..1); never applied to /__emulator.

    Durations are real seconds (they meet a client's real timeouts), not scaled by `time_scale`.
    """

    error_rate: float = 0.0
    """Fraction answered with one of `error_statuses` (500 E0000009 / 503 E0000010); nothing written."""
    error_statuses: tuple[int, ...] = (500, 503)
    timeout_rate: float = 0.0
    """Fraction answered only after `timeout_delay_s` (beyond a client's timeout)."""
    timeout_delay_s: float = 30.0
    timeout_applies_write: float = 0.5
    """Among slow answers, fraction whose write is applied (the rest answer 500 and write nothing)."""
    drop_rate: float = 0.0
    """Fraction whose TCP connection is closed without any response."""
    drop_applies_write: float = 0.0
    """Among dropped requests, fraction whose write is applied before the connection is closed."""
    latency_ms: float = 0.0
    """Mean added latency per request."""
    latency_jitter_ms: float = 0.0
    """Standard deviation of the added latency (normal distribution, clipped at 0)."""
    storm_every_s: float = 0.0
    """Period of 429 storms (0 = none); a storm starts at each multiple of the period."""
    storm_duration_s: float = 0.0

    def with_changes(self, changes: Mapping[str, Any]) -> FaultSettings:
        """A copy with `changes` applied; unknown keys raise `ValueError` (a typo must not pass)."""
        values = _known(FaultSettings, changes, "fault setting")
        if "error_statuses" in values:
            values["error_statuses"] = tuple(int(s) for s in values["error_statuses"])
        updated = dataclasses.replace(self, **values)
        updated.validate()
        return updated

    def validate(self) -> None:
        for name in (
            "error_rate",
            "timeout_rate",
            "timeout_applies_write",
            "drop_rate",
            "drop_applies_write",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        for name in (
            "timeout_delay_s",
            "latency_ms",
            "latency_jitter_ms",
            "storm_every_s",
            "storm_duration_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.storm_every_s and self.storm_duration_s > self.storm_every_s:
            raise ValueError("storm_duration_s must not exceed storm_every_s")
        if any(s not in (500, 502, 503, 504) for s in self.error_statuses) or not self.error_statuses:
            raise ValueError("error_statuses must be a non-empty subset of 500, 502, 503, 504")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        return data


@dataclass(frozen=True)
class EmulatorSettings:
    """Options of the Okta emulator (see docs/emulator.md for each one and its default's source)."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    token: str = DEFAULT_TOKEN
    """The API token this org accepts (`Authorization: SSWS <token>`)."""
    extra_tokens: tuple[str, ...] = ()
    """More accepted tokens, e.g. for "other applications" sharing the org's buckets."""
    org_url: str | None = None
    """Base of every link in bodies and headers; None means the server's own http://host:port."""
    time_scale: float = 1.0
    """Length of a rate-limit minute in minutes: 0.01 makes a minute last 0.6 s."""
    token_share: float = 0.5
    """Ceiling of each token as a fraction of each bucket (Okta's default 50%)."""
    limits: Mapping[str, int] = field(default_factory=dict)
    """Per-minute limit overrides by bucket name (see ratelimit.BUCKETS)."""
    concurrency_limit: int = 75
    """Simultaneous /api/v1 requests; one more is answered 429 with Limit and Remaining 0 (Okta: 75)."""
    background_load: float = 0.0
    """Fraction of every org bucket used by other applications, spread over each window."""
    rate_limit_layout: Literal["2025", "2020"] = "2025"
    """Which calls share a counter, as recorded from a 2025 or a 2020 org (see ratelimit.LAYOUTS)."""
    count_rejected_429: bool = False
    """Count requests answered 429 in their bucket too (Remaining stays 0 until the reset)."""
    faults: FaultSettings = field(default_factory=FaultSettings)
    """Injected faults; a mapping of `FaultSettings` fields is accepted too."""
    seed: int | None = None
    """Seed of the fault dice and generated ids: the same seed replays the same faults."""
    state_file: str | None = None
    """SQLite file keeping the org across restarts; None keeps everything in memory."""
    record_exchanges: bool = False
    """Keep every /api/v1 request and response (for the OpenAPI conformance tests)."""
    search_lag_s: float = 0.0
    """User lists (`search`, `filter`, `q`, plain) show each user as it was this long ago (Okta's
    search is eventually consistent, "typically < 1 s"); GET by id or login is immediate."""
    lifecycle_delay_s: float = 0.0
    """0: lifecycle calls take effect at once. Otherwise deactivation (and DELETE with
    `Prefer: respond-async`) answers at once with `transitioningToStatus` set and lands this
    long after; activation answers only after this long, and the user shows
    `transitioningToStatus` meanwhile (updates get 409 E0000112)."""
    exchange_log: str | None = None
    """Directory where every distinct /api/v1 response shape is appended as a JSON line, secrets
    redacted (for the test suite's spec check); the IDSYNC_EMULATOR_EXCHANGE_LOG variable sets it too."""
    hook_timeout_s: float = 3.0
    activation_url_style: Literal["identity_engine", "classic"] = "identity_engine"
    session_lifetime_s: float = 7200.0
    """Okta session (`sid` cookie) ends this long after its last use (default global session policy: 2 h)."""
    session_max_lifetime_s: float = 0.0
    """...and at the latest this long after the sign-in; 0 means no limit (Okta's default)."""
    log_level: str = "warning"
    identity_sources: bool = True
    """The org has Okta's Identity Source Apps feature; off: 403 on /api/v1/identity-sources/*."""
    identity_source_users_per_minute: float = 2000.0
    """Import processing rate of each identity source (guide: 10,000 users per 5 minutes)."""
    identity_source_activate: bool = False
    """Users an identity source import creates are activated (else STAGED)."""
    identity_source_error_rate: float = 0.0
    """Fraction of triggered sessions that end in ERROR with nothing imported."""

    def __post_init__(self) -> None:
        if isinstance(self.faults, Mapping):  # accept plain data, e.g. faults={"drop_rate": 0.1}
            object.__setattr__(self, "faults", FaultSettings().with_changes(self.faults))
        object.__setattr__(self, "extra_tokens", tuple(self.extra_tokens))
        object.__setattr__(self, "limits", {str(k): int(v) for k, v in self.limits.items()})
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not 0 < self.token_share <= 1:
            raise ValueError("token_share must be within (0, 1]")
        if not 0 <= self.background_load < 1:
            raise ValueError("background_load must be within [0, 1)")
        object.__setattr__(self, "rate_limit_layout", str(self.rate_limit_layout))  # TOML may give 2025
        if self.rate_limit_layout not in ("2025", "2020"):
            raise ValueError(f"rate_limit_layout must be 2025 or 2020, got {self.rate_limit_layout!r}")
        if self.search_lag_s < 0 or self.lifecycle_delay_s < 0:
            raise ValueError("search_lag_s and lifecycle_delay_s must not be negative")
        if self.concurrency_limit < 1:
            raise ValueError("concurrency_limit must be at least 1")
        if not self.token:
            raise ValueError("token must not be empty")
        if self.session_lifetime_s <= 0 or self.session_max_lifetime_s < 0:
            raise ValueError("session_lifetime_s must be positive and session_max_lifetime_s not negative")
        if self.identity_source_users_per_minute <= 0:
            raise ValueError("identity_source_users_per_minute must be positive")
        if not 0 <= self.identity_source_error_rate <= 1:
            raise ValueError("identity_source_error_rate must be within 0..1")
        for name, limit in self.limits.items():
            if limit < 1:
                raise ValueError(f"limit of bucket {name!r} must be at least 1")
        self.faults.validate()

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.token, *self.extra_tokens)

    def replace(self, **changes: Any) -> EmulatorSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["extra_tokens"] = list(self.extra_tokens)
        data["limits"] = dict(self.limits)
        data["faults"] = self.faults.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorSettings:
        """Build from plain data (JSON/TOML); unknown keys raise `ValueError`."""
        values = _known(cls, data, "setting")
        if "faults" in values:
            values["faults"] = FaultSettings().with_changes(values["faults"])
        if "extra_tokens" in values:
            values["extra_tokens"] = tuple(values["extra_tokens"])
        if "limits" in values:
            values["limits"] = {str(k): int(v) for k, v in values["limits"].items()}
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def load_settings_file(path: str | Path) -> dict[str, Any]:
    """Read settings (any subset, e.g. only `limits`) from a `.json` or `.toml` file."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data: Any = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected an object/table at the top level")
    return data
