"""API tokens over HTTP: list, create (the token is answered once), revoke. An admin's on every
tenant, like `idsync tokens`; each create and revoke is recorded in the audit trail."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from idsync.adapters.store.features.tokens import TokenRow, list_tokens
from idsync.domain.authz import Action, Principal
from idsync.lifecycle.tokens import TokenRequestError, make_token, parse_expiry, revoke
from idsync.web.auth import require

router = APIRouter(tags=["tokens"])
Admin = Annotated[Principal, Depends(require(Action.TOKENS, installation=True))]


class TokenRequest(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Annotated[str, Field(description="viewer, operator or admin")]
    tenants: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="None: every tenant (admin tokens only)"
    )
    expires: Annotated[str | None, Field(description="90d, 12h, 30m; none: until revoked")] = None


class TokenView(BaseModel):
    id: str
    name: str
    role: str
    tenants: list[str]  # empty: every tenant
    state: str  # active | expired | revoked
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None


def _view(row: TokenRow) -> TokenView:
    return TokenView(
        id=row.id,
        name=row.name,
        role=row.role.label,
        tenants=list(row.tenants),
        state=row.state(time.time()),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


@router.get("/tokens")
async def tokens(request: Request, principal: Admin, revoked: bool = False) -> list[TokenView]:
    """The API tokens (never a token or its hash); `revoked=true` lists revoked ones too."""
    rt = request.app.state.runtime
    return [_view(r) for r in await rt.db.call(list_tokens, rt.store, include_revoked=revoked)]


@router.post(
    "/tokens", status_code=status.HTTP_201_CREATED, responses={201: {"description": "The token, once"}}
)
async def create(request: Request, principal: Admin, body: TokenRequest) -> JSONResponse:
    """Make a token; the answer is the only place it is ever shown."""
    rt = request.app.state.runtime
    try:
        made = await rt.db.call(
            make_token,
            rt.store,
            rt.settings,
            name=body.name,
            role=body.role,
            tenants=body.tenants,
            expires_in_s=parse_expiry(body.expires),
            actor=principal.actor,
        )
    except TokenRequestError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    body_out = {**_view(made.row).model_dump(), "token": made.token}
    return JSONResponse(body_out, status_code=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


@router.post("/tokens/{token_id}/revoke", responses={404: {"description": "No such token"}})
async def revoke_one(token_id: str, request: Request, principal: Admin) -> TokenView:
    """Revoke a token at once (its sessions on the dashboard end with it)."""
    rt = request.app.state.runtime
    row = await rt.db.call(revoke, rt.store, token_id, actor=principal.actor)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no token {token_id!r}")
    return _view(row)
