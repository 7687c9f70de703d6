"""Okta's event-hook endpoint: `GET` answers the one-time verification, `POST` takes deliveries.

Public (Okta has no API token of ours) but every request must carry the integration's shared
secret in `Authorization`, compared in constant time; a missing or wrong one is refused (401)
and logged without what was presented. A delivery is stored durably and answered 204 at once
(Okta waits 3 s and retries once); the worker applies it asynchronously.

`setup()` starts the inbound worker with the app and puts the service at `app.state.inbound`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status

from idsync.domain.events import DeliveryError
from idsync.inbound.service import InboundService, Removed, UnknownIntegration
from idsync.inbound.worker import Worker

public = True
router = APIRouter(tags=["okta event hooks"])

MAX_BODY = 5 * 1024 * 1024


def setup(app: FastAPI) -> None:
    app.state.background.append(("inbound", _start))


def _start(app: FastAPI) -> Coroutine[Any, Any, None]:
    """Builds the service at once (routes use it from the first request); the worker runs as a task."""
    rt = app.state.runtime
    service = InboundService(rt.settings, rt.db, rt.idps, clock=rt.clock)
    app.state.inbound = service

    async def run() -> None:
        await service.start()
        try:
            await Worker(service).run(app.state.stop)
        finally:
            await service.aclose()

    return run()


def _service(request: Request, name: str) -> InboundService:
    service: InboundService | None = getattr(request.app.state, "inbound", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="inbound sync is starting")
    try:
        service.context(name)
    except UnknownIntegration:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such hook") from None
    return service


async def _check_secret(request: Request, service: InboundService, name: str) -> None:
    expected = service.secret(name)
    client = request.client.host if request.client else "unknown"
    if expected is None:
        await service.refused(name, "no hook secret is configured (hook_secret_env)", client)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="hook secret not configured")
    presented = request.headers.get("authorization")
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        await service.refused(
            name, "missing Authorization header" if presented is None else "wrong secret", client
        )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or wrong authorization")


@router.get("/hooks/okta/{name}")
async def verify(name: str, request: Request) -> dict[str, str]:
    """Okta's one-time verification: echo `x-okta-verification-challenge` as `{"verification": ...}`."""
    service = _service(request, name)
    await _check_secret(request, service, name)
    challenge = request.headers.get("x-okta-verification-challenge")
    if not challenge:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="no x-okta-verification-challenge header")
    await service.verified(name)
    return {"verification": challenge}


@router.post("/hooks/okta/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def deliver(name: str, request: Request) -> Response:
    """Store the delivery's events (duplicates recognised by uuid) and answer 204 at once."""
    service = _service(request, name)
    await _check_secret(request, service, name)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail="delivery too large")
    try:
        body: Any = json.loads(raw)
        await service.receive(name, body)
    except (ValueError, DeliveryError) as exc:  # 4xx: Okta does not retry what cannot succeed
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"not an event-hook delivery: {exc}"
        ) from None
    except Removed:
        raise HTTPException(status.HTTP_410_GONE, detail="integration removed") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
