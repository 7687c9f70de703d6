"""SCIM requests through scim2-client: one method per exchange, answers as JSON-form dicts
(camelCase, as on the wire), failures as `ProviderError`.

scim2-client validates what we send against the server's discovered schemas and what comes back
against RFC 7644; `raise_scim_errors=False` hands us the server's `Error` objects, which
`errors.py` maps. The connector above deals only in dicts and typed errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from scim2_client import SCIMClientException
from scim2_models import (
    Context,
    Error,
    PatchOp,
    Resource,
    SCIMException,
    SearchRequest,
    ServiceProviderConfig,
)

from idsync.adapters.governed import IDEMPOTENT
from idsync.adapters.scim.bulk import BULK_REQUEST, Operation, OpResult
from idsync.adapters.scim.client import GovernedScimClient
from idsync.adapters.scim.errors import from_error, from_library, scim_error
from idsync.adapters.scim.mapping import id_from_location
from idsync.errors import InvalidRequest, NotFound, ProviderError, UnknownOutcome

__all__ = ["Page", "ScimWire"]

T = TypeVar("T")
_WANT_RESOURCE = {"excludedAttributes": "groups"}  # any attribute parameter makes PATCH answer 200 + body


@dataclass(frozen=True)
class Page:
    resources: list[dict[str, Any]]
    total: int | None


def as_json(result: object) -> dict[str, Any] | None:
    """A resource as on the wire; None for no content."""
    if isinstance(result, Resource):
        return result.model_dump(mode="json", by_alias=True, exclude_none=True, scim_ctx=None)
    if isinstance(result, dict):
        return result
    return None


class ScimWire:
    def __init__(self, scim: GovernedScimClient, provider: str) -> None:
        self._scim = scim
        self.provider = provider
        self._model: type[Resource[Any]] | None = None

    async def aclose(self) -> None:
        await self._scim.http.aclose()

    def adopt(self, discovered: ScimWire) -> None:
        """Take what another wire to the same server discovered (one discovery serves every lane)."""
        self._scim = GovernedScimClient(
            self._scim.http, self.provider, raise_scim_errors=False, provider=discovered._scim.provider
        )
        self._model = discovered._model

    @property
    def model(self) -> type[Resource[Any]]:
        assert self._model is not None, "discover() first"
        return self._model

    async def _call(self, where: str, call: Awaitable[T], *, write: bool) -> T:
        try:
            return await call
        except ProviderError:
            raise
        except (SCIMClientException, SCIMException) as exc:
            raise from_library(self.provider, exc, write=write, where=where) from exc

    def _ok(self, where: str, result: object) -> dict[str, Any] | None:
        if isinstance(result, Error):
            raise from_error(self.provider, result, where=where)
        return as_json(result)

    # ---- discovery and local checks ----------------------------------------------------------

    async def discover(self) -> ServiceProviderConfig | None:
        await self._call(f"{self.provider} discovery", self._scim.discover(), write=False)
        model = self._scim.get_resource_model("User")
        if model is None:
            raise InvalidRequest(
                f"{self.provider}: the SCIM server serves no User resource type", provider=self.provider
            )
        self._model = model
        return self._scim.provider.config

    def check_create(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` validated against the server's User schema and serialised for a POST; an invalid
        one fails here, for this user alone, instead of failing a whole bulk request."""
        try:
            payload = self._scim._prepare_create_request(self.model, body).payload
        except (SCIMException, SCIMClientException) as exc:
            raise from_library(self.provider, exc, write=True, where="create") from exc
        assert isinstance(payload, dict)
        return payload

    def check_patch(self, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            op = PatchOp[self.model].model_validate(patch)  # type: ignore[name-defined]
            dumped: dict[str, Any] = op.model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        except ValidationError as exc:
            raise InvalidRequest(
                f"{self.provider}: invalid PATCH: {exc.errors()[0]['msg']}", provider=self.provider
            ) from exc
        except SCIMException as exc:
            raise from_library(self.provider, exc, write=True, where="patch") from exc
        return dumped

    # ---- single requests ---------------------------------------------------------------------

    async def get(self, idp_id: str) -> dict[str, Any] | None:
        where = f"{self.provider} GET /Users/{idp_id}"
        try:
            return self._ok(where, await self._call(where, self._scim.query(self.model, idp_id), write=False))
        except NotFound:
            return None

    async def search(self, *, filter: str | None, start: int, count: int) -> Page:
        params: dict[str, Any] = {"start_index": start, "count": count}
        if filter is not None:
            params["filter"] = filter
        where = f"{self.provider} GET /Users"
        query = self._scim.query(self.model, query_parameters=SearchRequest(**params))
        result = await self._call(where, query, write=False)
        if isinstance(result, Error):
            raise from_error(self.provider, result, where=where)
        resources = [r for r in (as_json(x) for x in getattr(result, "resources", None) or []) if r]
        total = getattr(result, "total_results", None)
        return Page(resources, total if isinstance(total, int) else None)

    async def patch(
        self, idp_id: str, patch: dict[str, Any], *, want_resource: bool
    ) -> dict[str, Any] | None:
        where = f"{self.provider} PATCH /Users/{idp_id}"
        call = self._scim.modify(
            self.model,
            idp_id,
            self.check_patch(patch),
            params=_WANT_RESOURCE if want_resource else None,
            extensions={IDEMPOTENT: True},
        )
        return self._ok(where, await self._call(where, call, write=True))

    async def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        where = f"{self.provider} PUT /Users/{resource.get('id')}"
        result = self._ok(
            where, await self._call(where, self._scim.replace(self.model, resource), write=True)
        )
        if result is None:
            raise UnknownOutcome(f"{where}: answered without the resource", provider=self.provider)
        return result

    async def send(self, op: Operation) -> OpResult:
        """One write on its own (no /Bulk): the server's answer as an `OpResult`."""
        where = f"{self.provider} {op.method} {op.path}"
        idp_id = id_from_location(op.path) or ""
        call: Awaitable[object]
        if op.method == "POST" and op.data is not None:
            call = self._scim.create(self.model, op.data)
        elif op.method == "PATCH" and op.data is not None:
            call = self._scim.modify(self.model, idp_id, op.data, extensions={IDEMPOTENT: True})
        elif op.method == "DELETE":
            call = self._scim.delete(self.model, idp_id)
        else:
            raise ValueError(f"unsupported operation {op.method}")
        resource = self._ok(where, await self._call(where, call, write=True))
        location = resource.get("meta", {}).get("location") if resource else None
        return OpResult(201 if op.method == "POST" else 200, location, resource)

    # ---- /Bulk -------------------------------------------------------------------------------

    async def bulk(self, ops: Sequence[Operation]) -> tuple[list[OpResult | ProviderError], int | None]:
        """One /Bulk request; each operation's result or error, in order. When the server refuses
        the request as too large (413) or bulk as unsupported (501), the operations are sent one
        by one instead, and the refusal status is returned for the caller to adapt."""
        where = f"{self.provider} POST /Bulk ({len(ops)} operations)"
        payload = {
            "schemas": [BULK_REQUEST],
            "Operations": [op.bulk_entry(f"b{i}") for i, op in enumerate(ops)],
        }
        # Without a POST every operation is a replace or a delete: sending them again is safe.
        idempotent = all(op.method != "POST" for op in ops)
        call = self._scim.bulk(payload, check_request_payload=False, extensions={IDEMPOTENT: idempotent})
        response = await self._call(where, call, write=True)
        if isinstance(response, Error):
            status = int(response.status or 500)
            if status in (413, 501):
                return [await self._send_alone(op) for op in ops], status
            raise from_error(self.provider, response, where=where)
        answered = {o.bulk_id: o for o in getattr(response, "operations", None) or [] if o.bulk_id}
        outcomes: list[OpResult | ProviderError] = []
        for i, op in enumerate(ops):
            one = answered.get(f"b{i}")
            step = f"{self.provider} {op.method} {op.path} (in /Bulk)"
            if one is None or one.status is None:
                outcomes.append(
                    UnknownOutcome(f"{step}: the bulk response has no result for it", provider=self.provider)
                )
            elif 200 <= int(one.status) < 300:
                outcomes.append(OpResult(int(one.status), one.location, as_json(one.response)))
            elif isinstance(one.response, Error):
                outcomes.append(from_error(self.provider, one.response, where=step))
            else:
                outcomes.append(scim_error(self.provider, int(one.status), where=step))
        return outcomes, None

    async def _send_alone(self, op: Operation) -> OpResult | ProviderError:
        try:
            return await self.send(op)
        except ProviderError as exc:
            return exc
