"""Bring one application user in line with one Okta user: fetch, plan (pure), write, link.

Used by the initial/delta sync (with state from a page) and by the event processor (which
fetches the current state: events are triggers, never data). Under the user's lock, with two
guards against going back in time: a state fetched before the one last applied is dropped
(`as_of`), and the watermarks stored with the link let the processor skip old events. A change
that would deactivate the user or strip roles counts against its run's safety allowance and is
held when the run is over it (domain/inbound_safety.py). `Ask.dry` plans without writing
(`idsync inbound sync --dry-run`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from idsync.adapters.store.features.inbound_safety import admit
from idsync.adapters.store.inbound import InboundLink
from idsync.domain.events import parse_okta_time
from idsync.domain.inbound import (
    AppUser,
    OktaGroupRef,
    OktaUserState,
    Plan,
    TargetChange,
    match_values,
    plan,
    plan_roles,
)
from idsync.domain.inbound_safety import harm_of
from idsync.errors import Ambiguous, LinkConflict, ProviderError, TargetError
from idsync.inbound.context import Context

__all__ = ["Ask", "Outcome", "reconcile"]

log = logging.getLogger("idsync.inbound")


@dataclass(frozen=True)
class Ask:
    okta_id: str
    cause: str
    profile: bool = True  # fields considered (False: a membership change only)
    roles: bool = True  # roles considered (when groups map to roles)
    state: OktaUserState | None = None  # from a page; None: fetched here when needed
    state_as_of: float | None = None
    groups: Sequence[OktaGroupRef] | None = None  # from the membership map; None: fetched here
    groups_as_of: float | None = None
    published: float | None = None  # newest event behind this ask (Okta clock)
    run: str | None = None  # the safety run it counts in (sync-<entry>, events-<window>)
    dry: bool = False  # plan only: the outcome says what would happen, nothing is written


@dataclass(frozen=True)
class Outcome:
    # created, linked, updated, deactivated, unchanged, superseded, skipped, failed, held;
    # a dry run's: would_create, would_link, would_update, would_deactivate, would_strip_roles, ...
    status: str
    okta_id: str
    login: str = ""
    key: str | None = None
    code: str | None = None
    reason: str | None = None
    retryable: bool = False
    harm: str | None = None  # what the change takes from the user: deactivate, strip_roles

    def as_item(self) -> dict[str, str | None]:
        item = {"okta_id": self.okta_id, "login": self.login, "code": self.code, "reason": self.reason}
        return item | ({"harm": self.harm} if self.harm else {})


async def reconcile(ctx: Context, ask: Ask) -> Outcome:
    async with ctx.locks.hold(ask.okta_id):
        try:
            return await _reconcile(ctx, ask)
        except ProviderError as exc:
            return Outcome("failed", ask.okta_id, code=exc.code, reason=str(exc), retryable=exc.retryable)
        except TargetError as exc:
            code = "ambiguous" if isinstance(exc, Ambiguous) else "target_error"
            status = "skipped" if isinstance(exc, Ambiguous) else "failed"
            return Outcome(status, ask.okta_id, code=code, reason=str(exc), retryable=exc.retryable)
        except LinkConflict as exc:  # the application key is linked to another Okta user already
            return Outcome("skipped", ask.okta_id, code="conflict", reason=str(exc))
        except Exception as exc:  # e.g. the state store is down: try again later
            log.exception("inbound %s: user %s failed", ctx.name, ask.okta_id)
            return Outcome("failed", ask.okta_id, code="internal", reason=type(exc).__name__, retryable=True)


async def _reconcile(ctx: Context, ask: Ask) -> Outcome:
    link = await ctx.db.call(ctx.links.get_link, ctx.name, ask.okta_id)
    profile = ask.profile or link is None
    state, state_as_of = ask.state, ask.state_as_of
    if state is None and profile:
        state_as_of = ctx.clock.time()
        state = await ctx.okta.get_user(ask.okta_id)
        if state is None:  # deleted in Okta
            state = OktaUserState(ask.okta_id, link.login if link and link.login else "", None)
    use_roles = bool(ctx.rules.group_roles) and (ask.roles or link is None)
    groups, groups_as_of = ask.groups, ask.groups_as_of
    if groups is None and use_roles and (state is None or state.status is not None):
        groups_as_of = ctx.clock.time()
        groups = await ctx.okta.user_groups(ask.okta_id)
    if not use_roles:
        groups = None
    # Guards: never apply a state older than the one applied last.
    if link is not None and state is not None and (state_as_of or 0.0) < link.as_of:
        state, profile = None, False
    if link is not None and groups is not None and (groups_as_of or 0.0) < link.roles_as_of:
        groups = None
    login = state.login if state is not None else (link.login if link else "") or ""
    if state is None and groups is None:
        return Outcome("superseded", ask.okta_id, login, link.app_key if link else None)
    found = await _application_user(ctx, link, state)
    if isinstance(found, Outcome):
        return found
    app, found_new = found
    if state is not None:
        decision = plan(state, app, groups, ctx.rules, profile=profile)
    elif app is not None and groups is not None:
        decision = plan_roles(app, groups, ctx.rules)
    else:  # a membership change of a user the application no longer has
        return Outcome("skipped", ask.okta_id, login, None, "app_user_gone", "the application user is gone")
    if decision.action == "skip":
        outcome = Outcome(
            "skipped", ask.okta_id, login, app.key if app else None, decision.code, decision.reason
        )
        log.info("inbound %s: skipped Okta user %s (%s): %s", ctx.name, ask.okta_id, login, decision.reason)
        return outcome
    key = app.key if app is not None else None
    harm = harm_of(decision, app, ctx.rules)
    if ask.dry:
        return Outcome(_would(app, found_new, decision, harm), ask.okta_id, login, key, harm=harm)
    if harm and ask.run is not None:
        held = await _held(ctx, ask, login, harm)
        if held is not None:
            return held
    if decision.action != "unchanged" or found_new:
        change = TargetChange(
            integration=ctx.name,
            okta_id=ask.okta_id,
            login=login,
            key=key,
            fields=decision.fields,
            applied=decision.applied,
            roles_add=decision.roles_add,
            roles_remove=decision.roles_remove,
            managed_roles=decision.managed_roles,
            link=found_new,
            cause=ask.cause,
        )
        key = await ctx.target.apply(change)
    assert key is not None
    await ctx.db.call(
        ctx.links.save_links,
        [_new_link(ctx, ask, link, key, state, state_as_of, groups, groups_as_of, decision)],
        ctx.clock.time(),
    )
    return Outcome(_status(ctx, app, found_new, decision), ask.okta_id, login, key)


async def _held(ctx: Context, ask: Ask, login: str, harm: str) -> Outcome | None:
    """None: the run's allowance lets this harmful change through; else the user is held."""
    assert ask.run is not None
    allowed, run = await ctx.db.call(
        admit,
        ctx.db.store,
        ctx.name,
        ask.run,
        ctx.safety,
        okta_id=ask.okta_id,
        login=login,
        harm=harm,
        cause=ask.cause,
        now=ctx.clock.time(),
    )
    if allowed:
        return None
    log.warning(
        "inbound %s: held %s of Okta user %s (%s): %s", ctx.name, harm, ask.okta_id, login, run.describe()
    )
    reason = f"{harm.replace('+', ' and ')} held by the safety threshold: {run.describe()}"
    return Outcome("held", ask.okta_id, login, None, "safety_threshold", reason, harm=harm)


def _would(app: AppUser | None, found_new: bool, decision: Plan, harm: str | None) -> str:
    if app is None:
        return "would_create"
    if harm:
        return f"would_{harm.replace('+', '_and_')}"
    if found_new:
        return "would_link"
    return "would_update" if decision.action == "update" else "unchanged"


def _status(ctx: Context, app: AppUser | None, found_new: bool, decision: Plan) -> str:
    if app is None:
        return "created"
    if found_new:
        return "linked"
    active = ctx.rules.active_field
    if active and decision.fields.get(active) is False and app.fields.get(active) is not False:
        return "deactivated"
    return "updated" if decision.action == "update" else decision.action


async def _application_user(
    ctx: Context, link: InboundLink | None, state: OktaUserState | None
) -> tuple[AppUser | None, bool] | Outcome:
    """(the application user or None to create, whether it is newly linked) or why not."""
    if link is not None:
        if not ctx.target.readable:
            return AppUser(link.app_key, link.applied, link.roles or frozenset()), False
        app = await ctx.target.get(link.app_key)
        if app is not None:
            return app, False
        log.warning(
            "inbound %s: application user %s linked to Okta user %s is gone",
            ctx.name,
            link.app_key,
            link.okta_id,
        )
    if state is None:
        return None, False
    found = await ctx.target.find(match_values(state, ctx.rules))
    if found is None:
        return None, False
    owner = await ctx.db.call(ctx.links.link_for_key, ctx.name, found.key)
    if owner is not None and owner.okta_id != state.id:
        return Outcome(
            "skipped",
            state.id,
            state.login,
            found.key,
            "conflict",
            f"application user {found.key} matches, but is linked to Okta user {owner.okta_id}",
        )
    return found, True


def _new_link(
    ctx: Context,
    ask: Ask,
    link: InboundLink | None,
    key: str,
    state: OktaUserState | None,
    state_as_of: float | None,
    groups: Sequence[OktaGroupRef] | None,
    groups_as_of: float | None,
    decision: Plan,
) -> InboundLink:
    base = link or InboundLink(ctx.name, ask.okta_id, key)
    new = replace(base, app_key=key)
    if state is not None:
        marks = [
            m for m in (base.profile_wm, parse_okta_time(state.last_updated), ask.published) if m is not None
        ]
        new = replace(
            new,
            login=state.login or base.login,
            okta_status=state.status or "DELETED",
            applied={**base.applied, **decision.applied},
            profile_wm=max(marks) if marks else None,
            as_of=max(state_as_of or 0.0, base.as_of),
        )
    if groups is not None:
        marks = [m for m in (base.roles_wm, ask.published) if m is not None]
        new = replace(
            new,
            roles=decision.managed_roles if decision.managed_roles is not None else base.roles,
            roles_wm=max(marks) if marks else None,
            roles_as_of=max(groups_as_of or 0.0, base.roles_as_of),
        )
    return new
