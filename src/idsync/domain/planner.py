"""The planner: (change, current link, tenant policy) -> the actions that bring the IdP in step.

A pure function, so every rule of the product (sync modes, routing, delete policy, versions,
renames, unchanged users) is tested exhaustively without a server. The engine carries a plan out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.models import ChangeMessage, Op, Reason, Status, UserFields
from idsync.domain.policy import DeletePolicy, SyncMode, TenantPolicy
from idsync.domain.profile import map_profile, profile_hash
from idsync.domain.text import email_domain, login_key


def outdated(version: int | None, applied: int | None) -> bool:
    """The version rule: a change older than the version last applied never acts."""
    return version is not None and applied is not None and version < applied


@dataclass(frozen=True)
class CreateUser:
    profile: Mapping[str, Any]
    activate: bool
    # A create was sent before and its outcome is unknown: look the login up before creating.
    lookup_first: bool = False
    # Activate without the IdP's e-mail: Okta e-mails on `activate=true` at creation, so the
    # account is created staged and then activated with sendEmail=false (okta/FACTS.md §1, §2).
    activate_silently: bool = False


@dataclass(frozen=True)
class UpdateProfile:
    idp_id: str
    profile: Mapping[str, Any]
    rename_from: str | None = None  # the old login, when the login changes


@dataclass(frozen=True)
class ActivateUser:
    idp_id: str
    send_email: bool
    # An activation was sent before and its outcome is unknown: read the status first.
    check_status_first: bool = False


@dataclass(frozen=True)
class DeactivateUser:
    idp_id: str


@dataclass(frozen=True)
class DeleteUser:
    idp_id: str
    deprovisioned: bool  # Okta deletes only DEPROVISIONED users; otherwise deactivate first


Action = CreateUser | UpdateProfile | ActivateUser | DeactivateUser | DeleteUser


@dataclass(frozen=True)
class Plan:
    """The actions to carry out and the status to report when they succeed (or at once, if none)."""

    status: Status
    actions: tuple[Action, ...] = ()
    reason: Reason | None = None
    profile: Mapping[str, Any] | None = None
    profile_hash: str | None = None
    version: int | None = None
    notes: tuple[str, ...] = field(default=())
    # merge_sources: this identity gives up its shared account (another source still has it).
    handover: bool = False

    @property
    def calls_idp(self) -> bool:
        return bool(self.actions)

    @property
    def needs_worker(self) -> bool:
        """Calls the IdP or changes the link: cannot be decided at ingest."""
        return self.calls_idp or self.handover


def _skip(code: str, message: str) -> Plan:
    return Plan(status=Status.SKIPPED, reason=Reason(code=code, message=message))


def plan(change: ChangeMessage, link: Link | None, policy: TenantPolicy) -> Plan:
    """Decide what one change needs. Never performs I/O."""
    if policy.mode is SyncMode.OFF:
        return _skip("sync_off", f"sync mode of tenant {policy.tenant} is off")
    if link is not None and outdated(change.version, link.version):
        return _skip(
            "outdated_version",
            f"version {change.version} is older than the applied version {link.version}",
        )
    linked = link if link is not None and link.exists else None
    if change.op is Op.UPSERT:
        return _plan_upsert(change, link, linked, policy)
    if linked is None:
        return _skip("not_linked", f"no IdP account is linked to {change.source}/{change.key}")
    assert linked.idp_id is not None
    if change.op is Op.DELETE:
        return _plan_delete(change, linked, policy)
    if change.op is Op.ACTIVATE:
        return _plan_activate(change, linked, policy)
    if linked.sharers:
        return _shared_skip(policy, linked, "not deactivated", handover=False, version=change.version)
    return _plan_deactivate(change, linked)


def _plan_upsert(change: ChangeMessage, link: Link | None, linked: Link | None, policy: TenantPolicy) -> Plan:
    user = change.user
    assert user is not None  # guaranteed by ChangeMessage validation
    external = policy.routing.external_idp_for(user.email) if policy.routing.external else None
    if external is not None:
        return _skip(
            "external_idp",
            f"{email_domain(user.email)} logs in through {external.name}; no sync needed",
        )
    profile = map_profile(user, policy.attribute_map)
    digest = profile_hash(profile) if user.model_extra else _core_hash(user)
    activate = policy.mode is SyncMode.SYNC_AND_ACTIVATE
    if linked is None:
        lookup_first = link is not None and link.pending_op is PendingOp.CREATE
        loud = activate and policy.send_activation_email
        create = CreateUser(
            profile, activate=loud, lookup_first=lookup_first, activate_silently=activate and not loud
        )
        return Plan(
            status=Status.CREATED,
            actions=(create,),
            profile=profile,
            profile_hash=digest,
            version=change.version,
        )
    assert linked.idp_id is not None
    actions: list[Action] = []
    status = Status.UNCHANGED
    reason = None
    if digest != linked.profile_hash and not policy.masters(change.source, linked.sharers):
        # merge_sources: a source of higher priority shares this account and masters its profile.
        status = Status.SKIPPED
        reason = Reason(
            code="profile_mastered",
            message=f"the profile of this shared account comes from {_master(policy, linked)}",
        )
    elif digest != linked.profile_hash:
        rename_from = (
            linked.login if linked.login and login_key(linked.login) != login_key(user.login) else None
        )
        actions.append(UpdateProfile(linked.idp_id, profile, rename_from=rename_from))
        status = Status.UPDATED
    if activate and _needs_activation(linked):
        actions.append(
            ActivateUser(
                linked.idp_id,
                send_email=policy.send_activation_email,
                check_status_first=linked.pending_op is not None,
            )
        )
        if status in (Status.UNCHANGED, Status.SKIPPED):
            status, reason = Status.ACTIVATED, None
    if linked.creation_unrecorded and status is not Status.SKIPPED:
        status, reason = Status.CREATED, None  # a replay: this change's own create had landed
    return Plan(
        status=status,
        actions=tuple(actions),
        reason=reason,
        profile=profile,
        profile_hash=digest,
        version=change.version if change.version is not None else linked.version,
    )


def _core_hash(user: UserFields) -> str:
    """`profile_hash` of a profile of the four core attributes alone, built without sorting: the
    hot path of a re-import (its order is the sorted one; tests/domain check both agree)."""
    text = (
        f"email\x1estr\x1f{user.email}\x1dfirstName\x1estr\x1f{user.firstName}"
        f"\x1dlastName\x1estr\x1f{user.lastName}\x1dlogin\x1estr\x1f{user.login}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _master(policy: TenantPolicy, linked: Link) -> str:
    return min(linked.sharers, key=policy.rank)


def _shared_skip(
    policy: TenantPolicy, linked: Link, what: str, *, handover: bool, version: int | None
) -> Plan:
    """merge_sources: another source still has this person; the account is left alone."""
    others = ", ".join(sorted(linked.sharers, key=policy.rank))
    return Plan(
        status=Status.SKIPPED,
        reason=Reason(code="shared_account", message=f"{what}: the account is also used by source {others}"),
        version=version,
        handover=handover,
    )


def _needs_activation(link: Link) -> bool:
    if link.pending_op is PendingOp.ACTIVATE:
        return True
    return link.idp_status is not None and link.idp_status.activatable


def _plan_delete(change: ChangeMessage, linked: Link, policy: TenantPolicy) -> Plan:
    assert linked.idp_id is not None
    if policy.delete_policy is DeletePolicy.IGNORE:
        return _skip(
            "delete_ignored", f"delete policy of tenant {policy.tenant} is ignore: the account stays"
        )
    if linked.sharers:
        return _shared_skip(
            policy,
            linked,
            "not deleted, only unlinked from this source",
            handover=True,
            version=change.version,
        )
    if policy.delete_policy is DeletePolicy.DEACTIVATE:
        return _plan_deactivate(change, linked)
    deprovisioned = linked.idp_status is IdpStatus.DEPROVISIONED
    return Plan(
        status=Status.DELETED,
        actions=(DeleteUser(linked.idp_id, deprovisioned=deprovisioned),),
        version=change.version,
    )


def _plan_activate(change: ChangeMessage, linked: Link, policy: TenantPolicy) -> Plan:
    assert linked.idp_id is not None
    if not _needs_activation(linked):
        return Plan(status=Status.UNCHANGED, version=change.version)
    return Plan(
        status=Status.ACTIVATED,
        actions=(
            ActivateUser(
                linked.idp_id,
                send_email=policy.send_activation_email,
                check_status_first=linked.pending_op is not None,
            ),
        ),
        version=change.version,
    )


def _plan_deactivate(change: ChangeMessage, linked: Link) -> Plan:
    assert linked.idp_id is not None
    if linked.idp_status is IdpStatus.DEPROVISIONED:
        return Plan(status=Status.UNCHANGED, version=change.version)
    return Plan(status=Status.DEACTIVATED, actions=(DeactivateUser(linked.idp_id),), version=change.version)
