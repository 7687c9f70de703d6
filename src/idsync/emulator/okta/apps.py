"""Creating apps the way Okta completes them: defaults, OIDC client credentials, validation.

Why its own module: registering a portal's OpenID Connect app is a product feature (DESIGN),
and the rules (generated `client_id`/`client_secret`, required `grant_types`, the secret only in
the create answer) deserve tests of their own. Sources: FACTS §5, CASS test_create_open_id_connect_app.
"""

from __future__ import annotations

import copy
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import import_key

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.models import AppRecord
from idsync.emulator.okta.org import Org

__all__ = ["new_app", "replace_app"]

_SIGN_ON_MODES = {
    "AUTO_LOGIN",
    "BASIC_AUTH",
    "BOOKMARK",
    "BROWSER_PLUGIN",
    "OPENID_CONNECT",
    "SAML_1_1",
    "SAML_2_0",
    "SECURE_PASSWORD_STORE",
    "WS_FEDERATION",
}
# The sign-on mode of catalog apps sent without one, as Okta answered for them (CASS
# test_application_with_http_info_methods: a `bookmark` app without signOnMode is created
# BOOKMARK; the other pairs as recorded in test_create_*_app and the app lists).
_CATALOG_SIGN_ON = {
    "bookmark": "BOOKMARK",
    "oidc_client": "OPENID_CONNECT",
    "template_basic_auth": "BASIC_AUTH",
    "template_sps": "SECURE_PASSWORD_STORE",
    "template_swa": "BROWSER_PLUGIN",
    "template_swa3field": "BROWSER_PLUGIN",
    "okta_org2org": "SAML_2_0",
}
_NO_SECRET = {"none", "private_key_jwt"}
_NO_REDIRECT_GRANTS = {"client_credentials", "password", "urn:ietf:params:oauth:grant-type:token-exchange"}


def _invalid(field: str, cause: str) -> OktaError:
    return OktaError.api_validation(field, f"{field}: {cause}")


def _defaults(node: dict[str, Any], key: str, defaults: dict[str, Any]) -> None:
    """Fill in what the client left out, nested objects included (a PUT of `{"selfService": false}`
    is answered with Okta's `errorRedirectUrl`/`loginRedirectUrl` too, CASS test_replace_application)."""
    value = node.setdefault(key, copy.deepcopy(defaults))
    if not isinstance(value, dict):
        return
    for name, default in defaults.items():
        if isinstance(default, dict):
            _defaults(value, name, default)
        else:
            value.setdefault(name, default)


def _complete(org: Org, app_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    body = copy.deepcopy(body)
    if "signOnMode" not in body and body.get("name") in _CATALOG_SIGN_ON:
        body["signOnMode"] = _CATALOG_SIGN_ON[body["name"]]
    mode = body.get("signOnMode")
    if mode not in _SIGN_ON_MODES:
        raise _invalid("signOnMode", f"Invalid sign on mode {mode!r}")
    if not isinstance(body.get("label"), str) or not body["label"].strip():
        raise _invalid("label", "The field cannot be left blank")
    body.setdefault("name", "oidc_client" if mode == "OPENID_CONNECT" else "bookmark")
    accessibility = {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None}
    _defaults(body, "accessibility", accessibility)
    oidc = mode == "OPENID_CONNECT"
    body.setdefault(
        "visibility",
        {
            "autoSubmitToolbar": False,
            "hide": {"iOS": oidc, "web": oidc},
            "appLinks": {f"{body['name']}_link" if oidc else "login": True},
        },
    )
    body["visibility"].setdefault("autoLaunch", False)
    body.setdefault("features", [])
    credentials = body.setdefault("credentials", {})
    settings = body.setdefault("settings", {})
    if not isinstance(credentials, dict) or not isinstance(settings, dict):
        raise OktaError.malformed_body()
    credentials.setdefault("userNameTemplate", {"template": "${source.login}", "type": "BUILT_IN"})
    credentials.setdefault("signing", {})
    body.setdefault("universalLogout", None)
    settings.setdefault("app", {})
    # Defaults as recorded from a 2025 org (CASS test_list_applications_pagination_with_after).
    vpn = {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
    _defaults(settings, "notifications", {"vpn": vpn})
    settings.setdefault("manualProvisioning", False)
    settings.setdefault("implicitAssignment", False)
    settings.setdefault("notes", {"admin": None, "enduser": None})
    secret: str | None = None
    if oidc:
        secret = _complete_oidc(org, app_id, credentials, settings)
    return body, secret


def _complete_oidc(
    org: Org, app_id: str, credentials: dict[str, Any], settings: dict[str, Any]
) -> str | None:
    client = settings.get("oauthClient")
    if not isinstance(client, dict):
        raise _invalid("settings.oauthClient", "The field cannot be left blank")
    grants = client.get("grant_types")
    if not isinstance(grants, list) or not grants:
        raise _invalid("grant_types", "The field cannot be left blank")
    if not set(grants) <= _NO_REDIRECT_GRANTS:
        for field in ("redirect_uris", "response_types"):
            if not isinstance(client.get(field), list) or not client[field]:
                raise _invalid(field, "The field cannot be left blank")
    client.setdefault("application_type", "web")
    client.setdefault("issuer_mode", "ORG_URL")
    oauth = credentials.setdefault("oauthClient", {})
    oauth.setdefault("autoKeyRotation", True)
    oauth.setdefault("client_id", app_id)  # Okta's client_id is the app id unless one is given
    oauth.setdefault("token_endpoint_auth_method", "client_secret_basic")
    given_secret = oauth.pop("client_secret", None)
    credentials["signing"].setdefault("kid", org.ids.token(43))
    if oauth["token_endpoint_auth_method"] == "private_key_jwt":
        _check_jwks(client)
    if oauth["token_endpoint_auth_method"] in _NO_SECRET:
        return None
    return str(given_secret) if given_secret else org.ids.secret()


def _check_jwks(client: dict[str, Any]) -> None:
    """`private_key_jwt` needs the app's public keys (`settings.oauthClient.jwks`; the emulator does
    not fetch a `jwks_uri`). A private key or a key without a unique `kid` among several is refused."""
    jwks = client.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise _invalid("jwks", "A JSON Web Key Set is required for private_key_jwt client authentication")
    kids = [k.get("kid") for k in keys if isinstance(k, dict)]
    if len(keys) > 1 and (None in kids or len(set(kids)) != len(keys)):
        raise _invalid("jwks", "Each key needs its own kid when there are several keys")
    for i, key in enumerate(keys):
        try:
            imported = import_key(key) if isinstance(key, dict) else None
        except (JoseError, ValueError, TypeError):
            imported = None
        if imported is None or imported.is_private:
            raise _invalid("jwks", f"keys[{i}] is not a public RSA or EC JSON Web Key")


def new_app(org: Org, body: Any, *, activate: bool) -> AppRecord:
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    app_id = org.ids.object_id("0oa")
    completed, secret = _complete(org, app_id, body)
    now = org.now()
    status = "ACTIVE" if activate else "INACTIVE"
    return AppRecord(app_id, org.state.next_seq(), status, now, now, completed, secret)


def replace_app(org: Org, app: AppRecord, body: Any) -> AppRecord:
    """PUT: the new body replaces the old one; the OIDC client keeps its id and secret."""
    if not isinstance(body, dict):
        raise OktaError.malformed_body()
    old_client = app.body.get("credentials", {}).get("oauthClient", {})
    body = copy.deepcopy(body)
    oauth = body.get("credentials", {}).get("oauthClient")
    if isinstance(oauth, dict) and "client_id" in old_client:
        oauth.setdefault("client_id", old_client["client_id"])
    completed, secret = _complete(org, app.id, body)
    app.body = completed
    if secret is None or app.client_secret is None:  # a client that keeps needing a secret keeps its secret
        app.client_secret = secret
    app.last_updated = org.now()
    return app
