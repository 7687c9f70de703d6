"""Helpers of the service tests: settings for a store + the Okta emulator, change messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from idsync.config import Settings, settings_from_dict

API_TOKEN = "service-test-api-token-7d1f"
OKTA_TOKEN = "service-test-okta-token-93ab"
ENV = {"IDSYNC_API_TOKEN": API_TOKEN, "OKTA_TOKEN": OKTA_TOKEN}
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def config(store_url: str, okta_url: str, **extra: Any) -> dict[str, Any]:
    """The raw configuration (as an idsync.toml would hold it)."""
    governor = extra.pop("governor", {})
    raw: dict[str, Any] = {
        "store": {"url": store_url},
        "service": {"interactive_wait_s": 10.0},
        "idps": {
            "okta": {
                "type": "okta",
                "url": okta_url,
                "token_env": "OKTA_TOKEN",
                "governor": {"budget_share": 0.8, **governor},
            }
        },
        "tenants": {"t": {"idp": "okta", "mode": "sync"}},
    }
    for section, values in extra.items():
        raw[section] = {**raw.get(section, {}), **values}
    return raw


def settings(store_url: str, okta_url: str, **extra: Any) -> Settings:
    return settings_from_dict(config(store_url, okta_url, **extra), ENV)


def change(i: int, *, import_id: str | None = None, first: str = "Ann", version: int = 1) -> dict[str, Any]:
    login = f"user{i}@example.com"
    message: dict[str, Any] = {
        "tenant": "t",
        "op": "upsert",
        "source": "app",
        "key": str(i),
        "version": version,
        "user": {"login": login, "email": login, "firstName": first, "lastName": "Lee"},
    }
    if import_id is not None:
        message["import_id"] = import_id
    return message


def ndjson(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


def eventually(check: Callable[[], Any], *, timeout_s: float = 60.0, every_s: float = 0.1) -> Any:
    """Poll until `check()` returns something truthy; fail with the last value after the timeout
    (a safety net against hangs, not a timing target)."""
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
