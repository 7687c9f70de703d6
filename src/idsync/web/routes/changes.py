"""Single changes over HTTP: submit one (answered with its result when it is done within
`service.interactive_wait_s`, else 202 and where to poll), and look one up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from idsync.domain.authz import Action, Principal
from idsync.domain.models import ChangeMessage, Lane, Reason
from idsync.domain.records import Received
from idsync.engine.ingest import Defaults
from idsync.runtime import Runtime
from idsync.service.views import ChangeView, change_view, wait_for_result
from idsync.web.auth import check_tenant, require

router = APIRouter(tags=["changes"])


@router.post(
    "/changes",
    responses={
        200: {"description": "Done: the result is in the body"},
        202: {"description": "Queued or in progress: poll the `url` (also in the Location header)"},
    },
)
async def submit_change(
    change: ChangeMessage,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Action.SUBMIT))],
) -> ChangeView:
    """Submit one change. Without `import_id` it takes the interactive lane, ahead of imports."""
    await check_tenant(request, principal, Action.SUBMIT, change.tenant)
    rt: Runtime = request.app.state.runtime
    ((change_id, parsed),) = await rt.ingestor.receive(
        [Received(payload=change.model_dump(mode="json", exclude_none=True))], Defaults(origin="http")
    )
    if isinstance(parsed, Reason) or change_id is None:  # validated above; kept for safety
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=getattr(parsed, "message", ""))
    rt.worker.notify(Lane(parsed.lane))
    row = await wait_for_result(rt, change_id, request.app.state.settings.service.interactive_wait_s)
    if row is None:
        row = await rt.stores.queue.change_result(change_id)
        assert row is not None
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = f"/changes/{change_id}"
    return change_view(row)


@router.get("/changes/{change_id}", responses={404: {"description": "No such change"}})
async def get_change(
    change_id: int, request: Request, principal: Annotated[Principal, Depends(require(Action.READ))]
) -> ChangeView:
    """A change's state and, once done, its result."""
    rt: Runtime = request.app.state.runtime
    row = await rt.stores.queue.change_result(change_id)
    if row is None or not principal.may(Action.READ, str(row["tenant"])):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no change {change_id}")
    return change_view(row)
