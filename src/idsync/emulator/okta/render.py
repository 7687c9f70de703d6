"""Records to Okta's JSON, links included, in the shapes recorded from real orgs (CASS).

Why separate from the state: the same record renders differently in a collection (links only
`self`, CORE "Links in collections") and alone, and the org URL is only known at request time.
"""

from __future__ import annotations

import copy
from typing import Any

from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.models import (
    AppGroupRecord,
    AppRecord,
    AppUserRecord,
    GroupRecord,
    HookRecord,
    OutboxEntry,
    UserRecord,
    transitioning_to,
)

__all__ = [
    "app_group_json",
    "app_json",
    "app_user_json",
    "group_json",
    "hook_json",
    "outbox_json",
    "user_json",
]

# Lifecycle links per status. STAGED, ACTIVE, PASSWORD_EXPIRED and SUSPENDED are as recorded in
# 2025 (CASS test_comprehensive_user_lifecycle, test_expire_password); the others are inferred
# from the legal operations (UNVERIFIED).
_ACTIVE_LINKS = (
    "suspend",
    "schema",
    "resetPassword",
    "forgotPassword",
    "expirePassword",
    "changeRecoveryQuestion",
    "self",
    "resetFactors",
    "type",
    "changePassword",
    "deactivate",
)
_USER_LINKS: dict[str, tuple[str, ...]] = {
    "STAGED": ("schema", "activate", "self", "resetFactors", "type"),
    "PROVISIONED": ("schema", "resetPassword", "reactivate", "self", "resetFactors", "type", "deactivate"),
    "ACTIVE": _ACTIVE_LINKS,
    "PASSWORD_EXPIRED": _ACTIVE_LINKS,  # as recorded (CASS test_expire_password, 2025)
    "RECOVERY": ("schema", "resetPassword", "reactivate", "self", "resetFactors", "type", "deactivate"),
    "LOCKED_OUT": ("schema", "unlock", "resetPassword", "self", "resetFactors", "type", "deactivate"),
    "SUSPENDED": ("schema", "unsuspend", "self", "resetFactors", "type", "deactivate"),
    "DEPROVISIONED": ("schema", "activate", "self", "type"),
}
_USER_LINK_PATHS = {
    "activate": "lifecycle/activate",
    "reactivate": "lifecycle/reactivate",
    "deactivate": "lifecycle/deactivate",
    "suspend": "lifecycle/suspend",
    "unsuspend": "lifecycle/unsuspend",
    "unlock": "lifecycle/unlock",
    "resetPassword": "lifecycle/reset_password",
    "expirePassword": "lifecycle/expire_password",
    "resetFactors": "lifecycle/reset_factors",
    "forgotPassword": "credentials/forgot_password",
    "changePassword": "credentials/change_password",
    "changeRecoveryQuestion": "credentials/change_recovery_question",
}


def _ts(epoch: float | None) -> str | None:
    return None if epoch is None else iso_timestamp(epoch)


def user_json(
    user: UserRecord, org: str, meta: dict[str, Any], *, collection: bool = False
) -> dict[str, Any]:
    credentials: dict[str, Any] = {}
    if user.has_password:
        credentials["password"] = {}
    if user.recovery_question:
        credentials["recovery_question"] = {"question": user.recovery_question}
    if user.email:
        credentials["emails"] = [{"value": user.email, "status": "VERIFIED", "type": "PRIMARY"}]
    credentials["provider"] = {"type": user.provider_type, "name": user.provider_name}
    self_href = f"{org}/api/v1/users/{user.id}"
    links: dict[str, Any]
    if collection:
        links = {"self": {"href": self_href}}
    else:
        links = {}
        for name in _USER_LINKS.get(user.status, ("self",)):
            if name == "self":
                links[name] = {"href": self_href}
            elif name == "schema":
                links[name] = {"href": f"{org}/api/v1/meta/schemas/user/{meta['schema_id']}"}
            elif name == "type":
                links[name] = {"href": f"{org}/api/v1/meta/types/user/{user.type_id}"}
            else:
                links[name] = {"href": f"{self_href}/{_USER_LINK_PATHS[name]}", "method": "POST"}
    body: dict[str, Any] = {
        "id": user.id,
        "status": user.status,
        "created": _ts(user.created),
        "activated": _ts(user.activated),
        "statusChanged": _ts(user.status_changed),
        "lastLogin": _ts(user.last_login),
        "lastUpdated": _ts(user.last_updated),
        "passwordChanged": _ts(user.password_changed),
        "type": {"id": user.type_id},
        "profile": dict(user.profile),
        "credentials": credentials,
        "_links": links,
    }
    transitioning = transitioning_to(user)
    if transitioning is not None:  # only while an asynchronous transition is under way (SPEC)
        body["transitioningToStatus"] = transitioning
    return body


def group_json(group: GroupRecord, org: str) -> dict[str, Any]:
    logo = f"{org}/assets/img/logos/groups/odyssey/okta"
    return {
        "id": group.id,
        "created": _ts(group.created),
        "lastUpdated": _ts(group.last_updated),
        "lastMembershipUpdated": _ts(group.last_membership_updated),
        "objectClass": ["okta:user_group"],
        "type": group.type,
        "profile": dict(group.profile),
        "_links": {
            "logo": [
                {"name": "medium", "href": f"{logo}-medium.png", "type": "image/png"},
                {"name": "large", "href": f"{logo}-large.png", "type": "image/png"},
            ],
            "users": {"href": f"{org}/api/v1/groups/{group.id}/users"},
            "apps": {"href": f"{org}/api/v1/groups/{group.id}/apps"},
        },
    }


def app_json(app: AppRecord, org: str, meta: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(app.body)
    base = f"{org}/api/v1/apps/{app.id}"
    name = str(body.get("name", "app"))
    link_name = next(iter(body.get("visibility", {}).get("appLinks", {}) or {"login": True}))
    oauth = body.get("credentials", {}).get("oauthClient")
    if with_secret and app.client_secret is not None and isinstance(oauth, dict):
        oauth["client_secret"] = app.client_secret
    lifecycle = "deactivate" if app.status == "ACTIVE" else "activate"
    rendered = {
        "id": app.id,
        "orn": f"orn:okta:idp:{meta['org_id']}:apps:{name}:{app.id}",
        "name": name,
        "label": body.get("label"),
        "status": app.status,
        "lastUpdated": _ts(app.last_updated),
        "created": _ts(app.created),
        **{
            k: v
            for k, v in body.items()
            if k not in ("id", "name", "label", "status", "created", "lastUpdated")
        },
    }
    # Link relations as recorded from a 2025 org (CASS test_list_applications_pagination_with_after).
    rendered["_links"] = {
        "uploadLogo": {"href": f"{base}/logo", "hints": {"allow": ["POST"]}},
        "appLinks": [
            {"name": link_name, "href": f"{org}/home/{name}/{app.id}/{link_name}", "type": "text/html"}
        ],
        "profileEnrollment": {"href": f"{org}/api/v1/policies/{meta['enrollment_policy_id']}"},
        "policies": {"href": f"{base}/policies", "hints": {"allow": ["PUT"]}},
        "groups": {"href": f"{base}/groups"},
        "logo": [{"name": "medium", "href": f"{org}/assets/img/logos/default.png", "type": "image/png"}],
        "accessPolicy": {"href": f"{org}/api/v1/policies/{meta['access_policy_id']}"},
        "users": {"href": f"{base}/users"},
        lifecycle: {"href": f"{base}/lifecycle/{lifecycle}"},
    }
    return rendered


def app_user_json(rec: AppUserRecord, org: str) -> dict[str, Any]:
    return {
        "id": rec.user_id,
        "externalId": None,
        "created": _ts(rec.created),
        "lastUpdated": _ts(rec.last_updated),
        "scope": rec.scope,
        "status": "ACTIVE",
        "statusChanged": _ts(rec.created),
        "passwordChanged": None,
        "syncState": "DISABLED",
        "credentials": {"userName": rec.user_name},
        "profile": dict(rec.profile),
        "_links": {
            "app": {"href": f"{org}/api/v1/apps/{rec.app_id}"},
            "user": {"href": f"{org}/api/v1/users/{rec.user_id}"},
        },
    }


def app_group_json(rec: AppGroupRecord, org: str) -> dict[str, Any]:
    return {
        "id": rec.group_id,
        "lastUpdated": _ts(rec.last_updated),
        "priority": rec.priority,
        "profile": dict(rec.profile),
        "_links": {
            "app": {"href": f"{org}/api/v1/apps/{rec.app_id}"},
            "self": {"href": f"{org}/api/v1/apps/{rec.app_id}/groups/{rec.group_id}"},
            "group": {"href": f"{org}/api/v1/groups/{rec.group_id}"},
        },
    }


def hook_json(hook: HookRecord, org: str) -> dict[str, Any]:
    channel = copy.deepcopy(hook.channel)
    config = channel.setdefault("config", {})
    auth = config.get("authScheme")
    if isinstance(auth, dict):
        config["authScheme"] = {k: v for k, v in auth.items() if k != "value"}  # `value` is write-only
    config["method"] = "POST"
    base = f"{org}/api/v1/eventHooks/{hook.id}"
    post = {"hints": {"allow": ["POST"]}}
    links: dict[str, Any]
    if hook.status == "ACTIVE":
        links = {
            "self": {"href": base},
            "verify": {"href": f"{base}/lifecycle/verify", **post},
            "deactivate": {"href": f"{base}/lifecycle/deactivate", **post},
        }
    else:
        links = {
            "activate": {"href": f"{base}/lifecycle/activate", **post},
            "self": {"href": base},
            "delete": {"href": base, "hints": {"allow": ["DELETE"]}},
        }
    return {
        "id": hook.id,
        "status": hook.status,
        "verificationStatus": hook.verification_status,
        "name": hook.name,
        "created": _ts(hook.created),
        "createdBy": hook.created_by,
        "lastUpdated": _ts(hook.last_updated),
        "events": copy.deepcopy(hook.events),
        "channel": channel,
        "_links": links,
    }


def outbox_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "to": entry.to,
        "userId": entry.user_id,
        "login": entry.login,
        "activationUrl": entry.activation_url,
        "activationToken": entry.activation_token,
        "sentAt": _ts(entry.sent_at),
        "sentAtEpoch": entry.sent_at,
    }
