"""Okta identity sources ("Anything-as-a-Source"): the `ImportSessions` port over
/api/v1/identity-sources/{id}/sessions, through the connector's governed bulk-lane client.

Okta's rules (developer guide "Build an Anything-as-a-Source custom client integration"; spec tag
IdentitySource; docs/emulator.md): a session takes at most 50 uploads of at most 200 profiles and
200 KB each, string attributes only; one CREATED session per source; no new session within five
minutes of an active one; start-import answers TRIGGERED, then COMPLETED or ERROR; no per-user
results. Reading back pages through the accounts changed since the session started
(`filter=lastUpdated ge "..."`, 200 a page, Okta's documented filter and page size: 50 calls for
10,000 users), matching logins case-insensitively; logins the pages did not show (other writes
in the org crowd the pages, or the list lags) are searched with the logins or-ed together, 50 at
a time (the number of terms Okta allows in one expression is not documented: UNVERIFIED), then
looked up with GET /users/{login} (lists are eventually consistent, the lookup is not).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from idsync.adapters.okta.connector import OktaConnector, okta_literal, okta_user
from idsync.domain.sessions import latest
from idsync.domain.text import login_key
from idsync.errors import NotFound, SourceUnavailable, Unauthorized
from idsync.ports import ReadBack, SourceSession

__all__ = ["READ_BACK_BATCH", "READ_BACK_PAGE", "OktaIdentitySource"]

READ_BACK_BATCH = 50
READ_BACK_PAGE = 200
_SPARE_PAGES = 2  # pages beyond the session's own users, for other writes in the org meanwhile


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

    async def read_changed(
        self, logins: Collection[str], since: str, *, max_pages: int
    ) -> tuple[dict[str, ReadBack], str] | None:
        wanted = {login_key(login) for login in logins}
        found: dict[str, ReadBack] = {}
        mark = since
        params = {"filter": f"lastUpdated ge {okta_literal(since)}", "limit": str(READ_BACK_PAGE)}
        url = "/api/v1/users"
        for _ in range(max_pages):
            r = await self._okta.send("GET", url, params=params)
            for body in r.json():
                back = _read(body)
                mark = latest(mark, back.last_updated or "")
                if login_key(back.user.login) in wanted:
                    found[login_key(back.user.login)] = back
            following: str | None = r.links.get("next", {}).get("url")
            if not following:
                return found, mark
            url, params = following, {}
        return None

    async def read_back(self, logins: Sequence[str], since: str) -> dict[str, ReadBack]:
        wanted = {login_key(login): login for login in logins}
        found = await self._pages(set(wanted), since)
        rest = [login for key, login in wanted.items() if key not in found]
        for i in range(0, len(rest), READ_BACK_BATCH):
            batch = rest[i : i + READ_BACK_BATCH]
            search = " or ".join(f"profile.login eq {okta_literal(login)}" for login in batch)
            r = await self._okta.send("GET", "/api/v1/users", params={"search": search, "limit": "200"})
            for body in r.json():
                back = _read(body)
                if login_key(back.user.login) in wanted:
                    found[login_key(back.user.login)] = back
        for key, login in wanted.items():  # lists lag behind writes; the lookup by login does not
            if key not in found:
                looked = await self._lookup(login)
                if looked is not None:
                    found[key] = looked
        return found

    async def _pages(self, wanted: set[str], since: str) -> dict[str, ReadBack]:
        """The wanted logins among the accounts changed since `since`, page by page; stops when all
        are found or after the pages the session's own users fill, plus a few."""
        found: dict[str, ReadBack] = {}
        if not wanted or not since:
            return found
        budget = -(-len(wanted) // READ_BACK_PAGE) + _SPARE_PAGES
        params = {"filter": f"lastUpdated ge {okta_literal(since)}", "limit": str(READ_BACK_PAGE)}
        url: str | None = "/api/v1/users"
        while url and budget > 0 and len(found) < len(wanted):
            r = await self._okta.send("GET", url, params=params)
            budget -= 1
            for body in r.json():
                back = _read(body)
                if login_key(back.user.login) in wanted:
                    found[login_key(back.user.login)] = back
            url, params = r.links.get("next", {}).get("url"), {}
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
    return ReadBack(user=okta_user(body), created=body.get("created"), last_updated=body.get("lastUpdated"))
