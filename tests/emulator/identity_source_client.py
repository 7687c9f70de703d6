"""A test client of the emulator's identity sources: one `Source` drives sessions over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from idsync.emulator.okta import EmulatorAdmin, EmulatorThread

__all__ = ["Json", "Source", "assert_rule", "by_login", "connect", "people"]

Json = dict[str, Any]


@contextmanager
def connect(emu: EmulatorThread) -> Iterator[tuple[httpx.Client, EmulatorAdmin]]:
    with (
        httpx.Client(base_url=emu.url, headers={"Authorization": f"SSWS {emu.token}"}, timeout=30) as api,
        EmulatorAdmin(emu.url) as admin,
    ):
        yield api, admin


def people(n: int, start: int = 0, **extra: str) -> list[Json]:
    return [
        {
            "externalId": f"EXT{i}",
            "profile": {
                "userName": f"person{i}@hr.example.com",
                "email": f"person{i}@hr.example.com",
                "firstName": f"First{i}",
                "lastName": "Person",
                **extra,
            },
        }
        for i in range(start, start + n)
    ]


class Source:
    """One identity source of an emulator, driven through the Management API."""

    def __init__(self, api: httpx.Client, admin: EmulatorAdmin, **options: Any) -> None:
        self.api, self.admin = api, admin
        self.id = admin.create_identity_source("HR", **options)
        self.base = f"/api/v1/identity-sources/{self.id}/sessions"

    def create(self) -> httpx.Response:
        return self.api.post(self.base)

    def new_session(self) -> str:
        response = self.create()
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def upsert(self, session: str, profiles: list[Json]) -> httpx.Response:
        return self.api.post(
            f"{self.base}/{session}/bulk-upsert", json={"entityType": "USERS", "profiles": profiles}
        )

    def delete(self, session: str, external_ids: list[str]) -> httpx.Response:
        body = {"entityType": "USERS", "profiles": [{"externalId": e} for e in external_ids]}
        return self.api.post(f"{self.base}/{session}/bulk-delete", json=body)

    def start(self, session: str) -> httpx.Response:
        return self.api.post(f"{self.base}/{session}/start-import")

    def get(self, session: str) -> Json:
        response = self.api.get(f"{self.base}/{session}")
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    def import_now(self, profiles: list[Json]) -> str:
        session = self.new_session()
        assert self.upsert(session, profiles).status_code == 202
        assert self.start(session).status_code == 200
        return session

    def admin_session(self, session: str) -> Json:
        found: Json = next(s for s in self.admin.identity_source(self.id)["sessions"] if s["id"] == session)
        return found

    def user_id(self, external_id: str) -> str:
        return str(self.admin.identity_source(self.id)["users"][external_id])


def assert_rule(response: httpx.Response, text: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "E0000001"
    assert any(text in c["errorSummary"] for c in body["errorCauses"]), body


def by_login(api: httpx.Client, login: str) -> list[Json]:
    found: list[Json] = api.get("/api/v1/users", params={"search": f'profile.login eq "{login}"'}).json()
    return found
