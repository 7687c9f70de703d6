"""`/__emulator/*`: inspection and control of the emulator (no token, no rate limit, no faults).

These are not Okta endpoints: tests, benchmarks and the demo use them to look inside (stats,
the e-mail outbox, every user with its status) and to steer (faults, reset, bulk seeding).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idsync.emulator.okta.admin_http import json_object, problem
from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.models import UserRecord, transitioning_to
from idsync.emulator.okta.render import outbox_json
from idsync.emulator.okta.seed import seed_users

__all__ = ["admin_routes"]


def _emu(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    emu.settle()  # what an admin reads includes the asynchronous transitions that have landed
    return emu


async def health(request: Request) -> Response:
    emu = _emu(request)
    return JSONResponse({"status": "ok", "users": len(emu.state.users), "token": emu.settings.token})


async def stats(request: Request) -> Response:
    emu = _emu(request)
    now = emu.clock.now()
    outbox = emu.state.outbox
    served = dict(emu.stats.served_429)
    body: dict[str, Any] = {
        "now": now,
        "requests": emu.stats.requests,
        "served_429": {**served, "total": sum(served.values())},
        "rate_limit": {
            "time_scale": emu.settings.time_scale,
            "window_s": emu.limiter.window_s,
            "token_share": emu.limiter.token_share,
            "background_load": emu.limiter.background_load,
            "limits": dict(emu.limiter.limits),
            "token_limits": {b: emu.limiter.token_limit(b) for b in emu.limiter.limits},
            "totals": emu.limiter.totals(),
        },
        "users_by_status": emu.state.status_counts(),
        "users_total": len(emu.state.users),
        "emails_sent": len(outbox),
        "activation_emails_sent": sum(1 for e in outbox if e.kind == "activation"),
        "duplicate_login_rejections": emu.org.counters.get("duplicate_login_rejections", 0),
        "faults": {
            "settings": emu.faults.settings.to_dict(),
            "seed": emu.faults.seed,
            "injected": emu.faults.injected,
        },
        "concurrency": {
            "limit": emu.settings.concurrency_limit,
            "in_flight": emu.in_flight,
            "max_in_flight": emu.stats.max_in_flight,
        },
        "hooks": dict(emu.hooks.counts),
    }
    if request.query_params.get("windows", "true") != "false":
        since = float(request.query_params.get("since", "0") or 0)
        body["rate_limit_windows"] = [w for w in emu.limiter.windows(now) if w["window_end"] > since]
    return JSONResponse(body)


async def reset(request: Request) -> Response:
    _emu(request).reset()
    return JSONResponse({"status": "reset"})


async def outbox(request: Request) -> Response:
    emu = _emu(request)
    user_id, to = request.query_params.get("user_id"), request.query_params.get("to")
    entries = [
        outbox_json(e)
        for e in emu.state.outbox
        if (user_id is None or e.user_id == user_id) and (to is None or e.to.casefold() == to.casefold())
    ]
    return JSONResponse(entries)


async def faults(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "POST":
        changes = await json_object(request)
        if isinstance(changes, JSONResponse):
            return changes
        seed = changes.pop("seed", None)
        try:
            updated = emu.faults.settings.with_changes(changes)
        except (TypeError, ValueError) as exc:
            return problem(str(exc))
        emu.set_faults(updated, None if seed is None else int(seed))
    return JSONResponse({**emu.faults.settings.to_dict(), "seed": emu.faults.seed})


def _user_summary(emu: Emulator, user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "login": user.login,
        "status": user.status,
        "profile": user.profile,
        "activation_emails": user.activation_emails,
        "created": iso_timestamp(user.created),
        "lastUpdated": iso_timestamp(user.last_updated),
        "groups": sorted(emu.state.user_groups.get(user.id, set())),
        **({"transitioningToStatus": t} if (t := transitioning_to(user)) else {}),
    }


async def users(request: Request) -> Response:
    emu = _emu(request)
    if request.method == "POST":
        try:
            spec = await request.json()
            created = seed_users(emu.org, spec)
        except (TypeError, ValueError, KeyError) as exc:
            return problem(f"invalid seed request: {exc}")
        return JSONResponse({"created": created, "users_total": len(emu.state.users)})
    status, login = request.query_params.get("status"), request.query_params.get("login")
    selected = (
        u
        for u in emu.state.iter_users()
        if (status is None or u.status == status)
        and (login is None or u.login.casefold() == login.casefold())
    )
    return JSONResponse([_user_summary(emu, u) for u in selected])


async def complete_activation(request: Request) -> Response:
    """Play the user who follows the activation link: PROVISIONED becomes ACTIVE."""
    emu = _emu(request)
    user = emu.state.users.get(request.path_params["user_id"])
    if user is None:
        return problem("no such user", 404)
    if user.status != "PROVISIONED":
        return problem(f"user is {user.status}, not PROVISIONED", 409)
    now = emu.clock.now()
    user.status, user.status_changed, user.last_updated, user.activated = "ACTIVE", now, now, now
    user.has_password, user.password_changed, user.activation_token = True, now, None
    with emu.state.journal.batch():
        emu.state.save_user(user)
    return JSONResponse(_user_summary(emu, user))


async def hooks(request: Request) -> Response:
    emu = _emu(request)
    return JSONResponse({"counts": emu.hooks.counts, "deliveries": list(emu.hooks.deliveries)})


async def exchanges(request: Request) -> Response:
    return JSONResponse(_emu(request).recorder.as_dicts())


async def settings(request: Request) -> Response:
    return JSONResponse(dataclasses.replace(_emu(request).settings).to_dict())


def admin_routes() -> list[Route]:
    return [
        Route("/__emulator/health", health, methods=["GET"]),
        Route("/__emulator/stats", stats, methods=["GET"]),
        Route("/__emulator/reset", reset, methods=["POST"]),
        Route("/__emulator/outbox", outbox, methods=["GET"]),
        Route("/__emulator/faults", faults, methods=["GET", "POST"]),
        Route("/__emulator/users", users, methods=["GET", "POST"]),
        Route("/__emulator/users/{user_id}/complete-activation", complete_activation, methods=["POST"]),
        Route("/__emulator/hooks", hooks, methods=["GET"]),
        Route("/__emulator/exchanges", exchanges, methods=["GET"]),
        Route("/__emulator/settings", settings, methods=["GET"]),
    ]
