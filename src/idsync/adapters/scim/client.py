"""scim2-client's protocol core, sending over idsync's governed httpx client.

Why not scim2-client's own engine: it talks over `httpx2` with a client of its own, so its calls
would bypass the governor (pacing, Retry-After holds, retries, the circuit breaker, lane priority).
scim2-client is built sans-I/O: `SCIMClient` prepares requests and checks responses (RFC 7644
status codes, content types, payload validation against the server's discovered schemas), and an
engine only supplies `request()`. This module is that engine, over an `httpx.AsyncClient` whose
transport is `GovernedTransport` - the same stack as the Okta connector.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import httpx
from scim2_client import BaseAsyncSCIMClient
from scim2_client.client import RawResponse
from scim2_models import ResourceType, Schema, ScimProvider, ServiceProviderConfig

from idsync.errors import Unavailable, UnknownOutcome

__all__ = ["GovernedScimClient", "scim_bucket"]

_SAFE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Models built from what servers publish, by the exact schemas and resource types published.
_MODELS: dict[str, tuple[Any, ...]] = {}
_MODELS_KEPT = 16


def scim_bucket(request: httpx.Request) -> str:
    """The governor bucket of a SCIM request.

    SCIM defines no rate-limit headers; servers that limit answer 429 with Retry-After, and the
    governor then holds the bucket that got it. Reads, single writes, /Bulk and discovery are
    apart, so a hold on the write path does not stall the lookups the engine makes to resolve
    conflicts and lost answers.
    """
    path = request.url.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if last == "Bulk":
        return "bulk"
    if last in ("ServiceProviderConfig", "Schemas", "ResourceTypes"):
        return "discovery"
    return "read" if request.method == "GET" else "write"


class GovernedScimClient(BaseAsyncSCIMClient):
    """A scim2-client engine whose I/O is one governed `httpx.AsyncClient`.

    Governor errors (`RateLimited`, `Unavailable`, `UnknownOutcome`, `CircuitOpen`) are raised
    by the transport and pass through the library unchanged; other httpx failures are wrapped
    here, so nothing but the `ProviderError` tree leaves the connector.
    """

    def __init__(self, http: httpx.AsyncClient, provider_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = http
        self.provider_name = provider_name

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.http.base_url
        try:
            url = self.http.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        return (
            url.scheme == base.scheme
            and url.netloc == base.netloc
            and url.raw_path.startswith(base.raw_path.rstrip(b"/"))
        )

    def _describe_service(
        self,
        schemas: Collection[Schema] | None,
        resource_types: Collection[ResourceType],
        config: ServiceProviderConfig | None,
    ) -> ScimProvider:
        """As scim2-client's, but the pydantic models built from published schemas (~0.5 s of CPU)
        are reused when a server publishes exactly the same schemas again - every connector
        instance still reads the server's current description."""
        if schemas is None:
            return super()._describe_service(schemas, resource_types, config)
        key = json.dumps(
            [
                [s.model_dump(mode="json") for s in schemas],
                [r.model_dump(mode="json") for r in resource_types],
            ],
            sort_keys=True,
        )
        models = _MODELS.get(key)
        if models is None:
            provider = super()._describe_service(schemas, resource_types, config)
            if len(_MODELS) >= _MODELS_KEPT:
                del _MODELS[next(iter(_MODELS))]
            _MODELS[key] = tuple(provider.models)
            return provider
        return ScimProvider(models=models, resource_types=resource_types, config=config, policy=self._policy)

    async def request(self, method: str, url: str, **kwargs: Any) -> RawResponse:
        if "json" in kwargs:  # RFC 7644 §3.1: SCIM bodies are application/scim+json
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": "application/scim+json"}
        try:
            return await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:  # what the governed transport does not classify itself
            where = f"{self.provider_name} {method} {url}"
            if method in _SAFE:
                raise Unavailable(
                    f"{where}: {type(exc).__name__}: {exc}", provider=self.provider_name
                ) from exc
            raise UnknownOutcome(
                f"{where}: {type(exc).__name__}: {exc}; the write may have happened",
                provider=self.provider_name,
            ) from exc
