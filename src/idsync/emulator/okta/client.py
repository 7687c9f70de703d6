"""A small synchronous client of the admin endpoints, for tests, benchmarks and the demo."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["EmulatorAdmin"]


class EmulatorAdmin:
    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.url}/__emulator", timeout=timeout_s)

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Any = None) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/health")
        return result

    def stats(self, *, windows: bool = True, since: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/stats", windows=None if windows else "false", since=since)
        return result

    def reset(self) -> None:
        self._post("/reset")

    def outbox(self, *, user_id: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/outbox", user_id=user_id, to=to)
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/faults")
        return result

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault settings (any `FaultSettings` field, plus `seed`); returns the new ones."""
        result: dict[str, Any] = self._post("/faults", changes)
        return result

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(
            error_rate=0.0,
            timeout_rate=0.0,
            drop_rate=0.0,
            latency_ms=0.0,
            latency_jitter_ms=0.0,
            storm_every_s=0.0,
            storm_duration_s=0.0,
        )

    def users(self, *, status: str | None = None, login: str | None = None) -> list[dict[str, Any]]:
        """Every user, deprovisioned ones included: id, login, status, profile, activation_emails."""
        result: list[dict[str, Any]] = self._get("/users", status=status, login=login)
        return result

    def seed_users(
        self,
        count: int,
        *,
        status: str = "ACTIVE",
        prefix: str = "user",
        domain: str = "example.com",
        start: int = 0,
    ) -> int:
        """Create `count` users directly (no rate limit, no events): `prefix{i}@domain`."""
        spec = {
            "generate": {"count": count, "status": status, "prefix": prefix, "domain": domain, "start": start}
        }
        return int(self._post("/users", spec)["created"])

    def complete_activation(self, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/users/{user_id}/complete-activation")
        return result

    def create_identity_source(self, name: str, *, match_by_login: bool = False) -> str:
        """Make a Custom Identity Source (Okta: in the Admin Console); returns its id."""
        return str(self._post("/identity-sources", {"name": name, "matchByLogin": match_by_login})["id"])

    def identity_source(self, source_id: str) -> dict[str, Any]:
        """A source's externalId → user id links and its sessions (counts, failures, times)."""
        result: dict[str, Any] = self._get(f"/identity-sources/{source_id}")
        return result

    def hook_deliveries(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/hooks")
        return result

    def exchanges(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/exchanges")
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
