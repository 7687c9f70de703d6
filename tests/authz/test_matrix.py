"""Who may call what: every route of the OpenAPI schema x every kind of caller x its own tenant
and another, against the running service, compared with the policy declared below.

The policy is this file's own statement of docs/deployment.md's table, not the code's: a route
added to the service without an entry here fails `test_every_route_has_a_declared_policy`, and a
route whose check is missing or wrong fails the matrix.

Scopes of a probe:
- `public`: answers without a credential (never 401/403);
- `hook`: Okta's webhook: its own secret, so every API token is refused (401);
- `any`: installation data naming no tenant or user: every caller holding the role somewhere;
- `installation`: needs the role on every tenant;
- `tenant`: the request names a tenant (query or body): the role on that tenant, else 403
  naming the tenant;
- `object`: an object of a tenant by id: a caller who cannot read the tenant gets 404 (as if
  it did not exist), one who can but lacks the role 403;
- `list`: a list without a tenant filter: only the caller's tenants in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .support import ADMIN_TOKEN, OTHER, OWN, Caller, World, fresh_id, ndjson, serve_world, user_line

RANK = {"viewer": 1, "operator": 2, "admin": 3}
Request = dict[str, Any]
Build = Callable[[World, str], Request]


@dataclass(frozen=True)
class Probe:
    scope: str
    need: str = "viewer"
    build: Build = lambda w, t: {}
    tenants_of: Callable[[Any], list[str | None]] | None = None  # `list` probes


def _q(**params: Any) -> Build:
    return lambda w, t: {"params": {k: (t if v is TENANT else v) for k, v in params.items()}}


TENANT = object()  # placeholder for the probe's tenant in _q


def _imp(suffix: str = "") -> Build:
    return lambda w, t: {"path": {"import_id": w.imports[t]}, "suffix": suffix}


def _tenants(key: str | None = None) -> Callable[[Any], list[str | None]]:
    def read(body: Any) -> list[str | None]:
        items = body[key] if key else body
        return [i["tenant"] for i in items]

    return read


def _portal(w: World, t: str) -> Request:
    spec = {
        "name": "panel",
        "base_url": f"https://{t}.example.com",
        "redirect_uris": [f"https://{t}.example.com/cb"],
    }
    return {"json": {"tenant": t, "portal": spec}}


def _new_import(force: bool) -> Build:
    def build(w: World, t: str) -> Request:
        params = {"tenant": t, "import_id": fresh_id(), **({"force": "true"} if force else {})}
        return {"params": params, "content": ndjson([user_line(t, fresh_id())])}

    return build


POLICY: dict[tuple[str, str], list[Probe]] = {
    ("GET", "/healthz"): [Probe("public")],
    ("GET", "/readyz"): [Probe("public")],
    ("GET", "/access/login-url"): [Probe("public", build=_q(tenant=OWN))],
    ("GET", "/hooks/okta/{name}"): [Probe("hook", build=lambda w, t: {"path": {"name": "app"}})],
    ("POST", "/hooks/okta/{name}"): [Probe("hook", build=lambda w, t: {"path": {"name": "app"}, "json": {}})],
    ("GET", "/access/route"): [Probe("tenant", build=_q(tenant=TENANT, email="ann@example.com"))],
    ("POST", "/changes"): [Probe("tenant", "operator", lambda w, t: {"json": user_line(t, fresh_id())})],
    ("GET", "/changes/{change_id}"): [
        Probe("object", build=lambda w, t: {"path": {"change_id": w.changes[t]}})
    ],
    ("POST", "/imports"): [
        Probe("tenant", "operator", _new_import(False)),
        Probe("tenant", "admin", _new_import(True)),
    ],
    ("GET", "/imports"): [Probe("list", tenants_of=_tenants()), Probe("tenant", build=_q(tenant=TENANT))],
    ("GET", "/imports/{import_id}"): [Probe("object", build=_imp())],
    ("GET", "/imports/{import_id}/results"): [Probe("object", build=_imp())],
    ("GET", "/imports/{import_id}/failures"): [Probe("object", build=_imp())],
    ("POST", "/imports/{import_id}/retry"): [
        Probe(
            "object",
            "operator",
            lambda w, t: {"path": {"import_id": w.imports[t]}, "json": {"dry_run": True}},
        )
    ],
    # The matrix's imports have completed: an allowed caller is answered 409 (nothing to stop).
    ("POST", "/imports/{import_id}/cancel"): [Probe("object", "operator", _imp())],
    ("POST", "/imports/{import_id}/pause"): [Probe("object", "operator", _imp())],
    ("POST", "/imports/{import_id}/resume"): [Probe("object", "operator", _imp())],
    ("POST", "/activations"): [
        Probe("tenant", "operator", lambda w, t: {"json": {"tenant": t, "dry_run": True}})
    ],
    ("GET", "/activations"): [Probe("list", tenants_of=_tenants()), Probe("tenant", build=_q(tenant=TENANT))],
    ("GET", "/activations/{job_id}"): [Probe("object", build=lambda w, t: {"path": {"job_id": w.jobs[t]}})],
    ("POST", "/portals"): [Probe("tenant", "admin", _portal)],
    ("GET", "/portals"): [Probe("list", tenants_of=_tenants()), Probe("tenant", build=_q(tenant=TENANT))],
    ("GET", "/safety/runs"): [Probe("list", tenants_of=_tenants()), Probe("tenant", build=_q(tenant=TENANT))],
    ("GET", "/safety/runs/{run_id}"): [Probe("object", build=lambda w, t: {"path": {"run_id": w.runs[t]}})],
    ("POST", "/safety/runs/{run_id}/release"): [
        Probe("object", "admin", lambda w, t: {"path": {"run_id": w.runs[t]}})
    ],
    ("POST", "/safety/runs/{run_id}/discard"): [
        Probe("object", "operator", lambda w, t: {"path": {"run_id": w.runs[t]}})
    ],
    ("GET", "/tenants"): [Probe("list", tenants_of=_tenants()), Probe("tenant", build=_q(tenant=TENANT))],
    ("PUT", "/tenants/{tenant}/mode"): [
        Probe(
            "tenant", "admin", lambda w, t: {"path": {"tenant": t}, "json": {"mode": "off", "dry_run": True}}
        )
    ],
    ("GET", "/metrics"): [Probe("any")],
    ("GET", "/service"): [Probe("any")],
    ("GET", "/audit"): [
        Probe("list", tenants_of=_tenants("items")),
        Probe("tenant", build=_q(tenant=TENANT)),
    ],
    ("GET", "/dashboard/api/overview"): [Probe("list", tenants_of=_tenants("imports"))],
    ("GET", "/dashboard/api/limits"): [Probe("any")],
    ("GET", "/dashboard/api/me"): [Probe("any")],
    ("GET", "/dashboard/api/tenants"): [Probe("list", tenants_of=_tenants())],
    ("GET", "/dashboard/api/fleet"): [Probe("any")],
    ("GET", "/dashboard/api/audit"): [Probe("list", tenants_of=_tenants("items"))],
    ("GET", "/dashboard/api/imports/{import_id}"): [Probe("object", build=_imp())],
    ("POST", "/dashboard/api/imports/{import_id}/cancel"): [Probe("object", "operator", _imp())],
    ("POST", "/dashboard/api/imports/{import_id}/pause"): [Probe("object", "operator", _imp())],
    ("POST", "/dashboard/api/imports/{import_id}/resume"): [Probe("object", "operator", _imp())],
    ("GET", "/dashboard/api/imports/{import_id}/failures"): [Probe("object", build=_imp())],
    ("GET", "/dashboard/api/imports/{import_id}/failures.csv"): [Probe("object", build=_imp())],
    ("GET", "/inbound"): [Probe("installation")],
    ("GET", "/inbound/{name}"): [Probe("installation", build=lambda w, t: {"path": {"name": "app"}})],
    ("GET", "/inbound/{name}/log"): [Probe("installation", build=lambda w, t: {"path": {"name": "app"}})],
    ("GET", "/inbound/{name}/log/{entry_id}"): [
        Probe("installation", build=lambda w, t: {"path": {"name": "app", "entry_id": 1}})
    ],
    ("POST", "/inbound/{name}/sync"): [
        Probe("installation", "operator", lambda w, t: {"path": {"name": "app"}, "json": {"mode": "delta"}})
    ],
    ("POST", "/inbound/{name}/pause"): [
        Probe("installation", "operator", lambda w, t: {"path": {"name": "app"}})
    ],
    ("POST", "/inbound/{name}/resume"): [
        Probe("installation", "operator", lambda w, t: {"path": {"name": "app"}})
    ],
    ("POST", "/inbound/{name}/hook"): [
        Probe("installation", "admin", lambda w, t: {"path": {"name": "app"}})
    ],
    ("POST", "/inbound/{name}/remove"): [
        Probe(
            "installation", "admin", lambda w, t: {"path": {"name": "app"}, "params": {"keep_hook": "true"}}
        )
    ],
    ("GET", "/inbound/{name}/safety"): [Probe("installation", build=lambda w, t: {"path": {"name": "app"}})],
    ("POST", "/inbound/{name}/safety/{run_id}/release"): [
        Probe("installation", "admin", lambda w, t: {"path": {"name": "app", "run_id": "sync-0"}})
    ],
    ("POST", "/inbound/{name}/safety/{run_id}/discard"): [
        Probe("installation", "operator", lambda w, t: {"path": {"name": "app", "run_id": "sync-0"}})
    ],
    ("GET", "/tokens"): [Probe("installation", "admin")],
    ("POST", "/tokens"): [
        Probe(
            "installation",
            "admin",
            lambda w, t: {"json": {"name": fresh_id(), "role": "viewer", "tenants": [OWN]}},
        )
    ],
    ("POST", "/tokens/{token_id}/revoke"): [
        Probe("installation", "admin", lambda w, t: {"path": {"token_id": w.spare_token}})
    ],
}


def _role(caller: Caller | None, tenant: str | None) -> int:
    if caller is None:
        return 0
    roles = [RANK[r] for t, r in caller.grants.items() if t == "*" or (tenant is not None and t == tenant)]
    return max(roles, default=0)


def _somewhere(caller: Caller, need: str) -> bool:
    return any(RANK[r] >= RANK[need] for r in caller.grants.values())


def expected(probe: Probe, caller: Caller | None, tenant: str | None) -> str:
    """`allowed`, or the status the service must answer."""
    if probe.scope == "public":
        return "allowed"
    if caller is None or probe.scope == "hook":
        return "401"
    if probe.scope in ("any", "list"):
        return "allowed" if _somewhere(caller, probe.need) else "403"
    if probe.scope == "installation":
        return "allowed" if RANK.get(caller.grants.get("*", ""), 0) >= RANK[probe.need] else "403"
    if not _somewhere(caller, probe.need):
        return "403"
    role = _role(caller, tenant)
    if probe.scope == "object" and role == 0:
        return "404"
    return "allowed" if role >= RANK[probe.need] else "403"


def _send(
    client: httpx.Client, method: str, path: str, request: Request, caller: Caller | None
) -> httpx.Response:
    url = path
    for name, value in request.get("path", {}).items():
        url = url.replace("{" + name + "}", str(value))
    url += request.get("suffix", "")
    headers = caller.headers if caller is not None else {}
    return client.request(
        method,
        url,
        params=request.get("params"),
        json=request.get("json"),
        content=request.get("content"),
        headers=headers,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from serve_world(tmp_path_factory.mktemp("authz-matrix"))


def _schema_routes(world: World) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in world.app.openapi()["paths"].items() for m in item}


def test_every_route_has_a_declared_policy(world: World) -> None:
    routes = _schema_routes(world)
    assert len(routes) > 40
    assert sorted(routes - set(POLICY)) == [], "routes without a policy here: declare who may call them"
    assert sorted(set(POLICY) - routes) == [], "policies of routes the service no longer has"


def test_every_route_x_caller_x_tenant_answers_as_declared(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callers: list[Caller | None] = [None, *world.callers.values()]
    wrong: list[str] = []
    probes = 0
    with httpx.Client(base_url=world.url, timeout=60) as client:
        for (method, path), rules in sorted(POLICY.items()):
            for probe in rules:
                tenants: list[str | None] = [OWN, OTHER] if probe.scope in ("tenant", "object") else [OWN]
                for caller in callers:
                    for tenant in tenants:
                        want = expected(
                            probe, caller, tenant if probe.scope in ("tenant", "object") else None
                        )
                        answer = _send(client, method, path, probe.build(world, tenant or OWN), caller)
                        probes += 1
                        got = answer.status_code
                        ok = got not in (401, 403) and not (probe.scope == "object" and got == 404)
                        who = caller.name if caller else "anonymous"
                        where = f"{method} {path} [{probe.scope}/{probe.need}] {who} on {tenant}"
                        if (want == "allowed") != ok or (want != "allowed" and str(got) != want):
                            wrong.append(f"{where}: expected {want}, got {got} {answer.text[:160]}")
                            continue
                        if (
                            want == "403"
                            and probe.scope in ("tenant", "object")
                            and _somewhere(caller, probe.need)
                        ):  # type: ignore[arg-type]
                            assert tenant in answer.json()["detail"], f"{where}: 403 must name the tenant"
                        if ok and probe.tenants_of is not None and caller is not None:
                            _check_list(where, caller, probe.tenants_of(answer.json()), wrong)
                        for c in world.callers.values():
                            assert c.token not in answer.text, f"{where}: a token in the answer"
    assert probes > 500
    assert not wrong, f"{len(wrong)} of {probes} answers differ from the policy:\n" + "\n".join(wrong)
    logged = caplog.text
    assert all(c.token not in logged for c in world.callers.values()) and ADMIN_TOKEN not in logged


def _check_list(where: str, caller: Caller, tenants: list[str | None], wrong: list[str]) -> None:
    seen = set(tenants)
    if "*" in caller.grants:
        if OTHER not in seen:
            wrong.append(f"{where}: a caller of every tenant must see {OTHER}: {sorted(map(str, seen))}")
    elif not seen <= set(caller.grants) or OWN not in seen:
        wrong.append(
            f"{where}: must list only {sorted(caller.grants)} (and {OWN}), listed {sorted(map(str, seen))}"
        )


def test_an_import_for_one_tenant_cannot_carry_another_tenants_lines(world: World) -> None:
    """The tenant check is the query's; every line must be for that tenant (else `failed`)."""
    import_id = fresh_id()
    smuggled = user_line(OTHER, "smuggled")
    with httpx.Client(base_url=world.url, headers=world.callers["operator-a"].headers, timeout=60) as c:
        answer = c.post(
            "/imports", params={"tenant": OWN, "import_id": import_id}, content=ndjson([smuggled])
        )
        assert answer.status_code == 202, answer.text
        results = c.get(f"/imports/{import_id}/results").json()["items"]
    assert [(r["key"], r["status"], r["reason"]["code"]) for r in results] == [
        ("smuggled", "failed", "tenant_mismatch")
    ]
