"""Helpers of the dashboard tests: settings for a store + the Okta emulator, an import fed
in-process (what `POST /imports` does, without depending on the upload route), a served app."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI

from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Lane
from idsync.domain.records import Received
from idsync.engine.ingest import Defaults
from tests.common import ServerThread, eventually  # noqa: F401 (re-exported)

API_TOKEN = "dashboard-test-api-token-5c2e"
OKTA_TOKEN = "dashboard-test-okta-token-81f0"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TENANT = "t"
EXTERNAL = "bigcorp.example"


def settings(store_url: str, okta_url: str, *, api_token: str | None = API_TOKEN) -> Settings:
    env = {"OKTA_TOKEN": OKTA_TOKEN}
    if api_token is not None:
        env["IDSYNC_API_TOKEN"] = api_token
    raw = {
        "store": {"url": store_url},
        "idps": {"okta": {"type": "okta", "url": okta_url, "token_env": "OKTA_TOKEN"}},
        "tenants": {
            TENANT: {
                "idp": "okta",
                "mode": "sync",
                "external_idps": [{"name": "bigcorp-adfs", "domains": [EXTERNAL]}],
            }
        },
    }
    return settings_from_dict(raw, env)


def user(i: int, *, domain: str = "example.com", **fields: Any) -> dict[str, Any]:
    login = f"user{i}@{domain}"
    profile = {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee", **fields}
    return {"tenant": TENANT, "op": "upsert", "source": "app", "key": str(i), "version": 1, "user": profile}


def sample(n: int, *, external_every: int = 50, invalid_every: int = 400) -> list[dict[str, Any]]:
    """n users; every `external_every`-th on the externally routed domain (skipped), every
    `invalid_every`-th invalid (failed with its field and reason)."""
    out = []
    for i in range(1, n + 1):
        if i % invalid_every == 0:
            out.append(user(i, email="not-an-email"))
        elif i % external_every == 0:
            out.append(user(i, domain=EXTERNAL))
        else:
            out.append(user(i))
    return out


def feeder(
    messages: list[dict[str, Any]], import_id: str, *, batch: int = 250
) -> Callable[[FastAPI], Coroutine[Any, Any, None]]:
    """A background task for `app.state.background` that stores an import through the ingestor
    (as the HTTP upload does) and leaves the users to the app's worker."""

    async def feed(app: FastAPI) -> None:
        rt = app.state.runtime
        await rt.db.call(
            rt.store.imports.create,
            import_id,
            TENANT,
            "http",
            input_name="browser-test.jsonl",
            total=len(messages),
        )
        defaults = Defaults(origin="http", tenant=TENANT, import_id=import_id)
        for start in range(0, len(messages), batch):
            await rt.ingestor.receive(
                [Received(payload=m) for m in messages[start : start + batch]], defaults
            )
            rt.worker.notify(Lane.BULK)
        await rt.db.call(rt.store.imports.finish_input, import_id)

    return feed
