"""Carrying out a plan against one IdP, so that a crash or a lost answer never duplicates anything
and an account is never taken from the identity that holds it.

- Before a create or an activation is sent, the intent is written to the link (write-ahead). A
  retry after a crash then looks the login up (or reads the status) before sending again.
- A create whose answer is lost (`UnknownOutcome`) is never repeated blindly: the login is looked
  up first (GET /users/{login}, the cheaper bucket) and sent again only if it is not there.
- A login already held by an account (known from our links or the org listing of
  `--link-existing` before any call, or answered "exists" by the IdP) is decided by the tenant's
  `existing_account` policy (domain/identity.py). An account is claimed in the store (the unique
  link index) before it is touched, so two identities racing for one account never both get it.
- No e-mail where the tenant said none: a silent activation is a create without activation
  followed by `activate?sendEmail=false`, whose link comes back with the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from idsync.domain.decision import settled
from idsync.domain.identity import Adopt, Reject, Share, claim_existing
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
from idsync.domain.policy import TenantPolicy
from idsync.domain.profile import profile_hash
from idsync.engine.commit import GroupCommitter
from idsync.errors import (
    Conflict,
    IllegalTransition,
    LinkConflict,
    LoginTaken,
    NotFound,
    NotYetVisible,
    ProviderError,
    UnknownOutcome,
)
from idsync.ports import IdentityProvider, IdpUser, LinkStore

CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Applied:
    status: Status
    link: Link
    idp_id: str | None
    reason: Reason | None = None
    activation_url: str | None = None


@dataclass
class _Run:
    """One plan being carried out: the link as far as it got, the status and the activation link."""

    link: Link
    status: Status
    reason: Reason | None = None
    activation_url: str | None = None


class PlanRunner:
    def __init__(self, writes: GroupCommitter, accounts: LinkStore) -> None:
        self._writes = writes
        self._accounts = accounts

    async def run(self, plan: Plan, link: Link, idp: IdentityProvider, policy: TenantPolicy) -> Applied:
        """Carry the plan out. On failure the error carries `partial_link`: the link as far as the
        actions went (an account created before a later action failed must not be forgotten)."""
        run = _Run(link, plan.status, plan.reason)
        try:
            return await self._run(plan, run, idp, policy)
        except ProviderError as exc:
            exc.partial_link = run.link
            raise

    async def _run(self, plan: Plan, run: _Run, idp: IdentityProvider, policy: TenantPolicy) -> Applied:
        touched_id = run.link.idp_id
        for action in plan.actions:
            if isinstance(action, CreateUser):
                await self._create(action, run, idp, policy)
            elif isinstance(action, UpdateProfile):
                await self._update(action, run, idp, plan, policy)
            elif isinstance(action, ActivateUser):
                await self._activate(action, run, idp)
            elif isinstance(action, DeactivateUser):
                await idp.deactivate_user(action.idp_id)
                run.link = replace(run.link, idp_status=IdpStatus.DEPROVISIONED)
            elif isinstance(action, DeleteUser):
                await idp.delete_user(action.idp_id, deprovisioned=action.deprovisioned)
                run.link = replace(run.link, idp_id=None, idp_status=None, profile_hash=None, login=None)
            touched_id = run.link.idp_id or touched_id
        current = settled(run.link, plan)
        if plan.handover:
            current = replace(current, handover=True, idp_id=None, login=None, idp_status=None, via=None)
        return Applied(run.status, current, touched_id, run.reason, run.activation_url)

    # ---- create, or claim the account that holds the login --------------------------------------

    async def _create(
        self, action: CreateUser, run: _Run, idp: IdentityProvider, policy: TenantPolicy
    ) -> None:
        link = run.link
        login = str(action.profile["login"])
        me = (link.tenant, link.source, link.key)
        # A create of ours was sent before with no known outcome (a lost answer, a crash, a retry
        # after the IdP's lists lagged): an account found with this login may be that create.
        ours = link.pending_op is PendingOp.CREATE
        if action.lookup_first:
            existing = await idp.find_user(login)
            if existing is not None:
                return await self._existing(existing, action, run, idp, policy, our_create=ours)
        else:  # known before any call: an identity of ours holds the login, or the org listing has it
            holder, listed = await self._accounts.login_in_use(idp.name, login, besides=me)
            if holder is not None:
                return await self._decide(None, holder, action, run, idp, policy, our_create=False)
            if listed is not None:
                return await self._existing(listed, action, run, idp, policy, our_create=ours)
        await self._writes.save_link(replace(link, pending_op=PendingOp.CREATE, login=login))
        lost = ours  # a create of ours got no answer: an account found later may be that create
        for _ in range(CREATE_ATTEMPTS):
            try:
                user = await idp.create_user(action.profile, activate=action.activate)
            except Conflict:
                existing = await idp.find_user(login)
                if existing is None:  # taken, but not listed yet: look again later (the intent stays)
                    raise NotYetVisible(
                        f"{idp.name}: login {login} exists but its account is not found yet (the IdP's "
                        "lists lag behind writes); it is looked up again later",
                        provider=idp.name,
                    ) from None
                return await self._existing(existing, action, run, idp, policy, our_create=lost)
            except UnknownOutcome:
                existing = await idp.find_user(login)
                if existing is not None:  # our create went through (its answer was lost), or another's
                    return await self._existing(existing, action, run, idp, policy, our_create=True)
                lost = True
                continue  # not found (yet): sending it again is safe, the IdP refuses a second
            run.link = _linked(link, user, profile_hash(action.profile), created=True)
            run.status = Status.CREATED
            if action.activate_silently:
                await self._activate(ActivateUser(user.id, send_email=False), run, idp)
            return None
        raise UnknownOutcome(
            f"{idp.name}: create of {login} got no answer {CREATE_ATTEMPTS} times", provider=idp.name
        )

    async def _existing(
        self,
        existing: IdpUser,
        action: CreateUser,
        run: _Run,
        idp: IdentityProvider,
        policy: TenantPolicy,
        *,
        our_create: bool,
    ) -> None:
        """An account holds the login: whose is it?"""
        link = run.link
        holder = await self._accounts.holder_of(idp.name, existing.id)
        if holder is None:  # nobody links it; is another identity creating this login right now?
            pending = await self._accounts.holder_by_login(
                idp.name, existing.login, besides=(link.tenant, link.source, link.key)
            )
            if pending is not None and pending.idp_id in (None, existing.id):
                holder = pending
        await self._decide(existing, holder, action, run, idp, policy, our_create=our_create)

    async def _decide(
        self,
        existing: IdpUser | None,
        holder: Link | None,
        action: CreateUser,
        run: _Run,
        idp: IdentityProvider,
        policy: TenantPolicy,
        *,
        our_create: bool,
    ) -> None:
        login = str(action.profile["login"])
        claim = claim_existing(policy, run.link, login, holder, our_create_pending=our_create)
        if isinstance(claim, Reject):
            raise LoginTaken(claim.reason.message, provider=idp.name)
        if isinstance(claim, Share):
            return await self._share(claim.holder, action, run, idp, policy)
        if existing is None:  # our own link holds it (e.g. its idp_id was lost): read it
            assert holder is not None and holder.idp_id is not None
            existing = await idp.get_user(holder.idp_id)
            if existing is None:
                raise NotFound(f"{idp.name}: account {holder.idp_id} is gone", provider=idp.name)
        await self._adopt(existing, action, run, idp, ours=isinstance(claim, Adopt) and claim.ours)

    async def _adopt(
        self, existing: IdpUser, action: CreateUser, run: _Run, idp: IdentityProvider, *, ours: bool
    ) -> None:
        """Link the account to this identity (claimed in the store first), then bring its
        profile in step and activate it as the plan says; never e-mail where the tenant said no."""
        digest = profile_hash(action.profile)
        same = _same_profile(existing.profile, action.profile)
        claimed = _linked(run.link, existing, digest, created=ours)
        if not same:  # not in step until the update lands: a retry after a failure must send it
            claimed = replace(claimed, profile_hash=None)
        try:
            await self._writes.save_link(claimed)
        except LinkConflict as exc:
            raise LoginTaken(
                f"login {existing.login} is already held by an IdP account: {exc}", provider=idp.name
            ) from None
        await self._accounts.forget_listed(idp.name, existing.login)
        run.link = claimed
        run.status = Status.CREATED if ours else Status.UNCHANGED
        if not same:
            updated = await idp.update_user(existing.id, action.profile)
            run.link = _linked(run.link, updated, digest, created=ours)
            run.status = Status.CREATED if ours else Status.UPDATED
        await self._activate_adopted(existing, action, run, idp)

    async def _share(
        self, holder: Link, action: CreateUser, run: _Run, idp: IdentityProvider, policy: TenantPolicy
    ) -> None:
        """merge_sources: reach the account through the identity that holds it; its profile
        follows the highest-priority source that has the person."""
        if holder.idp_id is None:  # the holder's create of this login is in flight (one file, both)
            raise NotYetVisible(
                f"{idp.name}: login {action.profile['login']} is being created for {holder.identity}; "
                "this identity shares the account once that create is recorded",
                provider=idp.name,
            )
        sharers = (holder.source, *holder.sharers)
        run.link = replace(
            run.link,
            idp_id=holder.idp_id,
            login=holder.login,
            idp_status=holder.idp_status,
            via=(holder.source, holder.key),
            sharers=sharers,
            profile_hash=profile_hash(action.profile),
            pending_op=None,
        )
        run.status = Status.UNCHANGED
        run.reason = Reason(
            code="shared_account",
            message=f"linked to the account of {holder.identity} (merge_sources)",
        )
        existing = await idp.get_user(holder.idp_id)
        if existing is None:
            raise NotFound(f"{idp.name}: account {holder.idp_id} is gone", provider=idp.name)
        if policy.masters(run.link.source, sharers) and not _same_profile(existing.profile, action.profile):
            updated = await idp.update_user(existing.id, action.profile)
            run.link = replace(run.link, login=updated.login, idp_status=updated.status)
            run.status = Status.UPDATED
        await self._activate_adopted(existing, action, run, idp)

    async def _activate_adopted(
        self, existing: IdpUser, action: CreateUser, run: _Run, idp: IdentityProvider
    ) -> None:
        if (action.activate or action.activate_silently) and existing.status.activatable:
            before = run.status
            await self._activate(ActivateUser(existing.id, send_email=action.activate), run, idp)
            run.status = before if before in (Status.CREATED, Status.UPDATED) else Status.ACTIVATED

    # ---- update and activate -------------------------------------------------------------------

    async def _update(
        self, action: UpdateProfile, run: _Run, idp: IdentityProvider, plan: Plan, policy: TenantPolicy
    ) -> None:
        link = run.link
        try:
            user = await idp.update_user(action.idp_id, action.profile)
        except NotFound:
            # The account was removed at the IdP behind our back: create it again (no duplicate:
            # the create looks the login up first).
            run.link = replace(link, idp_id=None, idp_status=None, profile_hash=None, via=None)
            return await self._create(
                CreateUser(action.profile, activate=False, lookup_first=True), run, idp, policy
            )
        idp_status = _status_after_update(link.idp_status, user.status)
        run.link = replace(link, login=user.login, idp_status=idp_status, profile_hash=plan.profile_hash)
        return None

    async def _activate(self, action: ActivateUser, run: _Run, idp: IdentityProvider) -> None:
        link = run.link
        if action.check_status_first:
            user = await idp.get_user(action.idp_id)
            if user is not None and not user.status.activatable:  # done before the crash
                run.link = replace(link, idp_status=user.status, pending_op=_kept(link))
                return
        # The intent "activation sent"; a create not yet recorded keeps its own intent, which makes
        # a replay read the status first just the same (and still report the change as created).
        await self._writes.save_link(replace(link, pending_op=_kept(link) or PendingOp.ACTIVATE))
        try:
            activation = await idp.activate_user(action.idp_id, send_email=action.send_email)
        except IllegalTransition:
            user = await idp.get_user(action.idp_id)
            if user is None or user.status.activatable:
                raise
            run.link = replace(link, idp_status=user.status, pending_op=_kept(link))
            return
        # Okta answers activation without the user; with no password it becomes PROVISIONED.
        run.link = replace(link, idp_status=IdpStatus.PROVISIONED, pending_op=_kept(link))
        run.activation_url = activation.activation_url


def _status_after_update(before: IdpStatus | None, read: IdpStatus) -> IdpStatus:
    """STAGED is reached only by creation, so an account known as activated or deactivated that
    reads back STAGED was deactivated. IdPs that know only active/inactive (SCIM) report every
    inactive account as STAGED (adapters/scim/mapping.py); without this an update would put a
    deactivated user back into the activation job. Okta never reports it, so nothing changes there."""
    if read is IdpStatus.STAGED and before is not None and before is not IdpStatus.STAGED:
        return IdpStatus.DEPROVISIONED
    return read


def _linked(link: Link, user: IdpUser, digest: str, *, created: bool = False) -> Link:
    """The link to `user`; `created`: by this change's own create, whose result is not recorded
    until the plan settles (a link written before that, by a later action, says so)."""
    return replace(
        link,
        idp_id=user.id,
        login=user.login,
        idp_status=user.status,
        profile_hash=digest,
        pending_op=PendingOp.CREATE if created else None,
        via=None,
    )


def _kept(link: Link) -> PendingOp | None:
    """The intent that outlives an activation: a creation not yet recorded."""
    return PendingOp.CREATE if link.creation_unrecorded else None


def _same_profile(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(current.get(k) == v for k, v in wanted.items())
