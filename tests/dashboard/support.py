"""Helpers of the dashboard tests: settings for a store + the Okta emulator, an import fed
in-process (what `POST /imports` does, without depending on the upload route), a served app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI

from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Lane
from idsync.engine.ingest import Defaults, Received

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
            rt.store.create_import,
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
        await rt.db.call(rt.store.finish_input, import_id)

    return feed


def eventually(check: Callable[[], Any], *, timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    """Poll until `check()` is truthy (a guard against hangs, not a timing target)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {last!r}")


class ServerThread:
    """An app served by uvicorn on a free 127.0.0.1 port in a thread (real HTTP, real lifespan)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from tests.servers import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        eventually(lambda: self.server.started or not self.thread.is_alive(), timeout_s=30, every_s=0.02)
        if not self.server.started:
            raise RuntimeError("the app did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
