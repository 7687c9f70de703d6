"""`idsync route` as a user runs it (a subprocess; no IdP is called)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """
[store]
url = "sqlite:///{db}"

[idps.okta]
type = "okta"
url = "https://acme.okta.com"
token_env = "ROUTE_TEST_TOKEN"

[tenants.efs-prod]
idp = "okta"
[[tenants.efs-prod.external_idps]]
name = "acme-entra"
domains = ["*.acme.example"]
login_url = "https://sso.acme.example"
"""


def idsync(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "idsync.toml").write_text(CONFIG.format(db=tmp_path / "idsync.db"))
    return subprocess.run(
        [sys.executable, "-m", "idsync.cli", "route", *args, "--config", str(tmp_path / "idsync.toml")],
        env={**os.environ, "ROUTE_TEST_TOKEN": "x", "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_route_prints_the_idp_the_login_url_and_the_sync_decision(tmp_path: Path) -> None:
    okta = idsync(tmp_path, "ann@example.com", "--tenant", "efs-prod")
    assert okta.returncode == 0, okta.stderr
    assert "okta (main IdP)" in okta.stdout and "https://acme.okta.com" in okta.stdout
    routed = idsync(tmp_path, "bob@eu.acme.example", "--tenant", "efs-prod", "--json")
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout) == {
        "tenant": "efs-prod",
        "email": "bob@eu.acme.example",
        "domain": "eu.acme.example",
        "idp": "acme-entra",
        "external": True,
        "login_url": "https://sso.acme.example",
        "needs_sync": False,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bob", "--tenant", "efs-prod"), "is not an e-mail address"),
        (("bob@acme.example", "--tenant", "nope"), "is not configured"),
    ],
)
def test_bad_input_exits_2_with_a_named_error(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = idsync(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
