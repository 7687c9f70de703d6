"""Liveness and readiness; public so that orchestrators can probe them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

public = True
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, response: Response) -> dict[str, object]:
    """The store answers and the workers run."""
    ready = bool(getattr(request.app.state, "ready", False))
    detail: dict[str, object] = {"ready": ready}
    if ready:
        rt = request.app.state.runtime
        try:
            depth = await rt.stores.queue.queue_depth()
            detail["queue_depth"] = {lane.name.lower(): n for lane, n in depth.items()}
        except Exception as exc:  # the store is down: not ready
            ready = False
            detail = {"ready": False, "store": type(exc).__name__}
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return detail
