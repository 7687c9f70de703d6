"""Shared helpers of the identity tests: an org (the emulator over HTTP) that several tenants and
sources sync into, change messages shaped like EFS data, and a way to run them as an import."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idsync.config import Settings, settings_from_dict
from idsync.emulator.okta import EmulatorAdmin
from idsync.engine.jobs import ImportReport
from idsync.engine.worker import WorkerOptions
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime

TOKEN = "identity-token"
API_TOKEN = "identity-api-token-5c1e"
FAST = WorkerOptions(retry_base_s=0.05, retry_max_s=0.3, poll_s=0.05, max_attempts=6)


def make_settings(
    store_url: str, okta_url: str, tenants: Mapping[str, Mapping[str, Any]], *, instance: str | None = None
) -> Settings:
    raw: dict[str, Any] = {
        "store": {"url": store_url},
        "idps": {
            "okta": {
                "type": "okta",
                "url": okta_url,
                "token_env": "OKTA_TOKEN",
                "governor": {"budget_share": 1.0, "backoff_base_s": 0.05, "timeout_s": 5.0},
            }
        },
        "tenants": {name: {"idp": "okta", **t} for name, t in tenants.items()},
    }
    if instance:
        raw["service"] = {"instance_id": instance}
    return settings_from_dict(raw, {"OKTA_TOKEN": TOKEN, "IDSYNC_API_TOKEN": API_TOKEN})


def change(
    tenant: str,
    source: str,
    key: str,
    login: str,
    *,
    first: str = "Ann",
    last: str = "Lee",
    op: str = "upsert",
    version: int | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"tenant": tenant, "op": op, "source": source, "key": key}
    if op == "upsert":
        msg["user"] = {"login": login, "email": login, "firstName": first, "lastName": last}
    if version is not None:
        msg["version"] = version
    return msg


@dataclass(frozen=True)
class Outcome:
    report: ImportReport
    rows: dict[tuple[str, str], dict[str, Any]]  # (source, key) -> the result row of its last change

    def status(self, source: str, key: str) -> str:
        return str(self.rows[(source, key)]["status"])

    def reason(self, source: str, key: str) -> tuple[str | None, str | None]:
        row = self.rows[(source, key)]
        return row["reason_code"], row["reason_message"]


async def sync(
    rt: Runtime,
    tmp_path: Path,
    tenant: str,
    changes: Iterable[Mapping[str, Any]],
    *,
    link_existing: bool = False,
) -> Outcome:
    """Run the changes as one file import of `tenant` and return each user's result."""
    path = tmp_path / f"changes-{secrets.token_hex(4)}.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in changes), encoding="utf-8")
    report = await run_file_import(rt, path, tenant=tenant, link_existing=link_existing, poll_s=0.05)
    for _ in range(600):  # another instance may still be finishing users it claimed
        record = rt.store.imports.get(report.progress.import_id)
        if record is not None and record.state.value == "completed":
            break
        await asyncio.sleep(0.05)
    rows = {(str(r["source"]), str(r["key"])): r for r in rt.store.imports.results(report.progress.import_id)}
    return Outcome(report, rows)


def accounts(admin: EmulatorAdmin) -> dict[str, dict[str, Any]]:
    """The org's accounts by lower-cased login."""
    return {u["login"].lower(): u for u in admin.users()}


def linked_ids(rt: Runtime) -> list[str]:
    """Every IdP account id held by a link of the store (an id twice here is the bug)."""
    from sqlalchemy import select

    from idsync.adapters.store.schema import links

    with rt.store.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(links.c.idp_id).where(links.c.idp_id.isnot(None)))]


def calls(admin: EmulatorAdmin, endpoint: str) -> int:
    """Requests the emulator served for `METHOD /template`, any status."""
    return sum(admin.stats(windows=False)["requests"].get(endpoint, {}).values())
