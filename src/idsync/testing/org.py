"""An Okta org in memory: the accounts, the e-mails Okta would have sent, and the faults the org
shows at its boundary. `MemoryIdp` (idp.py) is the connector that talks to it; tests read the
org's state directly, never through the connector under test.

The rules are Okta's as the emulator and okta/FACTS.md describe them: logins unique as Okta
compares them (case and diacritics aside, domain/text.login_key); statuses STAGED, PROVISIONED
(activated without a password), ACTIVE (once the user followed the activation link and set a
password: `follow_activation`), DEPROVISIONED; activation only from STAGED or DEPROVISIONED; a
DELETE deactivates a user that is not DEPROVISIONED yet and deletes one that is; the base
profile (login, email, firstName, lastName) required, the login in the form of an e-mail address.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from idsync.clock import Clock, SystemClock
from idsync.domain.links import IdpStatus
from idsync.domain.text import login_key
from idsync.errors import Conflict, IllegalTransition, InvalidRequest, NotFound
from idsync.ports import IdpUser

__all__ = ["Account", "Email", "Fault", "MemoryOrg"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WRONG_STATUS = "Okta 403 E0000038: This operation is not allowed in the user's current status."
_ID_PREFIX = "00umem"  # then 14 digits: 20 characters, like Okta's user ids
_REQUIRED = {"login": 100, "email": 100, "firstName": 50, "lastName": 50}  # name -> max length


@dataclass
class Account:
    id: str
    profile: dict[str, Any]
    status: IdpStatus
    created: float
    last_updated: float
    activation_token: str | None = None

    @property
    def login(self) -> str:
        return str(self.profile["login"])

    def user(self) -> IdpUser:
        return IdpUser(self.id, self.login, self.status, dict(self.profile), _iso(self.last_updated))


@dataclass(frozen=True)
class Email:
    """An activation e-mail Okta would have sent (kept here instead, like the emulator's outbox)."""

    to: str
    user_id: str
    login: str
    activation_url: str
    sent_at: float


@dataclass
class Fault:
    """How the org answers calls for now: 5xx (`status`), or carrying writes out and losing the
    answer (`drop`); only for the operations in `ops` (all when empty), `times` calls (None: until
    cleared)."""

    status: int | None = None
    drop: bool = False
    ops: frozenset[str] = frozenset()
    times: int | None = None


@dataclass
class _RateLimit:
    until: float | None = None  # 429 until then (clock time)
    forever_reset_s: float | None = None  # 429 on every call, each naming a reset this far ahead


class MemoryOrg:
    """One org's accounts and outbox. `token` is the API token its connectors must present;
    `clock` times rate limits and stamps `lastUpdated`."""

    def __init__(
        self,
        *,
        token: str = "memory-token",  # noqa: S107 - a test org's token, not a secret
        clock: Clock | None = None,
        url: str = "https://memory.okta.test",
    ) -> None:
        self.token = token
        self.clock = clock or SystemClock()
        self.url = url
        self.accounts: dict[str, Account] = {}  # by id, in creation order
        self.outbox: list[Email] = []
        self.requests: Counter[str] = Counter()  # calls that reached the org, by operation
        self.log: list[str] = []  # the same calls in the order they came
        self.served_429 = 0
        self.fault: Fault | None = None
        self._limit = _RateLimit()
        self._ids = itertools.count(1)

    # ---- what a test reads ----------------------------------------------------------------------

    def user(self, login: str) -> Account | None:
        """The account with this login, as Okta compares logins."""
        wanted = login_key(login)
        return next((a for a in self.accounts.values() if login_key(a.login) == wanted), None)

    def logins(self) -> list[str]:
        return sorted(a.login for a in self.accounts.values())

    def emails_to(self, login: str) -> list[Email]:
        return [e for e in self.outbox if login_key(e.login) == login_key(login)]

    # ---- faults at the boundary ----------------------------------------------------------------

    def rate_limit(self, *, for_s: float) -> None:
        """Answer every call with 429 for `for_s` seconds of the org's clock."""
        self._limit = _RateLimit(until=self.clock.time() + for_s)

    def rate_limit_forever(self, *, reset_s: float = 0.2) -> None:
        """Answer every call with 429, each naming a reset `reset_s` ahead that never comes."""
        self._limit = _RateLimit(forever_reset_s=reset_s)

    def fail_with(self, status: int, *, ops: tuple[str, ...] = (), times: int | None = None) -> None:
        self.fault = Fault(status=status, ops=frozenset(ops), times=times)

    def drop_answers(self, *, ops: tuple[str, ...] = (), times: int | None = None) -> None:
        self.fault = Fault(drop=True, ops=frozenset(ops), times=times)

    def clear_faults(self) -> None:
        self.fault = None
        self._limit = _RateLimit()

    def limited_until(self) -> float | None:
        """The reset a call answered now is told to wait for (None: not rate limited)."""
        now = self.clock.time()
        if self._limit.forever_reset_s is not None:
            return now + self._limit.forever_reset_s
        if self._limit.until is not None and now < self._limit.until:
            return self._limit.until
        return None

    def take_fault(self, op: str) -> Fault | None:
        """The fault this call meets (it uses up one of its `times`)."""
        fault = self.fault
        if fault is None or (fault.ops and op not in fault.ops):
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.fault = None
        return fault

    # ---- Okta's user operations -----------------------------------------------------------------

    def get(self, idp_id: str) -> Account:
        account = self.accounts.get(idp_id)
        if account is None:
            raise NotFound(f"Okta 404 E0000007: Not found: Resource not found: {idp_id} (User)")
        return account

    def create(self, profile: Mapping[str, Any], *, activate: bool) -> Account:
        checked = _check_profile(dict(profile))
        self._check_unique(checked["login"], None)
        now = self.clock.time()
        account = Account(
            id=f"{_ID_PREFIX}{next(self._ids):014d}",
            profile=checked,
            status=IdpStatus.PROVISIONED if activate else IdpStatus.STAGED,
            created=now,
            last_updated=now,
        )
        self.accounts[account.id] = account
        if activate:  # activate=true without a password: Okta e-mails the activation link
            self._new_activation(account, send_email=True)
        return account

    def update(self, idp_id: str, profile: Mapping[str, Any]) -> Account:
        """Okta's POST: a partial update; a new login renames the account."""
        account = self.get(idp_id)
        checked = _check_profile({**account.profile, **profile})
        self._check_unique(checked["login"], idp_id)
        account.profile = checked
        account.last_updated = self.clock.time()
        return account

    def activate(self, idp_id: str, *, send_email: bool) -> tuple[str, str]:
        """Only from STAGED or DEPROVISIONED; without a password the user becomes PROVISIONED.
        Returns the activation link and token (with `send_email`, they go out by e-mail too)."""
        account = self.get(idp_id)
        if account.status is IdpStatus.ACTIVE:
            raise IllegalTransition("Okta 403 E0000016: Activation failed because the user is already active")
        if not account.status.activatable:
            raise IllegalTransition(_WRONG_STATUS)
        account.status = IdpStatus.PROVISIONED
        account.last_updated = self.clock.time()
        return self._new_activation(account, send_email=send_email)

    def follow_activation(self, url: str) -> Account:
        """The user opens the activation link and sets a password: PROVISIONED becomes ACTIVE.
        A link that was replaced by a newer one, or used already, is refused."""
        token = url.rstrip("/").removesuffix("/verify").rsplit("/", 1)[-1]
        account = next((a for a in self.accounts.values() if a.activation_token == token), None)
        if account is None or account.status is not IdpStatus.PROVISIONED:
            raise InvalidRequest(f"activation link {url!r} is not valid (used, replaced or unknown)")
        account.status = IdpStatus.ACTIVE
        account.activation_token = None
        account.last_updated = self.clock.time()
        return account

    def deactivate(self, idp_id: str) -> None:
        account = self.get(idp_id)
        if account.status is IdpStatus.DEPROVISIONED:
            raise IllegalTransition(_WRONG_STATUS)
        account.status = IdpStatus.DEPROVISIONED
        account.last_updated = self.clock.time()

    def delete(self, idp_id: str) -> None:
        """Okta's DELETE: deactivates a user that is not DEPROVISIONED, deletes one that is."""
        account = self.get(idp_id)
        if account.status is IdpStatus.DEPROVISIONED:
            del self.accounts[idp_id]
            return
        account.status = IdpStatus.DEPROVISIONED
        account.last_updated = self.clock.time()

    def page(
        self, *, after: str | None, limit: int, updated_since: str | None
    ) -> tuple[list[IdpUser], str | None]:
        """One page of users in creation order, and the cursor of the next (None: the last page)."""
        if after is not None and not after.startswith(_ID_PREFIX):
            raise InvalidRequest("Okta 400 E0000029: Invalid paging request. (Invalid cursor.)")
        rest = [a for a in self.accounts.values() if after is None or a.id > after]  # ids only grow
        picked: list[IdpUser] = []
        for n, account in enumerate(rest):
            if updated_since is not None and not _iso(account.last_updated) > updated_since:
                continue
            picked.append(account.user())
            if len(picked) == limit:
                return picked, (account.id if n < len(rest) - 1 else None)
        return picked, None

    def _check_unique(self, login: str, idp_id: str | None) -> None:
        owner = self.user(login)
        if owner is not None and owner.id != idp_id:
            raise Conflict(
                "Okta 400 E0000001: Api validation failed: login "
                "(login: An object with this field already exists in the current organization)"
            )

    def _new_activation(self, account: Account, *, send_email: bool) -> tuple[str, str]:
        token = secrets.token_urlsafe(15)
        url = f"{self.url}/tokens/{token}/verify"
        account.activation_token = token
        if send_email:
            email = str(account.profile.get("email") or account.login)
            self.outbox.append(Email(email, account.id, account.login, url, self.clock.time()))
        return url, token


def _check_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """Okta's base user schema; the message names the field and the reason."""
    causes: list[str] = []
    for name, max_len in _REQUIRED.items():
        value = profile.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            causes.append(f"{name}: The field cannot be left blank")
        elif not isinstance(value, str):
            causes.append(f"{name}: Invalid value")
        elif len(value) > max_len:
            causes.append(f"{name}: The field is too long")
    login, email = profile.get("login"), profile.get("email")
    if isinstance(login, str) and login.strip() and not _EMAIL.match(login):
        causes.append("login: Username must be in the form of an email address")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email):
        causes.append("email: Does not match required pattern")
    if causes:
        field_name = causes[0].split(":")[0]
        raise InvalidRequest(f"Okta 400 E0000001: Api validation failed: {field_name} ({'; '.join(causes)})")
    return {"mobilePhone": None, "secondEmail": None, **profile}


def _iso(t: float) -> str:
    """Okta's timestamps: `2020-08-27T18:19:24.000Z`."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"
