"""The SCIM 2.0 connector: the `IdentityProvider` port over any RFC 7643/7644 service provider.

- Discovery first: the server's ServiceProviderConfig, ResourceTypes and Schemas are read once,
  on the first call. They decide PATCH or read-modify-PUT, /Bulk or single requests, filtered
  lookups or a scan, and the batch limits (`maxOperations`, `maxPayloadSize`).
- Every request goes through one governed httpx client (see `client.py`): the governor paces,
  honours 429 + Retry-After, retries idempotent requests and runs the circuit breaker.
- Creates, activations, deactivations and deletes go through the `/Bulk` micro-batcher when the
  server offers it (see `bulk.py`). Profile updates are sent alone, as a PATCH that asks for the
  resource back (`excludedAttributes`, RFC 7644 §3.5.2): the engine needs the account's login and
  status after an update, and a bulk operation's answer carries no resource, so batching an
  update would cost a GET afterwards - never fewer calls than the single PATCH.
- `active` carries the lifecycle; the status mapping is documented in `mapping.py`.
- Errors map as documented in `errors.py`, the same for single requests and bulk operations.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from idsync.adapters.http import close_clients, governed_clients
from idsync.adapters.scim.bulk import MicroBatcher, Operation, OpResult
from idsync.adapters.scim.client import GovernedScimClient, scim_bucket
from idsync.adapters.scim.mapping import (
    PATCH_OP,
    PHONE_KEYS,
    apply_profile,
    filter_literal,
    id_from_location,
    patch_operations,
    profile_of,
    status_of,
    to_idp_user,
    user_resource,
)
from idsync.adapters.scim.wire import ScimWire
from idsync.domain.models import Lane
from idsync.engine.governor import Governor
from idsync.errors import Conflict, InvalidRequest, NotFound, ProviderError, UnknownOutcome
from idsync.ports import Activation, IdpUser

__all__ = ["Capabilities", "ScimConnector"]

log = logging.getLogger("idsync.scim")
T = TypeVar("T")

USER_AGENT = "idsync/0.1 (+https://github.com/idsync/idsync)"
PUT_ATTEMPTS = 3  # read-modify-PUT rounds when the resource changes in between (412)


@dataclass
class _Shared:
    """What the connector learns once and every lane's view of it shares."""

    capabilities: Capabilities | None = None
    batcher: MicroBatcher | None = None
    discovery: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Capabilities:
    """What the server's ServiceProviderConfig offers, as the connector uses it."""

    patch: bool
    bulk: bool
    filter: bool
    etag: bool
    max_operations: int | None
    max_payload_bytes: int | None


class ScimConnector:
    """`IdentityProvider` for a SCIM 2.0 server; `base_url` is the SCIM root (".../v2")."""

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        governor: Governor,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        use_bulk: bool = True,
        bulk_window_s: float = 0.005,
    ) -> None:
        self.name = name
        self.governor = governor
        self.use_bulk = use_bulk
        self.bulk_window_s = bulk_window_s
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/scim+json",
            "User-Agent": USER_AGENT,
        }
        self._clients = governed_clients(
            base_url, governor, scim_bucket, headers=headers, timeout_s=timeout_s, transport=transport
        )
        self._wires = {
            lane: ScimWire(GovernedScimClient(http, name, raise_scim_errors=False), name)
            for lane, http in self._clients.items()
        }
        self._lane = Lane.BULK
        self._wire = self._wires[self._lane]
        self._shared = _Shared()

    def for_lane(self, lane: Lane) -> ScimConnector:
        """This connector with its calls paced in `lane` (ports.IdentityProvider)."""
        view = copy.copy(self)
        view._lane, view._wire = lane, self._wires[lane]
        return view

    @property
    def capabilities(self) -> Capabilities | None:
        return self._shared.capabilities

    async def aclose(self) -> None:
        if self._shared.batcher is not None:
            await self._shared.batcher.aclose()
        await close_clients(self._clients)

    # ---- discovery ---------------------------------------------------------------------------

    async def _ready(self) -> Capabilities:
        if self.capabilities is None:
            async with self._shared.discovery:  # the first calls arrive together: one discovery serves all
                if self.capabilities is None:
                    await self._discover()
        assert self.capabilities is not None
        return self.capabilities

    async def _discover(self) -> None:
        config = await self._wire.discover()
        for wire in self._wires.values():  # every lane's client knows the server's schemas
            if wire is not self._wire:
                wire.adopt(self._wire)
        bulk = config.bulk if config else None
        patch = config.patch if config else None
        filt = config.filter if config else None
        etag = config.etag if config else None
        caps = Capabilities(
            patch=bool(patch and patch.supported),
            bulk=bool(bulk and bulk.supported),
            filter=filt is None or filt.supported is not False,
            etag=bool(etag and etag.supported),
            max_operations=bulk.max_operations if bulk else None,
            max_payload_bytes=bulk.max_payload_size if bulk else None,
        )
        if caps.bulk and self.use_bulk and self._shared.batcher is None:
            self._shared.batcher = MicroBatcher(
                self._send_batch,
                self._send_one,
                window_s=self.bulk_window_s,
                max_operations=caps.max_operations or 100,
                max_payload_bytes=caps.max_payload_bytes,
            )
        log.info(
            "%s: SCIM server offers patch=%s bulk=%s (max %s ops, %s bytes) filter=%s etag=%s",
            self.name,
            caps.patch,
            caps.bulk,
            caps.max_operations,
            caps.max_payload_bytes,
            caps.filter,
            caps.etag,
        )
        self._shared.capabilities = caps

    @property
    def bulk_batches_sent(self) -> int:
        return self._shared.batcher.batches_sent if self._shared.batcher else 0

    # ---- writes: batched when the server offers /Bulk ----------------------------------------

    async def _write(self, op: Operation) -> OpResult:
        if self._shared.batcher is not None:
            return await self._shared.batcher.submit(op, self._lane)
        return await self._wire.send(op)

    async def _send_one(self, op: Operation, lane: Lane) -> OpResult:
        return await self._wires[lane].send(op)

    async def _send_batch(self, ops: Sequence[Operation], lane: Lane) -> list[OpResult | ProviderError]:
        outcomes, refused = await self._wires[lane].bulk(ops)
        if refused is not None and self._shared.batcher is not None:
            if refused == 501:  # the server does not do bulk after all: single requests from now on
                self._shared.batcher = None
            else:  # 413: the limits were too generous; halve the batches
                self._shared.batcher.max_operations = max(1, len(ops) // 2)
        return outcomes

    def _mapped(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a mapping function; its `InvalidRequest` names this IdP."""
        try:
            return fn(*args, **kwargs)
        except InvalidRequest as exc:
            exc.provider = exc.provider or self.name
            raise

    @staticmethod
    def _user_path(idp_id: str) -> str:
        return f"/Users/{quote(idp_id, safe='')}"

    async def create_user(self, profile: Mapping[str, Any], *, activate: bool) -> IdpUser:
        await self._ready()
        body = self._wire.check_create(self._mapped(user_resource, profile, active=activate))
        result = await self._write(Operation("POST", "/Users", body))
        if result.resource is not None:
            return to_idp_user(result.resource)
        idp_id = id_from_location(result.location)
        if idp_id is None:  # created, but we cannot tell which account: the engine looks it up
            raise UnknownOutcome(
                f"{self.name}: create of {profile.get('login')} answered without a location",
                provider=self.name,
            )
        return IdpUser(
            id=idp_id, login=str(body["userName"]), status=status_of(activate), profile=profile_of(body)
        )

    async def update_user(self, idp_id: str, profile: Mapping[str, Any]) -> IdpUser:
        caps = await self._ready()
        if not profile:  # nothing to change (SCIM refuses an empty PATCH): the account as it is
            current = await self.get_user(idp_id)
            if current is None:
                raise NotFound(f"{self.name}: no user {idp_id}", provider=self.name, status_code=404)
            return current
        if not caps.patch:
            return await self._replace(idp_id, lambda current: apply_profile(current, profile))
        if PHONE_KEYS & set(profile) and not set(profile) >= PHONE_KEYS:
            # phoneNumbers is written whole: the numbers this update does not name come from the IdP
            held = await self._wire.get(idp_id)
            if held is None:
                raise NotFound(f"{self.name}: no user {idp_id}", provider=self.name, status_code=404)
            kept = {k: v for k, v in profile_of(held).items() if k in PHONE_KEYS}
            profile = {**kept, **profile}
        patch = {"schemas": [PATCH_OP], "Operations": self._mapped(patch_operations, profile)}
        resource = await self._wire.patch(idp_id, patch, want_resource=True)
        if resource is None:  # a 204 although the resource was asked for
            user = await self.get_user(idp_id)
            if user is None:
                raise NotFound(f"{self.name}: user {idp_id} vanished during the update", provider=self.name)
            return user
        return to_idp_user(resource)

    async def _set_active(self, idp_id: str, active: bool) -> None:
        caps = await self._ready()
        if not caps.patch:
            await self._replace(idp_id, lambda current: {**current, "active": active})
            return
        patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": active}]}
        await self._write(Operation("PATCH", self._user_path(idp_id), self._wire.check_patch(patch)))

    async def activate_user(self, idp_id: str, *, send_email: bool) -> Activation:
        """`active: true`. SCIM has no activation e-mail or link: the IdP behind the SCIM server
        decides how the user learns of the account, so `send_email` has no effect."""
        await self._set_active(idp_id, True)
        return Activation()

    async def deactivate_user(self, idp_id: str) -> None:
        """`active: false`; deactivating an inactive user is no error."""
        await self._set_active(idp_id, False)

    async def delete_user(self, idp_id: str, *, deprovisioned: bool) -> None:
        """One DELETE whatever the status (SCIM needs no deactivation first); gone already is fine."""
        await self._ready()
        try:
            await self._write(Operation("DELETE", self._user_path(idp_id)))
        except NotFound:
            return

    async def _replace(self, idp_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> IdpUser:
        """Read, change, PUT with If-Match; again when the resource changed in between (412)."""
        for attempt in range(PUT_ATTEMPTS):
            current = await self._wire.get(idp_id)
            if current is None:
                raise NotFound(f"{self.name}: no user {idp_id}", provider=self.name, status_code=404)
            try:
                return to_idp_user(await self._wire.put(change(current)))
            except Conflict as exc:
                if exc.status_code != 412 or attempt == PUT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # ---- reads -------------------------------------------------------------------------------

    async def get_user(self, idp_id: str) -> IdpUser | None:
        await self._ready()
        resource = await self._wire.get(idp_id)
        return to_idp_user(resource) if resource is not None else None

    async def find_user(self, login: str) -> IdpUser | None:
        """By `userName eq "login"` (userName is case-insensitive, RFC 7643 §4.1.1); the answer must
        carry exactly this login. Servers without filtering are scanned page by page."""
        caps = await self._ready()
        wanted = login.lower()
        if caps.filter:
            page = await self._wire.search(filter=f"userName eq {filter_literal(login)}", start=1, count=10)
            candidates = [to_idp_user(r) for r in page.resources]
        else:
            candidates = [u async for u in self.list_users(page_size=200)]
        return next((u for u in candidates if u.login.lower() == wanted), None)

    async def list_users(
        self, *, page_size: int = 100, updated_since: str | None = None
    ) -> AsyncIterator[IdpUser]:
        """Every user, by index pagination (RFC 7644 §3.4.2.4); `updated_since` filters on
        `meta.lastModified`."""
        await self._ready()
        flt = f"meta.lastModified gt {filter_literal(updated_since)}" if updated_since else None
        start = 1
        while True:
            page = await self._wire.search(filter=flt, start=start, count=page_size)
            for resource in page.resources:
                yield to_idp_user(resource)
            start += len(page.resources)
            if not page.resources or (page.total is not None and start > page.total):
                return
