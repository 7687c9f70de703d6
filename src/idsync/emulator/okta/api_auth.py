"""OAuth 2.0 access tokens on `/api/v1`: the Bearer and DPoP schemes and the scope of each operation.

What Okta answers (observed, terraform-provider-okta #2375; devforum "Get User Info by access
token"): a token without the scope an operation needs gets 403 with
`WWW-Authenticate: <scheme> [algs="..."], authorization_uri="{org}/oauth2/v1/authorize",
realm="{org}", scope="okta.users.read", error="insufficient_scope", error_description="The access
token provided does not contain the required scopes.", resource="/api/v1/users"`. The body is
E0000006 (UNVERIFIED); a token that is not valid gets 401 E0000011 with `error="invalid_token"`.
A DPoP-bound token needs the DPoP scheme and a fresh proof with `ath` and the bound key; each
proof's `jti` is accepted once (Okta's DPoP guide). The scope an operation needs is the spec's
(`scopes`).

Why a module of its own: the pipeline asks one question ("who is calling?") and gets a principal
name for the rate limiter (`oauth:<client id>`: each OAuth app has its own share of a bucket,
like each API token) or None when the header is not an OAuth scheme (then the API token decides).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idsync.emulator.okta.access_tokens import AccessToken, service_auth
from idsync.emulator.okta.dpop import ALGS, DPoPError, verify_proof
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.http import ApiRequest
from idsync.emulator.okta.routes_grants import client_id_of
from idsync.emulator.okta.scopes import scope_table

if TYPE_CHECKING:
    from idsync.emulator.okta.emulator import Emulator

__all__ = ["oauth_principal"]

INSUFFICIENT = "The access token provided does not contain the required scopes."


def _split(header: str) -> tuple[str, str] | None:
    """("bearer" | "dpop", token) for an OAuth scheme (with or without the space the SDK omits)."""
    for scheme in ("bearer", "dpop"):
        if header[: len(scheme)].lower() == scheme:
            token = header[len(scheme) :].strip()
            if token.count(".") == 2:
                return scheme, token
    return None


def _challenge(scheme: str, org_url: str, **params: str) -> tuple[str, str]:
    parts = [f'algs="{" ".join(ALGS)}"'] if scheme == "dpop" else []
    parts += [f'authorization_uri="{org_url}/oauth2/v1/authorize"', f'realm="{org_url}"']
    parts += [f'{k}="{v}"' for k, v in params.items()]
    return ("www-authenticate", ("DPoP " if scheme == "dpop" else "Bearer ") + ", ".join(parts))


def _refuse(err: OktaError, header: tuple[str, str]) -> OktaError:
    err.headers = (header,)
    return err


def _invalid_token(scheme: str, org_url: str, description: str) -> OktaError:
    header = _challenge(scheme, org_url, error="invalid_token", error_description=description)
    return _refuse(OktaError.invalid_token(), header)


def _invalid_proof(org_url: str, description: str) -> OktaError:
    header = _challenge("dpop", org_url, error="invalid_dpop_proof", error_description=description)
    return _refuse(OktaError.invalid_token(), header)


def _active_client(emu: Emulator, cid: str) -> bool:
    return any(
        app.status == "ACTIVE" and app.body.get("signOnMode") == "OPENID_CONNECT" and client_id_of(app) == cid
        for app in emu.org.state.apps.values()
    )


def _check_proof(emu: Emulator, req: ApiRequest, token: AccessToken, value: str) -> None:
    org_url = req.info.org_url
    proof_jwt = req.headers.get("dpop")
    if not proof_jwt:
        raise _invalid_proof(org_url, "The DPoP proof JWT header is missing.")
    host = req.headers.get("host", "")
    urls = (org_url + req.path, f"http://{host}{req.path}", f"https://{host}{req.path}")
    auth, now = service_auth(emu), emu.clock.now()
    try:
        proof = verify_proof(proof_jwt, method=req.method, urls=urls, now=now, access_token=value)
    except DPoPError as exc:
        raise _invalid_proof(org_url, str(exc)) from exc
    if proof.jkt != token.jkt:
        raise _invalid_proof(org_url, "The DPoP proof is not signed by the key the access token is bound to.")
    if auth.proofs.used(proof.jti, now):
        raise _invalid_proof(org_url, "The DPoP proof JWT has already been used ('jti').")
    auth.proofs.remember(proof.jti, proof.iat + 600, now)


def oauth_principal(emu: Emulator, req: ApiRequest, raw_path: str) -> str | None:
    """`oauth:<client id>` for a valid access token with the scopes of this operation; Okta's
    error otherwise; None when the request does not use an OAuth scheme."""
    header = req.headers.get("authorization")
    found = _split(header) if header else None
    if found is None:
        return None
    scheme, value = found
    org_url = req.info.org_url
    token = service_auth(emu).read(value, org_url)
    if token is None or not _active_client(emu, token.client_id):
        raise _invalid_token(scheme, org_url, "The access token is invalid or has expired.")
    if token.jkt is not None:
        if scheme != "dpop":
            raise _invalid_token(scheme, org_url, "The access token is DPoP-bound: use the DPoP scheme.")
        _check_proof(emu, req, token, value)
    elif scheme == "dpop":
        raise _invalid_token(scheme, org_url, "The access token is not DPoP-bound: use the Bearer scheme.")
    required = scope_table().required(req.method, raw_path)
    missing = [s for s in required if s not in token.scopes]
    if missing:
        header_value = _challenge(
            scheme,
            org_url,
            scope=" ".join(required),
            error="insufficient_scope",
            error_description=INSUFFICIENT,
            resource=req.path,
        )
        raise _refuse(OktaError.forbidden(), header_value)
    return f"oauth:{token.client_id}"
