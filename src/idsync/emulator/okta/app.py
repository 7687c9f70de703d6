"""The ASGI application of the Okta emulator.

`create_app(settings)` returns a plain Starlette app: `/api/v1/*` goes to the Okta pipeline
(rate limits, faults, Okta's errors), `/__emulator/*` to the admin endpoints, OpenID Connect and
the hosted sign-in pages to `oidc` and `login`, and any `extra_routes` to Starlette's router.
The `Emulator` is at `app.state.emulator`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from idsync.emulator.okta.admin import admin_routes
from idsync.emulator.okta.clock import Clock
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.login import login_routes
from idsync.emulator.okta.oidc import oidc_routes
from idsync.emulator.okta.pipeline import OktaPipeline
from idsync.emulator.okta.routes_idsources import identity_source_admin_routes
from idsync.emulator.okta.settings import EmulatorSettings

__all__ = ["create_app"]

_SLASHES = re.compile(r"/{2,}")
_RAW_SLASHES = re.compile(rb"/{2,}")


class _OktaApiDispatch:
    """Sends `/api/v1` requests to the pipeline before Starlette's router sees them (speed)."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.pipeline = OktaPipeline(emulator)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if "//" in path and scope["type"] == "http":
            # Okta's nginx merges repeated slashes: `//api/v1/users` is served (CASS test_forgot_password).
            path = _SLASHES.sub("/", path)
            raw = scope.get("raw_path") or b""
            scope = {**scope, "path": path, "raw_path": _RAW_SLASHES.sub(b"/", raw) if raw else None}
        if scope["type"] == "http" and (path == "/api/v1" or path.startswith("/api/v1/")):
            await self.pipeline(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(
    settings: EmulatorSettings | None = None,
    *,
    clock: Clock | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    emulator = Emulator(settings or EmulatorSettings(), clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await emulator.aclose()

    app = Starlette(
        routes=[
            *admin_routes(),
            *identity_source_admin_routes(),
            *oidc_routes(),
            *login_routes(),
            *extra_routes,
        ],
        middleware=[Middleware(_OktaApiDispatch, emulator=emulator)],
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app
