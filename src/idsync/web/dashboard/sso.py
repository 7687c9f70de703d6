"""The dashboard's sign-in through the organisation's IdP: OpenID Connect, authorization code with
PKCE (S256), done by Authlib's Starlette client (discovery, state, nonce, PKCE, the code
exchange, the ID token's signature and claims). idsync only keeps the pending sign-in between
the redirect and the callback and turns the ID token's groups into roles.

Why a cookie of our own for the pending sign-in: Authlib keeps it in `request.session`, which
Starlette's SessionMiddleware would supply for every route; here it lives in one signed, HttpOnly
cookie scoped to `/dashboard/sso` that lasts ten minutes. It is SameSite=Lax, because the IdP's
redirect back is a cross-site navigation, on which a Strict cookie is not sent. It holds the
state, the nonce and the PKCE verifier, never a token or the client secret.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.deprecate import AuthlibDeprecationWarning
from fastapi import Request
from fastapi.responses import Response
from joserfc.errors import JoseError

from idsync.config.access import SsoSettings
from idsync.domain.authz import Role, grants_from_groups
from idsync.web.dashboard.session import Signed

with warnings.catch_warnings():
    # Authlib 1.9 says on import that its httpx client will move to the `httpx2` fork; idsync
    # pins httpx, which Authlib still supports. Nothing else is silenced.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

# Authlib logs the PKCE verifier at DEBUG ("Using code_verifier: ..."): a one-time secret that
# would let whoever reads the log redeem an intercepted code. That one record is dropped.
logging.getLogger("authlib.integrations.base_client.sync_app").addFilter(
    lambda record: "code_verifier" not in record.getMessage()
)

__all__ = ["PENDING_COOKIE", "PENDING_PATH", "SignInRefused", "SsoClient", "SsoSignIn"]

PENDING_COOKIE = "idsync_sso_pending"
PENDING_PATH = "/dashboard/sso"
PENDING_LIFETIME_S = 600
CALLBACK = "/dashboard/sso/callback"


class SignInRefused(Exception):
    """The IdP said no, the answer did not check out, or the groups grant nothing (the message
    is safe to show: it names no token, code or secret)."""

    def __init__(self, message: str, actor: str = "sso:?") -> None:
        super().__init__(message)
        self.actor = actor


@dataclass(frozen=True)
class SsoSignIn:
    actor: str  # sso:LOGIN
    subject: str
    grants: dict[str, Role]
    groups: list[str]


class SsoClient:
    """One configured IdP; `start` sends the browser there, `finish` reads its answer."""

    def __init__(self, settings: SsoSettings, key: bytes) -> None:
        self.settings = settings
        self._pending = Signed(key, b"idsync-sso-pending-v1")
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        self._oauth = OAuth()
        self.client: Any = self._oauth.register(
            "idp",
            client_id=settings.client_id,
            client_secret=secret,
            server_metadata_url=settings.metadata_url,
            client_kwargs={
                "scope": " ".join(settings.scopes),
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
                "timeout": 10.0,
            },
        )

    def redirect_uri(self, request: Request) -> str:
        return self.settings.redirect_uri or str(request.base_url).rstrip("/") + CALLBACK

    async def start(self, request: Request) -> Response:
        """A redirect to the IdP's authorize endpoint, with the pending sign-in in its cookie."""
        request.scope["session"] = {}
        response: Response = await self.client.authorize_redirect(request, self.redirect_uri(request))
        response.set_cookie(
            PENDING_COOKIE,
            self._pending.dump(request.scope["session"]),
            max_age=PENDING_LIFETIME_S,
            path=PENDING_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def finish(self, request: Request) -> SsoSignIn:
        """Check the IdP's answer against the pending sign-in, exchange the code (with the PKCE
        verifier), verify the ID token, and map its groups to roles."""
        request.scope["session"] = self._pending.load(request.cookies.get(PENDING_COOKIE)) or {}
        try:
            token = await self.client.authorize_access_token(request)
        except AuthlibBaseError as exc:  # the IdP's error, a state mismatch, a refused code
            raise SignInRefused(f"the sign-in did not complete ({exc.error}); try again") from None
        except JoseError as exc:  # the ID token's signature or claims
            raise SignInRefused(f"the IdP's ID token did not check out ({exc.error})") from None
        except httpx.HTTPError as exc:
            raise SignInRefused(f"the IdP did not answer ({type(exc).__name__}); try again") from None
        claims = token.get("userinfo")
        if not claims:
            raise SignInRefused("the IdP sent no ID token")
        raw = claims.get(self.settings.groups_claim) or []
        groups = [g for g in raw if isinstance(g, str)] if isinstance(raw, list) else []
        login = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
        grants = grants_from_groups(groups, self.settings.grants())
        if not grants:
            raise SignInRefused(
                f"{login} signed in, but none of their groups is mapped to a role in "
                "service.sso.groups; ask an administrator",
                actor=f"sso:{login}",
            )
        return SsoSignIn(actor=f"sso:{login}", subject=str(claims["sub"]), grants=grants, groups=groups)


def clear_pending(response: Response) -> None:
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH, httponly=True, samesite="lax")
