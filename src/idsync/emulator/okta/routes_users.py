"""HTTP handlers of `/api/v1/users…`: translate query strings and bodies, call `users`/`queries`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from idsync.emulator.okta import queries
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest, ApiResponse, link_headers
from idsync.emulator.okta.idsources_import import check_mastered
from idsync.emulator.okta.models import UserRecord
from idsync.emulator.okta.render import group_json, user_json
from idsync.emulator.okta.users import create_user, delete_user, find_user, run_lifecycle, update_user

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["ROUTES"]

# Lifecycle operations and the default of their `sendEmail` parameter (SPEC).
_SEND_EMAIL_DEFAULT = {
    "activate": True,
    "reactivate": False,
    "deactivate": False,
    "suspend": False,
    "unsuspend": False,
    "unlock": False,
    "reset_password": False,
    "expire_password": False,
}


async def create(emu: Emulator, req: ApiRequest) -> ApiResponse:
    next_login = req.query.get("nextLogin")
    user = create_user(
        emu.org, req.json(), req.info, activate=req.flag("activate", True), next_login=next_login
    )
    return ApiResponse(200, user_json(user, req.info.org_url, emu.org.state.meta))


async def list_users(emu: Emulator, req: ApiRequest) -> ApiResponse:
    page = queries.list_users(emu.org, req.query)
    org, meta = req.info.org_url, emu.org.state.meta
    body = [user_json(u, org, meta, collection=True) for u in page.items]
    if "q" in req.query and not ({"search", "filter"} & set(req.query)):
        return ApiResponse(200, body)  # `q` does not paginate: no Link headers
    headers = link_headers(f"{org}/api/v1/users", req.query, page.limit, page.next_cursor)
    return ApiResponse(200, body, headers)


async def get(emu: Emulator, req: ApiRequest) -> ApiResponse:
    user = find_user(emu.org, req.params["id"])
    return ApiResponse(200, user_json(user, req.info.org_url, emu.org.state.meta))


async def update(emu: Emulator, req: ApiRequest) -> ApiResponse:
    user = find_user(emu.org, req.params["id"])
    body = req.json()
    check_mastered(emu.identity_sources, user, body, replace=req.method == "PUT")  # 403 E0000023
    user = update_user(emu.org, user, body, req.info, replace=req.method == "PUT")
    return ApiResponse(200, user_json(user, req.info.org_url, emu.org.state.meta))


def _respond_async(req: ApiRequest) -> bool:
    return "respond-async" in req.headers.get("prefer", "").lower()


async def delete(emu: Emulator, req: ApiRequest) -> ApiResponse:
    user = find_user(emu.org, req.params["id"])
    delay = emu.settings.lifecycle_delay_s
    if delay and _respond_async(req) and user.pending_op != "activate":
        # `Prefer: respond-async` (L-USERS): answered at once, the deactivation or deletion lands later.
        if user.pending_op is None:
            op = "delete" if user.status == "DEPROVISIONED" else "deactivate"
            _begin(emu, user, op, req, delay)
        return ApiResponse(204)
    delete_user(emu.org, user, req.info)
    return ApiResponse(204)


def _begin(emu: Emulator, user: UserRecord, op: str, req: ApiRequest, delay: float) -> None:
    emu.transitions.begin(user, op, req.info, delay)
    emu.settle_when_due()  # lands even if no request comes


def _lifecycle_async(emu: Emulator, req: ApiRequest, user: UserRecord, op: str) -> ApiResponse | None:
    """With `lifecycle_delay_s`: deactivation answers at once and lands later; activation answers
    once it has landed, and meanwhile the user is `transitioningToStatus` (FACTS §2: activate
    takes no `Prefer: respond-async`). None for the other operations (they are synchronous)."""
    delay = emu.settings.lifecycle_delay_s
    if op == "deactivate":
        if user.pending_op != "deactivate":  # a second deactivate while one is under way: accepted
            run_lifecycle(emu.org, user, op, req.info, send_email=req.flag("sendEmail", False), defer=True)
            _begin(emu, user, op, req, delay)
        return ApiResponse(200, {})
    if op == "activate":
        answer = run_lifecycle(
            emu.org, user, op, req.info, send_email=req.flag("sendEmail", True), defer=True
        )
        _begin(emu, user, op, req, delay)
        return ApiResponse(200, answer, then=lambda: emu.transitions.finish(user), wait_s=delay)
    return None


async def lifecycle(emu: Emulator, req: ApiRequest) -> ApiResponse:
    op = req.params["op"]
    user = find_user(emu.org, req.params["id"])
    if emu.settings.lifecycle_delay_s:
        deferred = _lifecycle_async(emu, req, user, op)
        if deferred is not None:
            return deferred
    if op == "reset_factors":
        return ApiResponse(200, {})
    if op == "expire_password_with_temp_password":
        run_lifecycle(emu.org, user, "expire_password", req.info, send_email=False)
        user.has_password = True
        emu.org.state.save_user(user)
        return ApiResponse(200, {"tempPassword": emu.org.ids.token(12)})
    if op not in _SEND_EMAIL_DEFAULT:
        raise OktaError.not_found(req.path, "Operation")
    answer = run_lifecycle(
        emu.org, user, op, req.info, send_email=req.flag("sendEmail", _SEND_EMAIL_DEFAULT[op])
    )
    if op == "expire_password":
        return ApiResponse(200, user_json(user, req.info.org_url, emu.org.state.meta))
    return ApiResponse(200, answer)


async def user_groups(emu: Emulator, req: ApiRequest) -> ApiResponse:
    user = find_user(emu.org, req.params["id"])
    state = emu.org.state
    ids = [
        emu.org.everyone_id,
        *sorted(state.user_groups.get(user.id, set()), key=lambda g: state.groups[g].seq),
    ]
    body = [group_json(state.groups[g], req.info.org_url) for g in ids if g in state.groups]
    base = f"{req.info.org_url}/api/v1/users/{user.id}/groups"
    return ApiResponse(200, body, link_headers(base, {}, 200, None))


async def empty_list(emu: Emulator, req: ApiRequest) -> ApiResponse:
    """Sub-resources the emulator does not model (grants, clients, idps, appLinks): always empty."""
    find_user(emu.org, req.params["id"])
    return ApiResponse(200, [])


async def no_content(emu: Emulator, req: ApiRequest) -> ApiResponse:
    """Revoking sessions or grants: the emulator keeps none for the Management API, so 204."""
    find_user(emu.org, req.params["id"])
    return ApiResponse(204)


async def blocks(emu: Emulator, req: ApiRequest) -> ApiResponse:
    """As recorded from an org without the feature (CASS test_list_user_blocks)."""
    find_user(emu.org, req.params["id"])
    raise OktaError.feature_not_enabled()


async def credentials(emu: Emulator, req: ApiRequest) -> ApiResponse:
    user = find_user(emu.org, req.params["id"])
    body = req.json()
    op = req.params["op"]
    if op == "change_password":
        user.has_password = True
        user.password_changed = user.last_updated = emu.org.now()
    elif op == "forgot_password":  # CASS test_forgot_password: the URL when sendEmail=false
        token = emu.org.ids.token()
        if req.flag("sendEmail", True):
            emu.org.password_reset_email(user, f"{req.info.org_url}/signin/reset-password/{token}")
            return ApiResponse(200, {})
        return ApiResponse(200, {"resetPasswordUrl": f"{req.info.org_url}/signin/reset-password/{token}"})
    elif op in ("change_recovery_question", "forgot_password_recovery_question"):
        question = body.get("recovery_question", {}) if isinstance(body, dict) else {}
        if isinstance(question, dict) and question.get("question"):
            user.recovery_question = str(question["question"])
        user.last_updated = emu.org.now()
    else:
        raise OktaError.not_found(req.path, "Operation")
    emu.org.state.save_user(user)
    answer: dict[str, object] = {"password": {}} if user.has_password else {}
    if user.recovery_question:
        answer["recovery_question"] = {"question": user.recovery_question}
    answer["provider"] = {"type": user.provider_type, "name": user.provider_name}
    return ApiResponse(200, answer)


ROUTES = [
    ("POST", "/api/v1/users", create),
    ("GET", "/api/v1/users", list_users),
    ("GET", "/api/v1/users/{id}", get),
    ("POST", "/api/v1/users/{id}", update),
    ("PUT", "/api/v1/users/{id}", update),
    ("DELETE", "/api/v1/users/{id}", delete),
    ("POST", "/api/v1/users/{id}/lifecycle/{op}", lifecycle),
    ("GET", "/api/v1/users/{id}/groups", user_groups),
    ("GET", "/api/v1/users/{id}/grants", empty_list),
    ("GET", "/api/v1/users/{id}/clients", empty_list),
    ("GET", "/api/v1/users/{id}/idps", empty_list),
    ("GET", "/api/v1/users/{id}/appLinks", empty_list),
    ("GET", "/api/v1/users/{id}/blocks", blocks),
    ("DELETE", "/api/v1/users/{id}/sessions", no_content),
    ("DELETE", "/api/v1/users/{id}/grants", no_content),
    ("POST", "/api/v1/users/{id}/credentials/{op}", credentials),
]
