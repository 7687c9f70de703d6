"""The strict spec check: every emulator response against Okta's OpenAPI spec (the subset in data/).

For each /api/v1 response:

- the operation is found from the request's method and path, guided by the emulator's route
  template (so `GET /groups/rules` answered by the `/groups/{id}` route is checked as getGroup);
  a routed request whose operation the spec lacks fails ("unknown path"), but for the few
  routes Okta serves outside its public spec (`UNDOCUMENTED_ROUTES`, each with its reason,
  whose error bodies are still checked); a request the
  emulator did not route must be answered 404 E0000007 or 405 E0000022;
- the status must be one the operation lists, one Okta documents for every operation (401,
  500, 503 and the injected gateway errors, `GLOBAL_STATUSES`), or a gap with evidence
  (`STATUS_GAPS`); anything else fails;
- the body is validated with the response's schema (types, formats, enums, `required`, no
  writeOnly field), nulls Okta sends against its spec aside (`SPEC_GAPS`); a status declared
  without content must have no body, or `{}` where the recordings show it (`EMPTY_OBJECT_OK`);
- every error body must have all five fields of Okta's `Error` with their types, an `errorCode`
  whose HTTP status in Okta's error catalog is the status served, and a 429 must be the spec's
  `ErrorTooManyRequests` example (E0000047, its summary, no causes).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from idsync.emulator.okta.exchange_log import shape_key
from idsync.emulator.okta.stats import Exchange

DATA = Path(__file__).parent / "data"
SPEC_FILE = DATA / "okta-management-subset.yaml"

# (field path inside a response item, reason): a null the spec declares non-nullable, but that
# real Okta sends. The checker removes such nulls before validating; anything else must match.
SPEC_GAPS: dict[str, str] = {
    "profile.description": "Group: real Okta sends null (CASS test_create_get_group); spec: string",
    "accessibility.errorRedirectUrl": "Application: null in every recorded app (CASS test_create_*_app)",
    "accessibility.loginRedirectUrl": "Application: null in every recorded app (CASS test_create_*_app)",
    "universalLogout": "Application: null in 2025 (CASS test_list_applications_pagination_with_after)",
    "externalId": "AppUser: null for users assigned by API (CASS test_assign_user_app); spec: string",
}
# Operations the spec declares without content that real Okta answers with `{}`.
EMPTY_OBJECT_OK: dict[tuple[str, str], str] = {
    ("post", "/api/v1/users/{id}/lifecycle/deactivate"): "CASS test_comprehensive_user_lifecycle #14",
    ("post", "/api/v1/users/{id}/lifecycle/suspend"): "CASS test_comprehensive_user_lifecycle #3",
    ("post", "/api/v1/users/{id}/lifecycle/unsuspend"): "CASS test_comprehensive_user_lifecycle #5",
    ("post", "/api/v1/users/{id}/lifecycle/reset_factors"): "CASS test_reset_factors #1",
    ("post", "/api/v1/users/{id}/lifecycle/unlock"): "as its siblings; L-USERS: 'returns an empty object'",
    ("post", "/api/v1/apps/{appId}/lifecycle/activate"): "CASS test_activate_deactivate_delete_app #1",
    ("post", "/api/v1/apps/{appId}/lifecycle/deactivate"): "CASS test_activate_deactivate_delete_app #4",
}
# Statuses Okta documents for every operation although the spec does not list them per operation.
GLOBAL_STATUSES: dict[int, str] = {
    401: "E0000011 invalid token (SPEC ErrorInvalidToken401, CORE); E0000015 feature not enabled (CASS)",
    500: "E0000009 (ERRCAT; L-USERS: 'an HTTP 500 usually indicates … exceeded the request timeout')",
    502: "injected gateway fault (FaultSettings.error_statuses), body E0000009",
    503: "E0000010 'Service is in read only mode' (ERRCAT)",
    504: "injected gateway fault (FaultSettings.error_statuses), body E0000009",
}
# (method or "*", spec path pattern, status): an undeclared status Okta answers, with its evidence.
# Routes of Okta that its public spec does not describe, each with why the emulator serves it and
# what checks it instead. Only their error bodies are checked here (Okta's Error shape).
UNDOCUMENTED_ROUTES: dict[str, str] = {
    "/api/v1/internal/apps/{id}/settings/oauth/idToken": (
        "the ID-token groups claim of an OIDC app on the org authorization server: the internal "
        "endpoint the Admin Console's Sign On tab and Terraform's okta_app_oauth `groups_claim` "
        "use (no public API sets it); needed for dashboard sign-in with roles from groups; its "
        "shapes are checked by tests/access/test_emulator_groups_claim.py"
    ),
}

STATUS_GAPS: dict[tuple[str, str, int], str] = {
    ("*", "*", 400): "E0000003 malformed JSON, E0000001 bad query parameter (ERRCAT); listApplications: "
    "CASS test_list_applications_with_query_parameters #3 (expand), pagination_with_after #6 (cursor)",
    ("post", "/api/v1/users/{id}", 409): "E0000112 still being activated (ERRCAT; FACTS §2)",
    ("put", "/api/v1/users/{id}", 409): "E0000112 still being activated (ERRCAT; FACTS §2)",
    ("post", "/api/v1/users/{id}/lifecycle/*", 409): "UNVERIFIED: any write to a user being activated "
    "is answered E0000112 like an update (ERRCAT names updates only)",
    ("delete", "/api/v1/users/{id}", 409): "UNVERIFIED: as lifecycle calls, E0000112 while activating",
    ("post", "/api/v1/apps/{appId}/grants", 200): "the spec lists 201; real Okta answered 200 with the grant "
    "(CASS TestApplicationsResource.test_grant_consent_to_scope #2): the recording wins",
}
_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Served:
    """One response as the emulator served it (from an in-process recorder or an exchange log)."""

    method: str
    path: str
    template: str
    status: int
    body: Any
    has_body: bool


def from_exchanges(exchanges: Iterable[Exchange]) -> list[Served]:
    out = []
    for e in exchanges:
        body = json.loads(e.response_body) if e.response_body else None
        out.append(Served(e.method, e.path, e.template, e.status, body, bool(e.response_body)))
    return out


def from_admin(recorded: Iterable[dict[str, Any]]) -> list[Served]:
    """Exchanges as served by `GET /__emulator/exchanges` (for emulators in another process)."""
    out = []
    for e in recorded:
        raw = e["response_body"]
        body = json.loads(raw) if raw else None
        out.append(Served(e["method"], e["path"], e["template"], e["status"], body, bool(raw)))
    return out


def from_log_lines(lines: Iterable[str]) -> list[Served]:
    """Records of the JSON-lines exchange log (`EmulatorSettings.exchange_log`)."""
    out = []
    for line in lines:
        if line.strip():
            r = json.loads(line)
            out.append(Served(r["method"], r["path"], r["template"], r["status"], r["body"], r["has_body"]))
    return out


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(SPEC_FILE.read_text(), Loader=yaml.CSafeLoader)
    return loaded


@functools.cache
def error_statuses() -> dict[str, int]:
    data: dict[str, Any] = json.loads((DATA / "error_statuses.json").read_text())
    return {str(k): int(v) for k, v in data["statuses"].items()}


@functools.cache
def _too_many() -> dict[str, Any]:
    """The spec's ErrorTooManyRequests example (components/examples), what every 429 must be."""
    example: dict[str, Any] = spec()["components"]["examples"]["ErrorTooManyRequests"]["value"]
    return example


@functools.cache
def _spec_paths() -> list[tuple[str, re.Pattern[str], frozenset[int]]]:
    out = []
    for path in spec()["paths"]:
        segments = path.split("/")
        params = frozenset(i for i, s in enumerate(segments) if _PARAM.fullmatch(s))
        regex = "/".join("[^/]+" if i in params else re.escape(s) for i, s in enumerate(segments))
        out.append((path, re.compile(f"^{regex}/?$"), params))
    return out


def find_operation(method: str, path: str, template: str) -> str | None:
    """The spec path of this request: among those matching it, the one whose parameters sit where
    the emulator's route has parameters (a literal like `deactivate` may fill a route's `{op}`)."""
    route_params = {i for i, s in enumerate(template.split("/")) if _PARAM.fullmatch(s)}
    best: tuple[int, str] | None = None
    for spec_path, pattern, params in _spec_paths():
        if method.lower() not in spec()["paths"][spec_path] or not pattern.match(path):
            continue
        if not params <= route_params:
            continue
        if best is None or len(params) > best[0]:
            best = (len(params), spec_path)
    return best[1] if best else None


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        _, _, kind, name = node["$ref"].split("/", 3)
        node = spec()["components"][kind][name]
    return node


@functools.cache
def _validator(schema_json: str) -> OAS30ReadValidator:
    schema = json.loads(schema_json)
    return OAS30ReadValidator(
        {**schema, "components": spec()["components"]}, format_checker=oas30_format_checker
    )


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"],
    "properties": {
        "errorCode": {"type": "string", "pattern": "^E[0-9]{7}$"},
        "errorSummary": {"type": "string", "minLength": 1},
        "errorLink": {"type": "string"},
        "errorId": {"type": "string", "minLength": 1},
        "errorCauses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["errorSummary"],
                "properties": {"errorSummary": {"type": "string"}},
            },
        },
    },
}


def _error_problems(status: int, body: Any) -> list[str]:
    found = [
        f"not an Okta error: {e.message[:200]}"
        for e in _validator(json.dumps(_ERROR_SCHEMA)).iter_errors(body)
    ]
    if found:
        return found
    code = body["errorCode"]
    catalog = error_statuses().get(code)
    if body["errorLink"] != code:
        found.append(f"errorLink {body['errorLink']!r} is not the errorCode {code}")
    gateway = status in (502, 504) and code == "E0000009"
    if catalog != status and not gateway:
        found.append(f"{code} is HTTP {catalog} in Okta's error catalog, served {status}")
    example = _too_many()
    expected = (example["errorCode"], example["errorSummary"], example["errorCauses"])
    if status == 429 and (code, body["errorSummary"], body["errorCauses"]) != expected:
        found.append(f"429 is not the spec's ErrorTooManyRequests example: {body}")
    return found


def _strip_gaps(node: Any, prefix: str = "") -> Any:
    if isinstance(node, list):
        return [_strip_gaps(item, prefix) for item in node]
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            if value is None and path in SPEC_GAPS:
                continue
            out[key] = _strip_gaps(value, f"{path}.")
        return out
    return node


def check(served: Served) -> list[str]:
    """What is wrong with one response (empty when it conforms)."""
    if served.status == 0:  # dropped connection: nothing was sent
        return []
    if served.status >= 400:
        if not served.has_body:
            return ["error without a body"]
        found = _error_problems(served.status, served.body)
    else:
        found = []
    if served.template in ("", "<unknown>"):
        if served.status not in (404, 405):
            found.append("a path the emulator does not serve, answered other than 404/405")
        return found
    if served.template in UNDOCUMENTED_ROUTES:
        return found
    spec_path = find_operation(served.method, served.path, served.template)
    if spec_path is None:
        return [*found, f"unknown path: no operation of the spec for {served.template}"]
    method = served.method.lower()
    responses = spec()["paths"][spec_path][method]["responses"]
    declared = responses.get(str(served.status))
    if declared is None:
        if served.status in GLOBAL_STATUSES or any(
            m in ("*", method) and fnmatch.fnmatchcase(spec_path, p) and status == served.status
            for m, p, status in STATUS_GAPS
        ):
            return found
        return [*found, f"status {served.status} is not documented for {method.upper()} {spec_path}"]
    content = (_resolve(declared).get("content") or {}).get("application/json")
    if content is None:
        if served.has_body and not (served.body == {} and (method, spec_path) in EMPTY_OBJECT_OK):
            found.append(f"the spec declares no content, got {json.dumps(served.body)[:200]}")
        return found
    if not served.has_body:
        return [*found, "the spec declares a body, none served"]
    validator = _validator(json.dumps(content["schema"]))
    found += [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(_strip_gaps(served.body))
    ]
    return found


def signature(served: Served) -> str:
    """Responses of equal signature validate alike: each shape is checked once."""
    return shape_key(served.method, served.template, served.status, served.has_body, served.body)


def problems(records: Iterable[Served] | Iterable[Exchange]) -> list[str]:
    """One message per response that does not conform (empty when all do); each shape once."""
    items = list(records)
    served = from_exchanges(items) if items and isinstance(items[0], Exchange) else items
    found: list[str] = []
    seen: set[str] = set()
    for s in served:
        assert isinstance(s, Served)
        key = signature(s)
        if key in seen:
            continue
        seen.add(key)
        found += [f"{s.method} {s.path} -> {s.status}: {p}" for p in check(s)]
    return found
