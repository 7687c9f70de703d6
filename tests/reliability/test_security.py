"""Security of the service's ways in: every route but health needs a credential, the webhook
secret is compared in constant time, and the secret scan does find a secret where one is.

The route list is read from the application itself, so a route added later without a credential
check fails this test until it is listed below with the reason it may be public."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from idsync.config import settings_from_dict
from idsync.web.app import create_app
from tests.reliability.scan import SCAN, SecretScan, secrets_of
from tests.service.support import ServerThread

API_TOKEN = "security-api-token-3d9a-77c1"
HOOK_SECRET = "security-hook-secret-5be0-a41f"
SCAN.add_secret(API_TOKEN, HOOK_SECRET)

# (method, path) -> why it may answer without the bearer token.
PUBLIC = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/dashboard"): "the dashboard's sign-in form (its data needs a session)",
    ("POST", "/dashboard/logout"): "signing out needs no credential",
    ("GET", "/dashboard/sso/login"): "starts the sign-in through the IdP (a redirect, no data)",
    ("GET", "/dashboard/sso/callback"): "the IdP's answer: checked by state, PKCE, the ID token",
    ("GET", "/access/login-url"): "the public sign-in answer: a tenant's issuer, nothing else",
}
# Routes with their own credential: Okta's event hook presents the hook secret, not our token.
HOOKS = {("GET", "/hooks/okta/{name}"), ("POST", "/hooks/okta/{name}")}


def _routes(app: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.routes:
        inner = route.original_router.routes if hasattr(route, "original_router") else [route]
        for r in inner:
            for method in sorted(getattr(r, "methods", None) or ()):
                if method != "HEAD":
                    found.append((method, r.path))
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
        "service": {"api_token_env": "API_TOKEN"},
        "idps": {"okta": {"type": "emulator"}},
        "tenants": {"t": {"idp": "okta"}},
        "inbound": {
            "app": {
                "idp": "okta",
                "hook_secret_env": "HOOK_SECRET",
                "public_url": "http://127.0.0.1:1",
                "target": {"type": "sql", "url": f"sqlite:///{tmp_path / 'app.db'}"},
            }
        },
    }
    app = create_app(settings_from_dict(raw, {"API_TOKEN": API_TOKEN, "HOOK_SECRET": HOOK_SECRET}))
    with ServerThread(app) as running:
        yield running.url, app


def test_every_route_but_the_public_ones_needs_the_bearer_token(server: tuple[str, Any]) -> None:
    url, app = server
    routes = _routes(app)
    assert len(routes) > 30 and set(PUBLIC) <= set(routes) and set(routes) >= HOOKS
    open_routes: list[str] = []
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        for method, path in routes:
            if (method, path) in PUBLIC or (method, path) in HOOKS:
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}):
                answer = client.request(method, concrete, headers=headers)
                if answer.status_code != 401:
                    open_routes.append(f"{method} {path} {headers or 'no credential'}: {answer.status_code}")
                SCAN.add_text(f"security {method} {path}", answer.text)
        signed_in = client.get("/service", headers={"Authorization": f"Bearer {API_TOKEN}"})
        dashboard = client.get("/dashboard")
    assert not open_routes, "\n".join(open_routes)
    assert signed_in.status_code == 200  # the token itself works: the 401s above are the check
    assert dashboard.status_code == 200 and "password" in dashboard.text.lower()
    assert "user0" not in dashboard.text and "t/" not in dashboard.text  # a form, no data


def test_the_webhook_needs_its_secret_compared_in_constant_time(
    server: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)  # the stdlib's, observed not replaced
    tries = {
        "none": {},
        "wrong": {"Authorization": "x" * len(HOOK_SECRET)},
        "prefix": {"Authorization": HOOK_SECRET[:-1]},
        "longer": {"Authorization": HOOK_SECRET + "x"},
        "bearer token": {"Authorization": f"Bearer {API_TOKEN}"},
    }
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, headers in tries.items():
            for method in ("GET", "POST"):
                answer = client.request(method, "/hooks/okta/app", headers=headers, json={"data": {}})
                assert answer.status_code == 401, (name, method, answer.text)
                assert HOOK_SECRET not in answer.text
        challenge = client.get(
            "/hooks/okta/app",
            headers={"Authorization": HOOK_SECRET, "x-okta-verification-challenge": "abc123"},
        )
    assert challenge.status_code == 200 and challenge.json() == {"verification": "abc123"}
    # Every presented value was checked by compare_digest, against the configured secret.
    checked = {a for a, b in compared if b == HOOK_SECRET.encode()}
    presented = {h["Authorization"].encode() for h in tries.values() if h} | {HOOK_SECRET.encode()}
    assert presented <= checked


def test_the_scan_finds_a_secret_where_one_is(tmp_path: Path) -> None:
    """The control that makes the final scan able to fail: a planted secret is found in a text,
    in a log file, and inside a database URL's password, and the report does not repeat it."""
    planted = "planted-secret-8e1f-44aa"
    log = tmp_path / "service.log"
    log.write_text(f"2026-11-23 INFO calling https://org.example with SSWS {planted}\n")
    scan = SecretScan(texts=[("an error body", f'{{"detail": "token {planted} refused"}}')])
    scan.add_secret(planted, "short")  # too short to scan: ordinary words would match
    scan.add_file(log)
    leaks = scan.leaks()
    assert {leak.where for leak in leaks} == {"an error body", str(log)}
    assert all(planted not in leak.excerpt and planted not in leak.secret_hint for leak in leaks)
    assert scan.secrets == {planted}
    in_url = SecretStr("postgresql+psycopg://idsync:db-password-1c9e@127.0.0.1/idsync")
    assert list(secrets_of({"store": in_url})) == ["db-password-1c9e"]
