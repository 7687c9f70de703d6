"""The safety threshold over HTTP: runs held for deactivating or deleting too many users
(domain/safety.py), and the answer: release them (an admin's: it forces the run) or discard what
they hold (an operator's). Both are recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from idsync.adapters.store.features.safety import SafetyRun
from idsync.adapters.store.features.safety_ops import discard_run, find_run, list_runs, release_run
from idsync.domain.authz import Action, Principal
from idsync.domain.models import Lane
from idsync.runtime import Runtime
from idsync.web.auth import audit, check_tenant, require
from idsync.web.tenancy import each_tenant

router = APIRouter(tags=["safety"])
_404: dict[int | str, dict[str, Any]] = {404: {"description": "No such run"}}
Reader = Annotated[Principal, Depends(require(Action.READ))]


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
async def runs(request: Request, principal: Reader, tenant: str | None = None) -> list[RunView]:
    """Runs that deactivated or deleted users, the most recent first; `tripped` ones hold changes."""
    rt: Runtime = request.app.state.runtime

    async def fetch(name: str | None) -> list[SafetyRun]:
        return list(await rt.db.call(list_runs, rt.store, tenant=name))

    return [_view(r) for r in await each_tenant(request, principal, tenant, fetch)]


async def _find(request: Request, run_id: str, principal: Principal) -> SafetyRun:
    """The run, if the caller may read its tenant (else 404, as if it did not exist)."""
    rt: Runtime = request.app.state.runtime
    found = await rt.db.call(find_run, rt.store, run_id)
    if found is None or not principal.may(Action.READ, found.tenant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no safety run {run_id!r}")
    return found


@router.get("/safety/runs/{run_id:path}", responses=_404)
async def run(run_id: str, request: Request, principal: Reader) -> RunView:
    """One run by its id (`tenant/import`) or its import id."""
    return _view(await _find(request, run_id, principal))


async def _act(
    request: Request,
    run_id: str,
    principal: Principal,
    action: Action,
    apply: Callable[..., tuple[SafetyRun, int] | None],
    name: str,
) -> RunAction:
    rt: Runtime = request.app.state.runtime
    await check_tenant(request, principal, action, (await _find(request, run_id, principal)).tenant)
    done = await rt.db.call(apply, rt.store, run_id)
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no safety run {run_id!r}")
    found, n = done
    await audit(request, principal, name, found.run_id, found.tenant, "ok", {"changes": n})
    rt.worker.notify(Lane.INTERACTIVE)
    return RunAction(run=_view(found), changes=n)


@router.post("/safety/runs/{run_id:path}/release", responses=_404)
async def release(
    run_id: str, request: Request, principal: Annotated[Principal, Depends(require(Action.FORCE))]
) -> RunAction:
    """Send what the run holds, and everything it sends from now on (forces the run: admin)."""
    return await _act(request, run_id, principal, Action.FORCE, release_run, "safety.release")


@router.post("/safety/runs/{run_id:path}/discard", responses=_404)
async def discard(
    run_id: str, request: Request, principal: Annotated[Principal, Depends(require(Action.DISCARD))]
) -> RunAction:
    """Drop the run's held deactivations/deletions (each ends `skipped`, reason `safety_threshold`)."""
    return await _act(request, run_id, principal, Action.DISCARD, discard_run, "safety.discard")
