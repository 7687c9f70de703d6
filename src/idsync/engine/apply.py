"""Carrying out a plan against one IdP, so that a crash or a lost answer never duplicates anything.

- Before a create or an activation is sent, the intent is written to the link (write-ahead). A
  retry after a crash then looks the login up (or reads the status) before sending again.
- A create whose answer is lost (`UnknownOutcome`) is never repeated blindly: the login is looked
  up first (GET /users/{login}, the cheaper bucket) and sent again only if it is not there.
- A create answered "login already exists" adopts that account: `unchanged` when its profile
  already matches, else `updated`. Never a second account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from idsync.domain.links import IdpStatus, Link, PendingOp
from idsync.domain.models import Reason, Status
from idsync.domain.planner import (
    ActivateUser,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Plan,
    UpdateProfile,
)
from idsync.domain.profile import profile_hash
from idsync.engine.db import GroupCommitter
from idsync.errors import Conflict, IllegalTransition, NotFound, ProviderError, UnknownOutcome
from idsync.ports import IdentityProvider, IdpUser

CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Applied:
    status: Status
    link: Link
    idp_id: str | None
    reason: Reason | None = None
    activation_url: str | None = None


class PlanRunner:
    def __init__(self, writes: GroupCommitter) -> None:
        self._writes = writes

    async def run(self, plan: Plan, link: Link, idp: IdentityProvider) -> Applied:
        """Carry the plan out. On failure the error carries `partial_link`: the link as far as the
        actions went (an account created before a later action failed must not be forgotten)."""
        progress = [link]
        try:
            return await self._run(plan, link, idp, progress)
        except ProviderError as exc:
            exc.partial_link = progress[0]
            raise

    async def _run(self, plan: Plan, link: Link, idp: IdentityProvider, progress: list[Link]) -> Applied:
        current = link
        status = plan.status
        activation_url = None
        touched_id = link.idp_id
        for action in plan.actions:
            if isinstance(action, CreateUser):
                current, status = await self._create(action, current, idp)
            elif isinstance(action, UpdateProfile):
                current, status = await self._update(action, current, idp, plan, status)
            elif isinstance(action, ActivateUser):
                current, activation_url = await self._activate(action, current, idp)
            elif isinstance(action, DeactivateUser):
                await idp.deactivate_user(action.idp_id)
                current = replace(current, idp_status=IdpStatus.DEPROVISIONED)
            elif isinstance(action, DeleteUser):
                await idp.delete_user(action.idp_id, deprovisioned=action.deprovisioned)
                current = replace(current, idp_id=None, idp_status=None, profile_hash=None, login=None)
            touched_id = current.idp_id or touched_id
            progress[0] = current
        current = replace(
            current,
            version=plan.version if plan.version is not None else current.version,
            pending_op=None,
            last_error_code=None,
            last_error_message=None,
        )
        return Applied(status, current, touched_id, plan.reason, activation_url)

    async def _create(self, action: CreateUser, link: Link, idp: IdentityProvider) -> tuple[Link, Status]:
        login = str(action.profile["login"])
        digest = profile_hash(action.profile)
        if action.lookup_first:
            existing = await idp.find_user(login)
            if existing is not None:
                adopted, status = await self._adopt(existing, action, link, idp)
                if link.pending_op is PendingOp.CREATE:
                    # Our own create was sent before a crash (the write-ahead intent says so) and
                    # went through: the account is this change's, as when a lost answer is found.
                    status = Status.CREATED
                return adopted, status
        await self._writes.save_link(replace(link, pending_op=PendingOp.CREATE, login=login))
        for _ in range(CREATE_ATTEMPTS):
            try:
                user = await idp.create_user(action.profile, activate=action.activate)
            except Conflict:
                existing = await idp.find_user(login)
                if existing is None:
                    raise
                return await self._adopt(existing, action, link, idp)
            except UnknownOutcome:
                existing = await idp.find_user(login)
                if existing is not None:  # our create went through; its answer was lost
                    return _linked(link, existing, digest), Status.CREATED
                continue  # it did not happen: sending it again is safe
            return _linked(link, user, digest), Status.CREATED
        raise UnknownOutcome(
            f"{idp.name}: create of {login} got no answer {CREATE_ATTEMPTS} times", provider=idp.name
        )

    async def _adopt(
        self, existing: IdpUser, action: CreateUser, link: Link, idp: IdentityProvider
    ) -> tuple[Link, Status]:
        """Link an account that already holds this login; bring its profile in step."""
        digest = profile_hash(action.profile)
        current = _linked(link, existing, digest)
        status = Status.UNCHANGED
        if not _same_profile(existing.profile, action.profile):
            updated = await idp.update_user(existing.id, action.profile)
            current = _linked(link, updated, digest)
            status = Status.UPDATED
        if action.activate and existing.status.activatable:
            await idp.activate_user(existing.id, send_email=True)
            current = replace(current, idp_status=IdpStatus.PROVISIONED)
            status = Status.UPDATED if status is Status.UPDATED else Status.ACTIVATED
        return current, status

    async def _update(
        self, action: UpdateProfile, link: Link, idp: IdentityProvider, plan: Plan, status: Status
    ) -> tuple[Link, Status]:
        try:
            user = await idp.update_user(action.idp_id, action.profile)
        except NotFound:
            # The account was removed at the IdP behind our back: create it again (no duplicate:
            # the create looks the login up first).
            gone = replace(link, idp_id=None, idp_status=None, profile_hash=None)
            return await self._create(
                CreateUser(action.profile, activate=False, lookup_first=True), gone, idp
            )
        idp_status = _status_after_update(link.idp_status, user.status)
        return replace(link, login=user.login, idp_status=idp_status, profile_hash=plan.profile_hash), status

    async def _activate(
        self, action: ActivateUser, link: Link, idp: IdentityProvider
    ) -> tuple[Link, str | None]:
        if action.check_status_first:
            user = await idp.get_user(action.idp_id)
            if user is not None and not user.status.activatable:
                return replace(link, idp_status=user.status, pending_op=None), None  # done before the crash
        await self._writes.save_link(replace(link, pending_op=PendingOp.ACTIVATE))
        try:
            activation = await idp.activate_user(action.idp_id, send_email=action.send_email)
        except IllegalTransition:
            user = await idp.get_user(action.idp_id)
            if user is None or user.status.activatable:
                raise
            return replace(link, idp_status=user.status, pending_op=None), None
        # Okta answers activation without the user; with no password it becomes PROVISIONED.
        return replace(link, idp_status=IdpStatus.PROVISIONED, pending_op=None), activation.activation_url


def _status_after_update(before: IdpStatus | None, read: IdpStatus) -> IdpStatus:
    """STAGED is reached only by creation, so an account known as activated or deactivated that
    reads back STAGED was deactivated. IdPs that know only active/inactive (SCIM) report every
    inactive account as STAGED (adapters/scim/mapping.py); without this an update would put a
    deactivated user back into the activation job. Okta never reports it, so nothing changes there."""
    if read is IdpStatus.STAGED and before is not None and before is not IdpStatus.STAGED:
        return IdpStatus.DEPROVISIONED
    return read


def _linked(link: Link, user: IdpUser, digest: str) -> Link:
    return replace(
        link, idp_id=user.id, login=user.login, idp_status=user.status, profile_hash=digest, pending_op=None
    )


def _same_profile(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(current.get(k) == v for k, v in wanted.items())
