"""Where the service app's token meets the connector's httpx client: two small layers.

- `OAuthAuth` (an `httpx.Auth`, outside the governor): makes sure a valid token exists before a
  call waits for its permit, and answers Okta's 401s: `invalid_token` (the token was revoked or
  expired early) fetches a new token once, `use_dpop_nonce` stores the nonce and sends again.
  A token that cannot be had raises there, before any permit is taken.
- `OAuthStamp` (a transport, inside the governor): writes `Authorization` and a fresh DPoP
  proof on every attempt, because the governor re-sends a request after a 429 or a 5xx and a
  DPoP proof may be used only once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from idsync.adapters.okta.oauth import AccessToken, ServiceTokens

__all__ = ["OAuthAuth", "OAuthStamp"]

TOKEN = "idsync.oauth_token"
"""Request extension: the `AccessToken` the request is sent with."""


def _challenge(response: httpx.Response) -> str:
    return str(response.headers.get("www-authenticate", ""))


class OAuthAuth(httpx.Auth):
    def __init__(self, tokens: ServiceTokens) -> None:
        self.tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the Okta connector is asynchronous")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(3):
            token = await self.tokens.current()
            request.extensions[TOKEN] = token
            response = yield request
            if response.status_code != 401 or attempt == 2:
                return
            challenge = _challenge(response)
            if 'error="use_dpop_nonce"' in challenge and response.headers.get("dpop-nonce"):
                self.tokens.resource_nonce = response.headers["dpop-nonce"]
            elif 'error="invalid_token"' in challenge:
                self.tokens.invalidate(token)
            else:
                return


class OAuthStamp(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, tokens: ServiceTokens) -> None:
        self._inner = inner
        self.tokens = tokens

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = request.extensions.get(TOKEN)
        if isinstance(token, AccessToken):
            request.headers["Authorization"] = f"{token.token_type} {token.value}"
            if token.dpop:
                request.headers["DPoP"] = self.tokens.dpop_key.proof(
                    request.method,
                    str(request.url),
                    nonce=self.tokens.resource_nonce,
                    access_token=token.value,
                )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
        await self.tokens.aclose()
