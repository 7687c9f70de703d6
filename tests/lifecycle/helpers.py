"""Helpers of the migration-workflow tests: the config file, the CLI as a subprocess, user lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOKEN = "lifecycle-test-token"
TENANT = "efs-prod"


def write_config(path: Path, url: str, *, mode: str = "sync", token_env: str = "LC_OKTA_TOKEN") -> Path:
    path.write_text(f"""
[store]
url = "sqlite:///{path.parent / "idsync.db"}"

[idps.okta]
type = "okta"
url = "{url}"
token_env = "{token_env}"

[tenants.{TENANT}]
idp = "okta"
mode = "{mode}"
external_idps = [{{ name = "bigcorp-adfs", domains = ["bigcorp.example"] }}]
""")
    return path


def idsync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LC_OKTA_TOKEN": TOKEN, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "idsync.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def user(key: int | str, email: str | None = None, *, source: str = "efs-panel", **extra: object) -> str:
    email = email or f"user{key}@example.com"
    return json.dumps(
        {
            "tenant": TENANT,
            "op": "upsert",
            "source": source,
            "key": str(key),
            "user": {"login": email, "email": email, "firstName": "Pia", "lastName": "Nel", **extra},
        }
    )


def write_users(
    path: Path, keys: range, *, source: str = "efs-panel", extra_lines: tuple[str, ...] = ()
) -> Path:
    path.write_text(
        "".join(user(k, source=source) + "\n" for k in keys) + "".join(x + "\n" for x in extra_lines)
    )
    return path
