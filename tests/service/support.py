"""Helpers of the service tests: settings for a store + the Okta emulator, change messages."""

from __future__ import annotations

import json
from typing import Any

from idsync.config import Settings, settings_from_dict
from tests.common import ServerThread, eventually  # noqa: F401 (re-exported)

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
