"""The servers the conformance suite runs against, behind one small test-side interface.

A `Backend` makes connectors for one real server, reads that server's state *without* the
connector (the Okta emulator's admin API; raw SCIM requests), and injects faults at the server's
boundary (emulator fault settings; the SCIM proxy; the MemoryOrg of idsync.testing). Tests assert
on that state, never on calls.

Adding a connector to the suite = one more Backend here and one more name in conftest.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from idsync.adapters.okta import OktaConnector
from idsync.adapters.okta.oauth import OAuthCredentials
from idsync.adapters.scim import ScimConnector
from idsync.clock import SystemClock
from idsync.config import GovernorSettings
from idsync.emulator.okta.client import EmulatorAdmin
from idsync.emulator.okta.server import EmulatorThread
from idsync.engine.governor import Governor
from idsync.ports import IdentityProvider
from idsync.testing import MemoryIdp, MemoryOrg
from tests.oauth_support import new_key, register_service_app

from .scim_proxy import FaultProxy

# Retries fast, so fault tests take milliseconds, not the production back-off.
FAST = GovernorSettings(backoff_base_s=0.01, backoff_max_s=0.05, max_retries=2, circuit_failures=1000)
_INACTIVE_OKTA = {"STAGED", "DEPROVISIONED", "SUSPENDED"}


@dataclass(frozen=True)
class ServerUser:
    """A user as the server holds it, in neutral terms."""

    id: str
    login: str
    active: bool
    first_name: str | None
    last_name: str | None
    email: str | None
    title: str | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


class Backend(Protocol):
    name: str

    def connector(
        self, *, token: str | None = None, settings: GovernorSettings = FAST
    ) -> IdentityProvider: ...

    def user(self, login: str) -> ServerUser | None: ...

    def logins(self) -> list[str]: ...

    def rate_limit(self, *, for_s: float) -> None:
        """Answer every API request with 429 for `for_s` seconds (the server's way of saying when)."""
        ...

    def rate_limit_forever(self) -> None: ...

    def answers_429(self) -> int: ...

    def fail_with(self, status: int) -> None: ...

    def drop_answers(self) -> None:
        """Carry writes out but never deliver the answer."""
        ...

    def clear_faults(self) -> None: ...


def _governor(name: str, settings: GovernorSettings) -> Governor:
    return Governor(name, settings, SystemClock())


class OktaBackend:
    name = "okta"

    def __init__(self, emulator: EmulatorThread) -> None:
        self.emulator = emulator
        self.admin = EmulatorAdmin(emulator.url)

    def connector(self, *, token: str | None = None, settings: GovernorSettings = FAST) -> IdentityProvider:
        return OktaConnector(
            "okta", self.emulator.url, token or self.emulator.token, _governor("okta", settings)
        )

    def user(self, login: str) -> ServerUser | None:
        found = [u for u in self.admin.users() if u["login"].lower() == login.lower()]
        if not found:
            return None
        u = found[0]
        p = u["profile"]
        return ServerUser(
            u["id"],
            u["login"],
            u["status"] not in _INACTIVE_OKTA,
            p.get("firstName"),
            p.get("lastName"),
            p.get("email"),
            p.get("title"),
            u,
        )

    def logins(self) -> list[str]:
        return sorted(u["login"] for u in self.admin.users())

    def rate_limit(self, *, for_s: float) -> None:
        self.admin.set_faults(storm_every_s=3600.0, storm_duration_s=for_s)

    def rate_limit_forever(self) -> None:
        self.admin.set_faults(storm_every_s=0.2, storm_duration_s=0.2)

    def answers_429(self) -> int:
        return int(self.admin.stats(windows=False)["served_429"]["total"])

    def fail_with(self, status: int) -> None:
        self.admin.set_faults(error_rate=1.0, error_statuses=[status])

    def drop_answers(self) -> None:
        self.admin.set_faults(drop_rate=1.0, drop_applies_write=1.0)

    def clear_faults(self) -> None:
        self.admin.clear_faults()

    def close(self) -> None:
        self.admin.close()


class OktaOAuthBackend(OktaBackend):
    """The same emulator, the connector signing in as a DPoP-bound OAuth 2.0 service app: every
    retry (429, 5xx) needs a fresh DPoP proof, and the token requests must not meet the faults."""

    name = "okta-oauth"

    def __init__(self, emulator: EmulatorThread) -> None:
        super().__init__(emulator)
        self.key = new_key("conformance")
        scopes = ["okta.users.read", "okta.users.manage", "okta.apps.read", "okta.apps.manage"]
        self.scopes = (*scopes, "okta.groups.read")
        self.client_id = register_service_app(
            emulator.url, emulator.token, [self.key], list(self.scopes), dpop=True
        )

    def connector(self, *, token: str | None = None, settings: GovernorSettings = FAST) -> IdentityProvider:
        key = self.key if token is None else new_key("conformance")  # a refused "token": another key
        creds = OAuthCredentials(self.client_id, key.pem, self.scopes, key_id=key.kid)
        return OktaConnector("okta", self.emulator.url, "", _governor("okta", settings), oauth=creds)


class ScimBackend:
    """One tenant (an empty user store) of a scim2-server process, reached through the proxy."""

    def __init__(
        self, name: str, proxy: FaultProxy, tenant: str, token: str, **connector_options: Any
    ) -> None:
        self.name = name
        self.proxy = proxy
        self.tenant = tenant
        self.token = token
        self.url = f"{proxy.root}/{tenant}/v2"
        self.prefix = f"/{tenant}/"
        self.connector_options = connector_options
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def connector(self, *, token: str | None = None, settings: GovernorSettings = FAST) -> ScimConnector:
        return ScimConnector(
            self.name, self.url, token or self.token, _governor(self.name, settings), **self.connector_options
        )

    def _all(self) -> list[dict[str, Any]]:
        r = self._http.get("/Users", params={"count": 1000})
        r.raise_for_status()
        resources: list[dict[str, Any]] = r.json().get("Resources", [])
        return resources

    def user(self, login: str) -> ServerUser | None:
        r = self._http.get("/Users", params={"filter": f"userName eq {json.dumps(login)}"})
        r.raise_for_status()
        found = r.json().get("Resources", [])
        if not found:
            return None
        u = found[0]
        name = u.get("name") or {}
        emails = u.get("emails") or [{}]
        return ServerUser(
            u["id"],
            u["userName"],
            u.get("active") is not False,
            name.get("givenName"),
            name.get("familyName"),
            emails[0].get("value"),
            u.get("title"),
            u,
        )

    def logins(self) -> list[str]:
        return sorted(u["userName"] for u in self._all())

    def _mine(self, method: str, path: str) -> bool:
        return path.startswith(self.prefix)

    def rate_limit(self, *, for_s: float) -> None:
        self.proxy.fail(429, for_s=for_s, headers={"Retry-After": "1"}, match=self._mine)

    def rate_limit_forever(self) -> None:
        self.proxy.fail(429, headers={"Retry-After": "0.2"}, match=self._mine)

    def answers_429(self) -> int:
        return self.proxy.answered(429, self.prefix)

    def fail_with(self, status: int) -> None:
        self.proxy.fail(status, match=self._mine)

    def drop_answers(self) -> None:
        self.proxy.drop(match=self._mine)

    def clear_faults(self) -> None:
        self.proxy.clear()

    def close(self) -> None:
        self._http.close()


class MemoryBackend:
    """A MemoryOrg: its state read directly, its faults set on it (they show at the boundary)."""

    name = "memory"

    def __init__(self) -> None:
        self.org = MemoryOrg(token="memory-test-token")

    def connector(self, *, token: str | None = None, settings: GovernorSettings = FAST) -> IdentityProvider:
        return MemoryIdp(
            "memory",
            self.org,
            token=token or self.org.token,
            max_rate_limit_waits=settings.max_rate_limit_waits,
            max_retries=settings.max_retries,
        )

    def user(self, login: str) -> ServerUser | None:
        account = self.org.user(login)
        if account is None:
            return None
        p = account.profile
        return ServerUser(
            account.id,
            account.login,
            account.status.value not in _INACTIVE_OKTA,
            p.get("firstName"),
            p.get("lastName"),
            p.get("email"),
            p.get("title"),
            {"id": account.id, "status": account.status.value, "profile": dict(p)},
        )

    def logins(self) -> list[str]:
        return self.org.logins()

    def rate_limit(self, *, for_s: float) -> None:
        self.org.rate_limit(for_s=for_s)

    def rate_limit_forever(self) -> None:
        self.org.rate_limit_forever(reset_s=0.2)

    def answers_429(self) -> int:
        return self.org.served_429

    def fail_with(self, status: int) -> None:
        self.org.fail_with(status)

    def drop_answers(self) -> None:
        self.org.drop_answers()

    def clear_faults(self) -> None:
        self.org.clear_faults()


def profile(login: str, **extra: Any) -> dict[str, Any]:
    """The profile the engine sends: Okta's four core attributes, plus extras."""
    first = login.split("@")[0].split(".")[0].title()
    return {"login": login, "email": login, "firstName": first, "lastName": "Tester", **extra}


def wait_until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
