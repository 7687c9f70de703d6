"""Check recorded emulator responses against Okta's official OpenAPI spec (the subset in data/).

Each response body is validated with openapi-core against the schema of its operation and
status. Statuses an operation does not declare (401 for a bad token, 405, injected 500/503)
are validated against the spec's `Error` schema, which Okta uses for every error body.

Where real Okta (the recordings in data/recordings) contradicts its own spec, the emulator
follows the recordings and the check says so here, each gap with its evidence (`SPEC_GAPS`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from openapi_core import OpenAPI
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

from idsync.emulator.okta.stats import Exchange

SPEC_FILE = Path(__file__).parent / "data" / "okta-management-subset.yaml"

# (field path inside a response item, reason): a null the spec declares non-nullable, but that
# real Okta sends. The checker removes such nulls before validating; anything else must match.
SPEC_GAPS: dict[str, str] = {
    "profile.description": "Group: real Okta sends null (CASS test_create_get_group); spec: string",
    "accessibility.errorRedirectUrl": "Application: null in every recorded app (CASS test_create_*_app)",
    "accessibility.loginRedirectUrl": "Application: null in every recorded app (CASS test_create_*_app)",
    "universalLogout": "Application: null in 2025 (CASS test_list_applications_pagination_with_after)",
    "externalId": "AppUser: null for users assigned by API (CASS test_assign_user_app); spec: string",
}
EMPTY_OBJECT_GAP = (
    "Lifecycle calls (deactivate/suspend/unsuspend/unlock, app activate/deactivate) answer 200 with `{}` "
    "(CASS test_comprehensive_user_lifecycle, test_activate_deactivate_delete_app); "
    "the spec declares no content"
)


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(SPEC_FILE.read_text(), Loader=yaml.CSafeLoader)
    return loaded


@functools.cache
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(spec())


@functools.cache
def error_validator() -> OAS30Validator:
    return OAS30Validator({**spec()["components"]["schemas"]["Error"], "components": spec()["components"]})


def _declared_response(exchange: Exchange) -> Any | None:
    """The spec's response object for this request and status, or None if not declared."""
    try:
        found = APICallPathFinder(openapi().spec).find(
            exchange.method.lower(), f"http://emulator{exchange.path}"
        )
    except Exception:
        return None
    responses = found.operation / "responses"
    for key in (str(exchange.status), "default"):
        if key in responses:
            return responses / key
    return None


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


def from_admin(recorded: list[dict[str, Any]]) -> list[Exchange]:
    """Exchanges as served by `GET /__emulator/exchanges` (for emulators in another process)."""
    return [
        Exchange(
            e["method"],
            e["path"],
            e["template"],
            e["query"],
            {},
            e["request_body"].encode(),
            e["status"],
            [(k, v) for k, v in e["response_headers"]],
            e["response_body"].encode(),
        )
        for e in recorded
    ]


def problems(exchanges: list[Exchange]) -> list[str]:
    """One message per response that does not match the spec (empty when all conform)."""
    found: list[str] = []
    for exchange in exchanges:
        if exchange.status == 0:  # dropped connection: nothing was sent
            continue
        where = f"{exchange.method} {exchange.path}?{exchange.query} -> {exchange.status}"
        body = json.loads(exchange.response_body) if exchange.response_body else None
        declared = _declared_response(exchange)
        if declared is None:
            if body is not None:
                found += [
                    f"{where}: not an Okta Error body: {e.message}"
                    for e in error_validator().iter_errors(body)
                ]
            elif exchange.status >= 400:
                found.append(f"{where}: error without a body")
            continue
        if "content" not in declared or not list((declared / "content").keys()):
            if body not in (None, {}):
                found.append(f"{where}: spec declares no content, got {exchange.response_body[:200]!r}")
            continue  # `{}` for "no content": see EMPTY_OBJECT_GAP
        data = json.dumps(_strip_gaps(body)).encode() if body is not None else b""
        request = MockRequest(
            "http://emulator",
            exchange.method,
            exchange.path,
            args=dict(parse_qsl(exchange.query, keep_blank_values=True)),
            headers={"Authorization": "SSWS x", "Content-Type": "application/json"},
            data=exchange.request_body or None,
        )
        try:
            openapi().validate_response(request, MockResponse(data, exchange.status))
        except Exception as exc:
            cause = exc.__cause__ or exc
            details = [f"{list(e.path)}: {e.message[:200]}" for e in getattr(cause, "schema_errors", ())]
            found.append(f"{where}: {type(exc).__name__}: {'; '.join(details) or str(exc)[:500]}")
    return found
