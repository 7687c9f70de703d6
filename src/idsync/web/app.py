"""The FastAPI application of `idsync serve`. Its lifespan builds the runtime (the composition
root) and starts the workers; routes are thin and call the engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from idsync import __version__
from idsync.config import Settings
from idsync.domain.authz import Action
from idsync.lifecycle.modes import check_mode_switches
from idsync.runtime import Runtime
from idsync.web import routes
from idsync.web.auth import authenticate, is_guard, require
from idsync.web.errors import BodyLimit, body_error_handler, validation_error_handler

log = logging.getLogger("idsync.web")

# Started with the app, stopped with it: (name, coroutine factory taking the app).
BackgroundTask = Callable[[FastAPI], Any]


def create_app(settings: Settings, *, runtime: Runtime | None = None, start_worker: bool = True) -> FastAPI:
    """`runtime` lets tests share one; by default the app builds and closes its own."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            rt = runtime if runtime is not None else await stack.enter_async_context(Runtime(settings))
            if runtime is None:
                await check_mode_switches(rt)
            app.state.runtime = rt
            app.state.stop = asyncio.Event()
            tasks: list[asyncio.Task[Any]] = []
            if start_worker:
                tasks.append(asyncio.create_task(rt.worker.run(stop=app.state.stop), name="worker"))
            for name, factory in app.state.background:
                tasks.append(asyncio.create_task(factory(app), name=name))
            app.state.tasks = tasks
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                app.state.stop.set()
                rt.worker.wakeup.set()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await asyncio.wait_for(task, timeout=10)

    # No public /docs, /redoc or /openapi.json: every route but health needs a credential, and
    # the schema is served below behind it (load it into any OpenAPI viewer).
    app = FastAPI(
        title="idsync",
        version=__version__,
        lifespan=lifespan,
        description="Keeps application users and identity-provider accounts in step.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require(Action.READ))])
    async def openapi_schema() -> dict[str, Any]:
        return app.openapi()

    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, body_error_handler)
    app.add_middleware(BodyLimit)
    app.state.settings = settings
    app.state.api_token = (
        settings.service.api_token.get_secret_value() if settings.service.api_token else None
    )
    app.state.ready = False
    app.state.background = []
    for module in routes.load():
        public = getattr(module, "public", False)
        app.include_router(module.router, dependencies=[] if public else [Depends(authenticate)])
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)  # e.g. register a background task in app.state.background
    _check_guards(app, public={"/healthz", "/readyz", "/access/login-url"})
    return app


def _guarded(dependant: Any) -> bool:
    return any(is_guard(d.call) or _guarded(d) for d in dependant.dependencies)


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, inside included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI's included router
            found += _api_routes(route.original_router.routes)
    return found


def _check_guards(app: FastAPI, public: set[str]) -> None:
    """Refuse to start with a route in the schema that declares no guard (`require(...)`): it
    would be open to every caller with any credential. Routes outside the schema (the
    dashboard's HTML shells and sign-in, the IdP's webhooks) check their own credential."""
    routes = _api_routes(app.routes)
    open_routes = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in routes
        if route.include_in_schema
        and route.path not in public
        and not route.path.startswith("/hooks/")
        and not _guarded(route.dependant)
    ]
    if len(routes) < 10:  # the walk itself broke (a FastAPI change): fail loudly, not open
        raise RuntimeError(f"found only {len(routes)} routes to check for guards")
    if open_routes:
        raise RuntimeError("routes without a guard (idsync.web.auth.require): " + ", ".join(open_routes))
