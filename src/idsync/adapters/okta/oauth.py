"""OAuth 2.0 for Okta with a service app: the access tokens idsync's Okta calls carry.

How Okta wants it ("Implement OAuth for Okta with a service app", FACTS §9, okta-sdk-python's
`jwt.py`/`dpop.py`):
- client credentials at `{org}/oauth2/v1/token`, authenticated with private_key_jwt: a JWT
  `{iss = sub = client id, aud = the token endpoint, iat, exp (+5 min), jti}` signed by the
  app's private key, `kid` naming which of its public keys (key rotation);
- scoped tokens: Okta leaves out requested scopes the app was not granted;
- DPoP when the app requires it (Okta answers `invalid_dpop_proof` "The DPoP proof JWT header is
  missing.") or when configured; each proof carries the server's nonce (`use_dpop_nonce`).

`ServiceTokens` keeps one token, renews it before it expires (one fetch at a time, under an
asyncio lock) on its own httpx client: token requests never count against the Management API
buckets the governor paces. A refusal (wrong key, missing scopes, clock skew) becomes an
`Unauthorized` whose message says what to fix, and is remembered for `REFUSAL_COOL_DOWN_S` so a
bad key does not hammer Okta's token endpoint. Keys, assertions, tokens and proofs are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from idsync.adapters.okta.dpop import DPoPKey
from idsync.clock import Clock, SystemClock
from idsync.errors import ConfigError, ProviderError, RateLimited, Unauthorized, Unavailable

if TYPE_CHECKING:
    from idsync.config import IdpSettings

__all__ = ["AccessToken", "OAuthCredentials", "ServiceTokens", "credentials_from_settings"]

log = logging.getLogger("idsync.adapters.okta.oauth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300
REFUSAL_COOL_DOWN_S = 30.0
CLOCK_SKEW_S = 30.0
"""Beyond this difference from Okta's `Date`, a refusal is explained as clock skew."""
GRANTS_HELP = (
    "grant it in Okta (Admin Console > Applications > the service app > Okta API Scopes, "
    'or POST /api/v1/apps/{{appId}}/grants {{"issuer": "{org}", "scopeId": "<scope>"}})'
)


@dataclass(frozen=True)
class OAuthCredentials:
    client_id: str
    private_key: str = field(repr=False)
    """PEM (PKCS#8 or PKCS#1) or a private JWK as JSON."""
    scopes: tuple[str, ...]
    key_id: str | None = None
    dpop: bool | None = None
    """True: always DPoP; False: never; None: when Okta asks for it."""
    renew_before_s: float = 300.0
    key_source: str = "the private key"
    """Where the key came from, for messages (e.g. "environment variable OKTA_PRIVATE_KEY")."""
    clock: Clock = field(default_factory=SystemClock, repr=False)


def credentials_from_settings(name: str, idp: IdpSettings) -> OAuthCredentials | None:
    """The service-app credentials of `[idps.<name>]`, or None when it uses an API token."""
    oauth = idp.oauth
    if oauth is None:
        return None
    return OAuthCredentials(
        client_id=oauth.client_id,
        private_key=oauth.private_key.get_secret_value() if oauth.private_key else "",
        scopes=tuple(oauth.scopes),
        key_id=oauth.key_id,
        dpop=oauth.dpop,
        renew_before_s=oauth.renew_before_s,
        key_source=f"environment variable {oauth.private_key_env} (idps.{name}.oauth.private_key_env)",
    )


def _import(text: str, key_id: str | None) -> tuple[Any, str | None]:
    if text.startswith("{"):
        key = import_key(json.loads(text))
        return key, key_id or key.kid
    native = load_pem_private_key(text.encode(), password=None)
    if isinstance(native, rsa.RSAPrivateKey):
        return import_key(text, "RSA"), key_id
    if isinstance(native, ec.EllipticCurvePrivateKey):
        return import_key(text, "EC"), key_id
    raise ValueError("neither an RSA nor an EC key")


def signing_key(creds: OAuthCredentials) -> tuple[RSAKey | ECKey, str, str | None]:
    """(key, JWS algorithm, kid) of the private key; `ConfigError` naming its source otherwise."""
    problem = f"{creds.key_source} does not hold an RSA or EC private key (PEM or JWK)"
    try:
        key, kid = _import(creds.private_key.strip(), creds.key_id)
    except (ValueError, TypeError, JoseError):
        raise ConfigError(problem) from None
    if not isinstance(key, RSAKey | ECKey) or not key.is_private:
        raise ConfigError(problem)
    if isinstance(key, RSAKey):
        return key, "RS256", kid
    curve = str(key.as_dict().get("crv", "P-256"))
    return key, {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(curve, "ES256"), kid


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    token_type: str
    """`Bearer` or `DPoP`: the Authorization scheme to send it with."""
    scopes: frozenset[str]
    expires_at: float
    renew_at: float

    @property
    def dpop(self) -> bool:
        return self.token_type.lower() == "dpop"


class ServiceTokens:
    """The current access token of one service app, fetched and renewed on demand."""

    def __init__(
        self,
        org_url: str,
        creds: OAuthCredentials,
        *,
        provider: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        user_agent: str = "idsync",
    ) -> None:
        self.org_url = org_url.rstrip("/")
        self.token_url = f"{self.org_url}/oauth2/v1/token"
        self.creds = creds
        self.provider = provider
        self.key, self.alg, self.kid = signing_key(creds)
        self.dpop_key = DPoPKey(creds.clock)
        self.use_dpop = creds.dpop is True
        self.nonce: str | None = None
        """The token endpoint's DPoP nonce."""
        self.resource_nonce: str | None = None
        """A DPoP nonce the Management API asked for (Okta does not, today)."""
        self.fetches = 0
        self._owns_transport = transport is None
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(retries=1),
            timeout=timeout_s,
            headers={"Accept": "application/json", "User-Agent": user_agent},
        )
        self._token: AccessToken | None = None
        self._refusal: tuple[float, ProviderError] | None = None
        self._lock = asyncio.Lock()
        self._warned: frozenset[str] = frozenset()

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._client.aclose()

    async def current(self) -> AccessToken:
        """A token valid for a while yet: the cached one, or a new one (one fetch at a time)."""
        token = self._token
        if token is not None and self.creds.clock.time() < token.renew_at:
            return token
        async with self._lock:
            now = self.creds.clock.time()
            token = self._token
            if token is not None and now < token.renew_at:
                return token
            if self._refusal is not None and now < self._refusal[0]:
                raise self._refusal[1]
            try:
                self._token = await self._fetch()
            except Unauthorized as refused:
                self._refusal = (now + REFUSAL_COOL_DOWN_S, refused)
                raise
            self._refusal = None
            return self._token

    def invalidate(self, token: AccessToken) -> None:
        """Okta no longer accepts `token` (revoked, or its clock is ahead of ours): fetch anew."""
        if self._token is token:
            self._token = None

    def _assertion(self) -> str:
        now = int(self.creds.clock.time())
        claims = {
            "iss": self.creds.client_id,
            "sub": self.creds.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": secrets.token_urlsafe(24),
        }
        header = {"alg": self.alg, **({"kid": self.kid} if self.kid else {})}
        return jwt.encode(header, claims, self.key)

    async def _fetch(self) -> AccessToken:
        for _attempt in range(4):
            headers = {}
            if self.use_dpop:
                headers["DPoP"] = self.dpop_key.proof("POST", self.token_url, nonce=self.nonce)
            form = {
                "grant_type": "client_credentials",
                "scope": " ".join(self.creds.scopes),
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self._assertion(),
            }
            try:
                response = await self._client.post(self.token_url, data=form, headers=headers)
            except httpx.HTTPError as exc:
                raise Unavailable(
                    f"{self.provider}: cannot reach Okta's token endpoint {self.token_url} "
                    f"({type(exc).__name__})",
                    provider=self.provider,
                ) from exc
            self.fetches += 1
            if response.status_code == 200:
                return self._accept(response)
            error, description = _oauth_error(response)
            if error == "use_dpop_nonce" and response.headers.get("dpop-nonce"):
                self.nonce = response.headers["dpop-nonce"]
                continue
            asked = error == "invalid_dpop_proof" and "missing" in description
            if asked and self.creds.dpop is None and not self.use_dpop:
                log.info("%s: service app %s requires DPoP; using it", self.provider, self.creds.client_id)
                self.use_dpop = True
                continue
            raise self._refused(response, error, description)
        raise Unauthorized(
            f"{self.provider}: Okta kept refusing the DPoP proofs of service app {self.creds.client_id}",
            provider=self.provider,
            error_code="invalid_dpop_proof",
        )

    def _accept(self, response: httpx.Response) -> AccessToken:
        try:
            body = response.json()
            value = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(
                f"{self.provider}: Okta's token endpoint answered 200 without an access token",
                provider=self.provider,
            ) from exc
        lifetime = float(body.get("expires_in") or 3600)
        scopes = frozenset(str(body.get("scope") or "").split())
        missing = frozenset(self.creds.scopes) - scopes
        if missing and missing != self._warned:
            self._warned = missing
            log.warning(
                "%s: service app %s was not granted %s; calls that need them will fail: %s",
                self.provider,
                self.creds.client_id,
                ", ".join(sorted(missing)),
                GRANTS_HELP.format(org=self.org_url),
            )
        now = self.creds.clock.time()
        margin = min(self.creds.renew_before_s, lifetime / 2)
        token_type = str(body.get("token_type") or "Bearer")
        log.info(
            "%s: new %s access token for service app %s (%.0f s, scopes %s)",
            self.provider,
            token_type,
            self.creds.client_id,
            lifetime,
            " ".join(sorted(scopes)),
        )
        return AccessToken(value, token_type, scopes, now + lifetime, now + lifetime - margin)

    def _skew(self, response: httpx.Response) -> float | None:
        """How far this machine's clock is ahead of Okta's (negative: behind), from `Date`."""
        try:
            server = parsedate_to_datetime(response.headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return None
        return self.creds.clock.time() - server

    def _refused(self, response: httpx.Response, error: str, description: str) -> ProviderError:
        where = f"{self.provider}: Okta refused an access token for service app {self.creds.client_id}"
        status = response.status_code
        if status == 429:
            return RateLimited(
                f"{where}: {description or 'rate limited'}", provider=self.provider, status_code=429
            )
        if status >= 500:
            return Unavailable(f"{where}: answered {status}", provider=self.provider, status_code=status)
        hint = _hint(self, error, description)
        skew = self._skew(response)
        specific = any(w in description.lower() for w in ("signature", "kid", "client_id", "scope"))
        if skew is not None and abs(skew) > CLOCK_SKEW_S and not specific:
            side = "ahead of" if skew > 0 else "behind"
            hint = (
                f"clock skew: this machine's clock is {abs(skew):.0f} s {side} Okta's (its Date header), "
                "so Okta reads the client assertion as issued in the future or expired; "
                "fix the clock (NTP) and try again"
            )
            error = "clock_skew"
        text = f"{where}: {error}: {description}" if description else f"{where}: {error}"
        return Unauthorized(f"{text} — {hint}", provider=self.provider, status_code=status, error_code=error)


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return str(body.get("error") or ""), str(body.get("error_description") or "")
    return "", response.reason_phrase


def _hint(tokens: ServiceTokens, error: str, description: str) -> str:
    creds, text = tokens.creds, description.lower()
    if error == "invalid_client" and "signature" in text:
        return (
            f"the private key in {creds.key_source} is not one of the service app's public keys: "
            "register its public key with the app, or configure the key that is registered"
        )
    if error == "invalid_client" and "kid" in text:
        if tokens.kid:
            return f"the key id {tokens.kid!r} names none of the service app's public keys: set oauth.key_id"
        return "the service app has several public keys: set oauth.key_id to the kid of this key"
    if error == "invalid_client" and "client_id" in text:
        return f"no active app has client id {creds.client_id}: check oauth.client_id and the app's status"
    if error == "invalid_client" and ("expir" in text or "future" in text):
        return "check this machine's clock (NTP): Okta reads the client assertion's time as wrong"
    if error in ("consent_required", "invalid_scope") or "scope" in text:
        scopes = ", ".join(creds.scopes)
        return f"idsync asks for {scopes}; none is granted to the service app: " + GRANTS_HELP.format(
            org=tokens.org_url
        )
    if error == "unauthorized_client":
        return (
            "the app may not use client credentials: make it an API Services app (grant client_credentials)"
        )
    if error == "invalid_dpop_proof":
        return "DPoP: check this machine's clock, or set oauth.dpop to match the app's DPoP setting"
    return "see Okta's System Log for the refused token request"
