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
from starlette.exceptions import HTTPException

from idsync import __version__
from idsync.config import Settings
from idsync.lifecycle.modes import check_mode_switches
from idsync.runtime import Runtime
from idsync.web import routes
from idsync.web.auth import check_bearer
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

    # No public /docs, /redoc or /openapi.json: every route but health needs the token, and the
    # schema is served below behind it (load it into any OpenAPI viewer).
    app = FastAPI(
        title="idsync",
        version=__version__,
        lifespan=lifespan,
        description="Keeps application users and identity-provider accounts in step.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check_bearer)])
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
        app.include_router(module.router, dependencies=[] if public else [Depends(check_bearer)])
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)  # e.g. register a background task in app.state.background
    return app
