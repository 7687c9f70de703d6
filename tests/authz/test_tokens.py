"""API tokens: made by `idsync tokens` (printed once, only a hash stored), refused once revoked,
expired or changed, compared in constant time, and never written to a log or an answer."""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.adapters.store import Store
from idsync.adapters.store.features.audit import list_audit
from idsync.adapters.store.features.tokens import create_token, list_tokens, revoke_token
from idsync.config import load_settings
from idsync.domain.authz import Role
from idsync.lifecycle.tokens import TokenRequestError, make_token, parse_expiry
from idsync.web.app import create_app
from idsync.web.dashboard import session
from tests.common import ServerThread, run_idsync
from tests.reliability.scan import SCAN

from .support import ADMIN_TOKEN, OWN, settings

CONFIG = """
[store]
url = "sqlite:///{db}"
[idps.okta]
type = "emulator"
[tenants.efs-a]
idp = "okta"
[tenants.efs-b]
idp = "okta"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "idsync.toml").write_text(CONFIG.format(db=tmp_path / "idsync.db"))
    return tmp_path


def idsync(workdir: Path, *args: str) -> Any:
    return run_idsync(workdir, *args, "--config", str(workdir / "idsync.toml"), timeout_s=120)


def test_the_cli_prints_a_token_once_and_keeps_only_its_hash(workdir: Path) -> None:
    made = idsync(workdir, "tokens", "create", "--tenant", "efs-a", "--role", "operator", "--name", "efs-app")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    SCAN.add_secret(token)
    assert token.startswith("idsync_") and len(token) > 50
    assert "efs-app" in made.stderr and "operator on efs-a" in made.stderr and token not in made.stderr
    token_id = token.split("_")[1]
    db = sqlite3.connect(workdir / "idsync.db")
    (stored,) = db.execute("SELECT hash FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
    db.close()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token.split("_", 2)[2].encode() not in (workdir / "idsync.db").read_bytes()

    listed = idsync(workdir, "tokens", "list")
    assert listed.returncode == 0 and token_id in listed.stdout and "efs-app" in listed.stdout
    assert token not in listed.stdout and stored not in listed.stdout
    revoked = idsync(workdir, "tokens", "revoke", token_id)
    assert revoked.returncode == 0 and "revoked token efs-app" in revoked.stdout
    assert token_id not in idsync(workdir, "tokens", "list").stdout
    every = idsync(workdir, "tokens", "list", "--all").stdout
    assert token_id in every and "revoked" in every

    trail = idsync(workdir, "audit", "--json").stdout.splitlines()
    actions = [line for line in trail if '"token.' in line]
    assert len(actions) == 2 and all('"actor": "cli:' in line for line in actions)
    assert all(token not in line for line in trail)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"role": "operator"}, "tenant: an operator token must name its tenants"),
        ({"role": "viewer", "name": "x"}, "must name its tenants"),
        ({"role": "operator", "tenants": ["efs-zz"]}, "tenant: no tenant named 'efs-zz'"),
        ({"role": "owner", "tenants": ["efs-a"]}, "role: 'owner' is not a role"),
        ({"role": "admin", "name": "two words"}, "name: 'two words' is not a name"),
    ],
)
def test_bad_requests_name_the_field_and_make_nothing(
    workdir: Path, request_: dict[str, Any], message: str
) -> None:
    config = load_settings(workdir / "idsync.toml", {})
    store = Store(config.store.url)
    try:
        with pytest.raises(TokenRequestError, match=re.escape(message)):
            make_token(
                store,
                config,
                **{"name": "n", "tenants": [], "expires_in_s": None, "actor": "test", **request_},
            )
        assert list_tokens(store, include_revoked=True) == []
        assert list_audit(store) == []
    finally:
        store.close()
    with pytest.raises(TokenRequestError, match="expires: 'soon' is not a duration"):
        parse_expiry("soon")
    assert parse_expiry("90d") == 90 * 86400 and parse_expiry("12h") == 43200 and parse_expiry(None) is None


def test_the_cli_refuses_a_bad_request_with_the_reason(workdir: Path) -> None:
    answer = idsync(workdir, "tokens", "create", "--role", "operator", "--expires", "90d")
    assert answer.returncode == 2 and answer.stdout.strip() == ""
    assert "must name its tenants (--tenant)" in answer.stderr and "Traceback" not in answer.stderr
    first = idsync(workdir, "tokens", "create", "--role", "admin", "--name", "ops")
    assert first.returncode == 0
    SCAN.add_secret(first.stdout.strip())
    again = idsync(workdir, "tokens", "create", "--role", "admin", "--name", "ops")
    assert again.returncode == 2 and "a token named 'ops' exists" in again.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    app = create_app(settings(tmp_path))
    with ServerThread(app) as server:
        yield server.url, app


def _token(app: Any, **kwargs: Any) -> tuple[str, str]:
    row, token = create_token(
        app.state.runtime.store,
        **{"name": "t", "role": Role.VIEWER, "tenants": (OWN,), "created_by": "test", **kwargs},
    )
    SCAN.add_secret(token)
    return row.id, token


def test_revoked_expired_and_changed_tokens_are_refused(served: tuple[str, Any]) -> None:
    url, app = served
    _, live = _token(app, name="live")
    _, expired = _token(app, name="old", expires_at=time.time() - 1)
    revoked_id, revoked = _token(app, name="gone")
    store: Store = app.state.runtime.store
    with httpx.Client(base_url=url, timeout=30) as c:
        signed_in = c.post("/dashboard/login", data={"token": revoked}).cookies[session.COOKIE]
        assert c.get("/dashboard/api/me", cookies={session.COOKIE: signed_in}).status_code == 200
        revoke_token(store, revoked_id, by="test")
        assert c.get("/imports", headers={"Authorization": f"Bearer {live}"}).status_code == 200
        changed = live[:-1] + ("A" if live[-1] != "A" else "B")
        for bad in (expired, revoked, changed, live + "x", live.replace("idsync_", "idsync-"), "idsync_"):
            answer = c.get("/imports", headers={"Authorization": f"Bearer {bad}"})
            assert answer.status_code == 401, bad
            assert answer.json()["detail"] == "missing or wrong bearer token"
        # The dashboard session made with the revoked token ended with it.
        assert c.get("/dashboard/api/me", cookies={session.COOKIE: signed_in}).status_code == 401
        assert c.post("/dashboard/login", data={"token": expired}).status_code == 401


def test_tokens_are_compared_by_hash_in_constant_time(
    served: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, app = served
    _, token = _token(app, name="timed")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)  # the stdlib's, observed not replaced
    wrong = token[:-4] + "AAAA"
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/imports", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get("/imports", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    digest = hashlib.sha256(token.encode()).hexdigest().encode()
    wrong_digest = hashlib.sha256(wrong.encode()).hexdigest().encode()
    assert (digest, digest) in compared and (wrong_digest, digest) in compared
    # The installation's token was compared too (first, in constant time), never with ==.
    assert any(a == token.encode() for a, _ in compared)


def test_the_api_makes_lists_and_revokes_tokens_for_admins_of_every_tenant(served: tuple[str, Any]) -> None:
    url, _ = served

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, timeout=30) as c:
        made = c.post(
            "/tokens", json={"name": "efs-app", "role": "operator", "tenants": [OWN]}, headers=admin
        )
        assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
        token = made.json()["token"]
        SCAN.add_secret(token)
        mine = {"Authorization": f"Bearer {token}"}
        assert c.get("/dashboard/api/me", headers=mine).json()["actor"] == "token:efs-app"
        assert c.get("/tokens", headers=mine).status_code == 403
        listed = c.get("/tokens", headers=admin).json()
        assert [t["name"] for t in listed] == ["efs-app"] and "token" not in listed[0]
        bad = c.post("/tokens", json={"name": "x", "role": "operator"}, headers=admin)
        assert bad.status_code == 422 and "must name its tenants" in bad.json()["detail"]
        assert c.post(f"/tokens/{made.json()['id']}/revoke", headers=admin).json()["state"] == "revoked"
        assert c.get("/imports", headers=mine).status_code == 401
        assert c.post("/tokens/000000000000/revoke", headers=admin).status_code == 404
