"""Okta identity sources ("Anything-as-a-Source"): the `ImportSessions` port over
/api/v1/identity-sources/{id}/sessions, through the connector's governed bulk-lane client.

Okta's rules (developer guide "Build an Anything-as-a-Source custom client integration"; spec tag
IdentitySource; docs/emulator.md): a session takes at most 50 uploads of at most 200 profiles and
200 KB each, string attributes only; one CREATED session per source; no new session within five
minutes of an active one; start-import answers TRIGGERED, then COMPLETED or ERROR; no per-user
results. Reading back is a `search` on /api/v1/users with the logins or-ed together, 50 at a
time (one call for 50 users instead of 50 lookups; the number of terms Okta allows in one
expression is not documented: UNVERIFIED), then GET /users/{login} for what the search did not
show yet (search is eventually consistent, the lookup is not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from idsync.adapters.okta.connector import OktaConnector, okta_user
from idsync.domain.text import login_key
from idsync.errors import NotFound, SourceUnavailable, Unauthorized
from idsync.ports import ReadBack, SourceSession

__all__ = ["READ_BACK_BATCH", "OktaIdentitySource"]

READ_BACK_BATCH = 50


@contextmanager
def session_error(idp: str, source_id: str) -> Iterator[None]:
    """403/404 from the session endpoints: the org lacks the feature, the token its scope, or the
    source id is wrong; said in words a support engineer can act on."""
    try:
        yield
    except (Unauthorized, NotFound) as exc:
        if exc.status_code not in (403, 404):
            raise
        raise SourceUnavailable(
            f"{idp}: Okta refused identity source {source_id} ({exc.message}). Check that Okta has "
            "enabled Identity Source Apps for the org, that the id is the Custom Identity Source's "
            "app id (0oa...), and that the token may use okta.identitySources.manage; or set "
            'identity_source.fallback = "standard" to create users one by one',
            provider=idp,
            status_code=exc.status_code,
            error_code=exc.error_code,
        ) from None


def _session(body: Mapping[str, Any]) -> SourceSession:
    return SourceSession(
        id=str(body["id"]),
        status=str(body["status"]),
        created=str(body.get("created", "")),
        last_updated=str(body.get("lastUpdated", "")),
    )


class OktaIdentitySource:
    max_profiles = 200
    max_bytes = 200 * 1024 - 1024  # the guide's 200 KB, less room for the body around the profiles
    max_uploads = 50

    def __init__(self, connector: OktaConnector, source_id: str) -> None:
        self.name = connector.name
        self.source_id = source_id
        self._okta = connector
        self._base = f"/api/v1/identity-sources/{quote(source_id, safe='')}/sessions"

    def upload_size(self, external_id: str, profile: Mapping[str, str]) -> int:
        item = {"externalId": external_id, "profile": dict(profile)}
        return len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()) + 1

    async def create_session(self) -> SourceSession:
        with session_error(self.name, self.source_id):
            return _session((await self._okta.send("POST", self._base)).json())

    async def get_session(self, session_id: str) -> SourceSession | None:
        with session_error(self.name, self.source_id):
            try:
                r = await self._okta.send("GET", f"{self._base}/{quote(session_id, safe='')}")
            except NotFound:
                return None
        return _session(r.json())

    async def list_sessions(self) -> list[SourceSession]:
        with session_error(self.name, self.source_id):
            return [_session(b) for b in (await self._okta.send("GET", self._base)).json()]

    async def delete_session(self, session_id: str) -> None:
        with session_error(self.name, self.source_id):
            try:
                await self._okta.send("DELETE", f"{self._base}/{quote(session_id, safe='')}")
            except NotFound:
                return

    async def upload(self, session_id: str, profiles: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        body = {
            "entityType": "USERS",
            "profiles": [{"externalId": ext, "profile": dict(p)} for ext, p in profiles],
        }
        with session_error(self.name, self.source_id):
            await self._okta.send("POST", f"{self._base}/{quote(session_id, safe='')}/bulk-upsert", body=body)

    async def start_import(self, session_id: str) -> SourceSession:
        path = f"{self._base}/{quote(session_id, safe='')}/start-import"
        with session_error(self.name, self.source_id):
            return _session((await self._okta.send("POST", path)).json())

    async def read_back(self, logins: Sequence[str]) -> dict[str, ReadBack]:
        found: dict[str, ReadBack] = {}
        wanted = list(dict.fromkeys(logins))
        for i in range(0, len(wanted), READ_BACK_BATCH):
            batch = wanted[i : i + READ_BACK_BATCH]
            search = " or ".join(
                f"profile.login eq {json.dumps(login, ensure_ascii=False)}" for login in batch
            )
            r = await self._okta.send("GET", "/api/v1/users", params={"search": search, "limit": "200"})
            for body in r.json():
                back = _read(body)
                found[login_key(back.user.login)] = back
        for login in wanted:  # the search lags behind writes; the lookup by login does not
            if login_key(login) not in found:
                looked = await self._lookup(login)
                if looked is not None:
                    found[login_key(login)] = looked
        return found

    async def _lookup(self, login: str) -> ReadBack | None:
        if "/" in login or login.startswith("00u") or len(login) < 5:
            return None  # Okta reads these as ids or short names; the per-user path looks them up
        try:
            r = await self._okta.send("GET", f"/api/v1/users/{quote(login, safe='@')}")
        except NotFound:
            return None
        back = _read(r.json())
        return back if login_key(back.user.login) == login_key(login) else None


def _read(body: Mapping[str, Any]) -> ReadBack:
    return ReadBack(user=okta_user(body), created=body.get("created"))
