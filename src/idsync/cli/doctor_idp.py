"""`idsync doctor`, the IdP part: can idsync reach Okta, authenticate, and what may it spend there?

Each finding is a value (`Finding`); `doctor.py` prints them. The reads are harmless (a page of
one user, a lookup of a login that cannot exist, a page of one app or group) and show the
`X-Rate-Limit-*` counters Okta keeps for this token or app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from idsync.adapters.okta import OktaConnector
from idsync.adapters.okta.buckets import okta_bucket
from idsync.adapters.okta.errors import okta_error
from idsync.adapters.okta.oauth import credentials_from_settings
from idsync.clock import SystemClock
from idsync.config import IdpSettings, Settings
from idsync.engine.governor import Governor
from idsync.engine.pacer import RateHeaders
from idsync.errors import IdSyncError
from idsync.lifecycle.estimate import OKTA_DEFAULT_LIMITS, OKTA_TOKEN_SHARE, format_duration

__all__ = ["Finding", "check_idp"]

PROBE_LOGIN = "idsync-doctor-probe@idsync.invalid"  # `.invalid` (RFC 2606): never a real account
MAX_SKEW_S = 30.0
USERS = {"okta.users.read": "look users up and list them", "okta.users.manage": "create and change users"}
PORTALS = {"okta.apps.read", "okta.apps.manage", "okta.groups.read"}
HOOKS = {"okta.eventHooks.read", "okta.eventHooks.manage", "okta.groups.read"}  # inbound (docs/inbound.md)
SOURCES = "okta.identitySources.manage"  # identity_source (docs/migration.md, "Identity sources")


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warn" (works, but mind this) or "problem" (fix it)
    text: str
    fix: str = ""


def _ok(text: str) -> Finding:
    return Finding("ok", text)


async def check_idp(settings: Settings, name: str) -> list[Finding]:
    idp = settings.idps[name]
    if idp.type == "emulator":
        return [_ok("the built-in Okta emulator: started with idsync, nothing to check")]
    if idp.type == "scim":
        return await _check_scim(idp)
    return await _check_okta(settings, name, idp)


async def _reach(url: str) -> tuple[list[Finding], bool]:
    """Okta's public discovery document: reachable? how far apart are the clocks?"""
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{url.rstrip('/')}/.well-known/oauth-authorization-server")
    except httpx.HTTPError as exc:
        fix = "check idps.<name>.url, DNS, proxies and firewalls between this machine and Okta"
        return [Finding("problem", f"cannot reach {url} ({type(exc).__name__})", fix)], False
    found = [
        _ok(f"reachable: {url} answered {answer.status_code} in {1000 * (time.monotonic() - started):.0f} ms")
    ]
    try:
        skew = time.time() - parsedate_to_datetime(answer.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return found, True
    if abs(skew) > MAX_SKEW_S:
        side = "ahead of" if skew > 0 else "behind"
        fix = "synchronise this machine's clock (NTP): Okta refuses client assertions whose time looks wrong"
        found.append(Finding("problem", f"this machine's clock is {abs(skew):.0f} s {side} Okta's", fix))
    return found, True


async def _check_okta(settings: Settings, name: str, idp: IdpSettings) -> list[Finding]:
    assert idp.url is not None
    found, reachable = await _reach(idp.url)
    quick = idp.governor.model_copy(update={"max_retries": 0, "max_rate_limit_waits": 1})
    governor = Governor(name, quick, SystemClock())
    try:
        oauth = credentials_from_settings(name, idp)
        token = idp.token.get_secret_value() if idp.token else ""
        connector = OktaConnector(
            name, idp.url, token, governor, timeout_s=idp.governor.timeout_s, oauth=oauth
        )
    except IdSyncError as exc:  # a private key that is not one: checked even when Okta is out of reach
        return [
            *found,
            Finding("problem", str(exc), "put the app's private key (PEM or JWK) in that variable"),
        ]
    if not reachable:
        await connector.aclose()
        return found
    try:
        authenticated, granted = await _auth(connector, idp, found)
        if authenticated:
            await _reads(connector, settings, name, idp, granted, found)
    finally:
        await connector.aclose()
    return found


async def _auth(
    connector: OktaConnector, idp: IdpSettings, found: list[Finding]
) -> tuple[bool, frozenset[str] | None]:
    """(authenticated, the granted scopes: None for an API token, which is not scoped)."""
    if connector.tokens is None:
        found.append(_ok(f"auth: API token (SSWS) from environment variable {idp.token_env}"))
        return True, None
    assert idp.oauth is not None
    try:
        token = await connector.tokens.current()
    except IdSyncError as exc:
        found.append(Finding("problem", f"auth: {exc}"))
        return False, None
    kind = "DPoP-bound" if token.dpop else "Bearer"
    kid = f", key id {connector.tokens.kid}" if connector.tokens.kid else ""
    lifetime = format_duration(token.expires_at - time.time())
    app = f"OAuth 2.0 service app {idp.oauth.client_id} (private_key_jwt{kid})"
    found.append(_ok(f"auth: {app}; {kind} token for {lifetime}"))
    asked = set(idp.oauth.scopes)
    missing = sorted(asked - token.scopes)
    help_ = (
        f"grant them to service app {idp.oauth.client_id} (Admin Console: the app's Okta API Scopes tab, "
        "or POST /api/v1/apps/<app id>/grants)"
    )
    if missing:
        found.append(Finding("problem", f"scopes not granted: {', '.join(missing)}", help_))
    found.append(_ok(f"scopes granted: {', '.join(sorted(token.scopes)) or 'none'}"))
    needed = dict(USERS)
    if idp.identity_source is not None:
        needed[SOURCES] = "load users through identity source import sessions"
    for scope, why in needed.items():
        if scope not in asked:
            found.append(
                Finding(
                    "problem", f"idsync needs {scope} to {why}", f"add {scope} to oauth.scopes and grant it"
                )
            )
    return True, token.scopes


async def _reads(
    connector: OktaConnector,
    settings: Settings,
    name: str,
    idp: IdpSettings,
    granted: frozenset[str] | None,
    found: list[Finding],
) -> None:
    hooks = any(i.idp == name for i in settings.inbound.values())
    probes = [
        ("list users", "/api/v1/users", {"limit": "1"}, "okta.users.read"),
        ("look a login up", f"/api/v1/users/{PROBE_LOGIN}", {}, "okta.users.read"),
        ("list apps (portals)", "/api/v1/apps", {"limit": "1"}, "okta.apps.read"),
        ("list groups (portals)", "/api/v1/groups", {"limit": "1"}, "okta.groups.read"),
    ]
    if hooks:
        probes.append(("list event hooks (inbound)", "/api/v1/eventHooks", {}, "okta.eventHooks.read"))
    if idp.identity_source is not None:
        path = f"/api/v1/identity-sources/{idp.identity_source.id}/sessions"
        probes.append(("list import sessions (identity source)", path, {}, SOURCES))
    if granted is not None:
        _optional_scopes(granted, hooks, found)
    for i, (label, path, params, scope) in enumerate(probes):
        if granted is not None and scope not in granted:
            continue
        try:
            answer = await connector.read_raw(path, params)
        except IdSyncError as exc:
            found.append(Finding("problem", f"{label}: {exc}"))
            return
        if i == 0 and granted is None:  # an API token is checked by the first read
            if answer.status_code in (401, 403):
                refused = okta_error(name, answer)
                fix = "put a valid API token there (Admin Console > Security > API > Tokens)"
                found.append(
                    Finding("problem", f"auth: the API token in {idp.token_env} was refused: {refused}", fix)
                )
                return
            found.append(_ok(f"auth: API token (SSWS) from environment variable {idp.token_env}: accepted"))
        if answer.status_code >= 400 and "/identity-sources/" in path:
            found.append(_source_refused(label, name, idp, answer))
            continue
        if answer.status_code >= 400 and not (answer.status_code == 404 and PROBE_LOGIN in path):
            found.append(Finding("problem", f"{label}: {okta_error(name, answer)}"))
            continue
        found.append(_rate_finding(label, okta_bucket(answer.request), answer, idp))


def _source_refused(label: str, name: str, idp: IdpSettings, answer: httpx.Response) -> Finding:
    """The identity source cannot be used: a problem, or a warning when the tenant falls back."""
    assert idp.identity_source is not None
    standard = idp.identity_source.fallback == "standard"
    text = f"{label}: {okta_error(name, answer)}" + (
        "; bulk imports will create users one by one (fallback = standard)" if standard else ""
    )
    fix = (
        "ask Okta to enable Identity Source Apps for the org, check that identity_source.id is the Custom "
        f"Identity Source's app id, and that the token may use {SOURCES}"
    )
    return Finding("warn" if standard else "problem", text, fix)


def _optional_scopes(granted: frozenset[str], hooks: bool, found: list[Finding]) -> None:
    missing = sorted(PORTALS - granted)
    if missing:
        text = f"portals (idsync portals) would need {', '.join(missing)}: not granted"
        found.append(Finding("warn", text, "grant them only if this IdP registers portal apps"))
    if hooks and HOOKS - granted:
        text = f"the inbound sync needs {', '.join(sorted(HOOKS - granted))}: not granted"
        found.append(Finding("problem", text, "grant them to the service app and add them to oauth.scopes"))


def _rate_finding(label: str, bucket: str, answer: httpx.Response, idp: IdpSettings) -> Finding:
    rate = RateHeaders.parse(answer.headers)
    if rate is None:
        return Finding("warn", f"{label}: {answer.status_code}, no X-Rate-Limit headers")
    budget = int(rate.limit * idp.governor.budget_share)
    text = (
        f"{label}: {answer.status_code}; bucket {bucket}: limit {rate.limit}/min for this "
        f"{'token' if idp.oauth is None else 'app'}, {rate.remaining} left, resets in "
        f"{max(rate.reset - (rate.date or time.time()), 0):.0f} s; idsync spends up to {budget}/min "
        f"(budget_share {idp.governor.budget_share:g})"
    )
    org = OKTA_DEFAULT_LIMITS.get(bucket)
    if org:
        share = rate.limit / org
        text += f"; that is {share:.0%} of Okta's documented {org}/min for the org"
        if share <= OKTA_TOKEN_SHARE:
            default = (
                "Okta's default share" if share == OKTA_TOKEN_SHARE else "below Okta's default 50% share"
            )
            text += f" ({default} for one token or app: raise it under Rate limits in the Admin Console)"
    if rate.remaining < rate.limit * 0.5:
        fix = "another application may be using this token or app; idsync paces itself from these counters"
        return Finding("warn", text + f"; {rate.limit - rate.remaining} already used in this window", fix)
    return _ok(text)


async def _check_scim(idp: IdpSettings) -> list[Finding]:
    assert idp.url is not None
    token = idp.token.get_secret_value() if idp.token else ""
    try:
        async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
            answer = await client.get(f"{idp.url.rstrip('/')}/ServiceProviderConfig")
    except httpx.HTTPError as exc:
        return [Finding("problem", f"cannot reach {idp.url} ({type(exc).__name__})", "check idps.<name>.url")]
    if answer.status_code in (401, 403):
        return [
            Finding("problem", f"SCIM server refused the token ({answer.status_code})", "check token_env")
        ]
    return [_ok(f"SCIM server {idp.url} answered {answer.status_code} (ServiceProviderConfig)")]
