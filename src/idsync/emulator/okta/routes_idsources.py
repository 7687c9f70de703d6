"""HTTP of identity sources: `/api/v1/identity-sources/{id}/sessions…` and `/__emulator/identity-sources`.

Okta makes a Custom Identity Source in the Admin Console; the emulator makes one with
`POST /__emulator/identity-sources {"name": …}`. Without the feature (`identity_sources=False`)
both answer 403, like an org where Okta has not enabled Identity Source Apps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idsync.emulator.okta.admin_http import json_object, problem
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse
from idsync.emulator.okta.idsources import IdentitySources, session_json
from idsync.emulator.okta.idsources_import import parse_upload

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["ROUTES", "identity_source_admin_routes"]

_SESSIONS = "/api/v1/identity-sources/{identitySourceId}/sessions"
_SESSION = _SESSIONS + "/{sessionId}"


def _store(emu: Emulator) -> IdentitySources:
    """The org's identity sources, with processing brought up to now; 403 without the feature."""
    if not emu.settings.identity_sources:
        raise OktaError.forbidden()
    emu.imports.advance(emu.clock.now())
    return emu.identity_sources


async def list_sessions(emu: Emulator, req: ApiRequest) -> ApiResponse:
    sessions = _store(emu).list_sessions(req.params["identitySourceId"], emu.clock.now())
    return ApiResponse(200, [session_json(s) for s in sessions])


async def create_session(emu: Emulator, req: ApiRequest) -> ApiResponse:
    session = _store(emu).create_session(req.params["identitySourceId"], emu.clock.now())
    return ApiResponse(200, session_json(session))


async def get_session(emu: Emulator, req: ApiRequest) -> ApiResponse:
    session = _store(emu).session(req.params["identitySourceId"], req.params["sessionId"], emu.clock.now())
    return ApiResponse(200, session_json(session))


async def delete_session(emu: Emulator, req: ApiRequest) -> ApiResponse:
    store, now = _store(emu), emu.clock.now()
    store.delete_session(store.session(req.params["identitySourceId"], req.params["sessionId"], now), now)
    return ApiResponse(204)


async def _upload(emu: Emulator, req: ApiRequest, kind: str) -> ApiResponse:
    store, now = _store(emu), emu.clock.now()
    session = store.session(req.params["identitySourceId"], req.params["sessionId"], now)
    store.check_loadable(session)  # the session's state is reported before the body's faults
    ops = parse_upload("upsert" if kind == "upsert" else "delete", req.body, req.json())
    store.add_upload(session, ops)
    session.last_updated = now
    return ApiResponse(202)


async def bulk_upsert(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return await _upload(emu, req, "upsert")


async def bulk_delete(emu: Emulator, req: ApiRequest) -> ApiResponse:
    return await _upload(emu, req, "delete")


async def start_import(emu: Emulator, req: ApiRequest) -> ApiResponse:
    store, now = _store(emu), emu.clock.now()
    session = store.session(req.params["identitySourceId"], req.params["sessionId"], now)
    store.trigger(session, now, req.info)
    answer = session_json(session)  # TRIGGERED, even if processing finishes it at once
    emu.imports.kick()
    return ApiResponse(200, answer)


ROUTES = [
    ("GET", _SESSIONS, list_sessions),
    ("POST", _SESSIONS, create_session),
    ("GET", _SESSION, get_session),
    ("DELETE", _SESSION, delete_session),
    ("POST", _SESSION + "/bulk-upsert", bulk_upsert),
    ("POST", _SESSION + "/bulk-delete", bulk_delete),
    ("POST", _SESSION + "/start-import", start_import),
]


# --- /__emulator/identity-sources ----------------------------------------------------------------


def _emu(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


async def admin_sources(request: Request) -> Response:
    """POST: make a Custom Identity Source (`name`, optional `matchByLogin`); GET: list them."""
    emu = _emu(request)
    store = emu.identity_sources
    if request.method == "GET":
        emu.imports.advance(emu.clock.now())
        summaries: list[dict[str, Any]] = []
        for source in store.sources.values():
            full = store.admin_json(source)
            summaries.append({**full, "users": len(full["users"]), "sessions": len(full["sessions"])})
        return JSONResponse(summaries)
    if not emu.settings.identity_sources:
        return problem("the org does not have the Identity Source Apps feature (identity_sources=false)", 403)
    body = await json_object(request)
    if isinstance(body, JSONResponse):
        return body
    name, match = body.get("name"), body.get("matchByLogin", False)
    if not isinstance(name, str) or not name.strip():
        return problem("name: a non-empty string is required")
    if not isinstance(match, bool):
        return problem("matchByLogin: must be true or false")
    source = store.create_source(name.strip(), match_by_login=match)
    return JSONResponse(store.admin_json(source))


async def admin_source(request: Request) -> Response:
    """One source: its externalId → user id links and every session with counts and failures."""
    emu = _emu(request)
    source = emu.identity_sources.sources.get(request.path_params["source_id"])
    if source is None:
        return problem("no such identity source", 404)
    emu.imports.advance(emu.clock.now())
    return JSONResponse(emu.identity_sources.admin_json(source))


def identity_source_admin_routes() -> list[Route]:
    return [
        Route("/__emulator/identity-sources", admin_sources, methods=["GET", "POST"]),
        Route("/__emulator/identity-sources/{source_id}", admin_source, methods=["GET"]),
    ]
