"""The safety threshold over HTTP: runs held for deactivating or deleting too many users
(domain/safety.py), and the operator's answer: release them or discard what they hold."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from idsync.adapters.store.features.safety import SafetyRun, discard_run, find_run, list_runs, release_run
from idsync.domain.models import Lane
from idsync.runtime import Runtime

router = APIRouter(tags=["safety"])
_404: dict[int | str, dict[str, Any]] = {404: {"description": "No such run"}}


class RunView(BaseModel):
    run_id: str
    tenant: str
    import_id: str | None
    state: str  # open | tripped | released
    linked_users: int
    allowance: int
    admitted: int  # deactivations/deletions let through
    held: int  # changes held (not sent)
    discarded: int
    forced: bool
    summary: str


class RunAction(BaseModel):
    run: RunView
    changes: int  # released to the queue, or discarded


def _view(run: SafetyRun) -> RunView:
    return RunView(
        run_id=run.run_id,
        tenant=run.tenant,
        import_id=run.import_id,
        state=run.state,
        linked_users=run.linked_users,
        allowance=run.allowance,
        admitted=run.admitted,
        held=run.held,
        discarded=run.discarded,
        forced=run.forced,
        summary=run.describe(),
    )


@router.get("/safety/runs")
async def runs(request: Request, tenant: str | None = None) -> list[RunView]:
    """Runs that deactivated or deleted users, the most recent first; `tripped` ones hold changes."""
    rt: Runtime = request.app.state.runtime
    return [_view(r) for r in await rt.db.call(list_runs, rt.store, tenant=tenant)]


@router.get("/safety/runs/{run_id:path}", responses=_404)
async def run(run_id: str, request: Request) -> RunView:
    """One run by its id (`tenant/import`) or its import id."""
    rt: Runtime = request.app.state.runtime
    found = await rt.db.call(find_run, rt.store, run_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no safety run {run_id!r}")
    return _view(found)


async def _act(request: Request, run_id: str, action: Any) -> RunAction:
    rt: Runtime = request.app.state.runtime
    done = await rt.db.call(action, rt.store, run_id)
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no safety run {run_id!r}")
    found, n = done
    rt.worker.notify(Lane.INTERACTIVE)
    return RunAction(run=_view(found), changes=n)


@router.post("/safety/runs/{run_id:path}/release", responses=_404)
async def release(run_id: str, request: Request) -> RunAction:
    """Send what the run holds, and everything it sends from now on."""
    return await _act(request, run_id, release_run)


@router.post("/safety/runs/{run_id:path}/discard", responses=_404)
async def discard(run_id: str, request: Request) -> RunAction:
    """Drop the run's held deactivations/deletions (each ends `skipped`, reason `safety_threshold`)."""
    return await _act(request, run_id, discard_run)
