"""The per-user decision: the rules that every place deciding a user's changes shares.

The worker (carrying changes out), ingest (deciding at once what needs no call), the lifecycle
plan and forecast (deciding without any call) all go through `next_step`, so they always agree:

- order: a user's changes are taken in arrival order; an older version never overwrites a newer
  one (`outdated`);
- coalescing: consecutive upserts form one run, decided once, by the change that wins it (the
  highest version, the latest arrival on a tie); any other op is a run of its own;
- the link transition: what the link is once a plan is carried out (`settled` for what every
  plan changes, `link_after` for a plan played forward without the IdP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ChangeMessage, Op
from idsync.domain.planner import (
    ActivateUser,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Plan,
    UpdateProfile,
    outdated,
    plan,
)
from idsync.domain.policy import TenantPolicy

__all__ = [
    "PLANNED_ID",
    "Step",
    "link_after",
    "newer",
    "next_step",
    "outdated",
    "run_length",
    "settled",
    "winner",
]

PLANNED_ID = "(planned)"  # stands for the IdP id a create will return, when a plan is played forward


def newer(version: int | None, applied: int | None) -> bool:
    """A version the link has not recorded yet (an unchanged user's newer version is kept)."""
    return version is not None and (applied is None or version > applied)


def run_length(ops: Sequence[Op | str]) -> int:
    """How many of a user's pending changes (in arrival order) the next step settles: the leading
    run of consecutive upserts, or the first change alone."""
    if not ops:
        return 0
    if Op(ops[0]) is not Op.UPSERT:
        return 1
    n = 1
    while n < len(ops) and Op(ops[n]) is Op.UPSERT:
        n += 1
    return n


def winner(versions: Sequence[int | None]) -> int:
    """The index of the change that wins a run: the highest version, the latest arrival on a tie."""
    return max(range(len(versions)), key=lambda i: (versions[i] if versions[i] is not None else -1, i))


@dataclass(frozen=True)
class Step:
    """The next step of a user's pending changes: `size` of them settle with `plan`, decided for
    `change` (the run's winner) against the link as it stands."""

    size: int
    change: ChangeMessage
    plan: Plan


def next_step(pending: Sequence[ChangeMessage], link: Link | None, policy: TenantPolicy) -> Step:
    """Decide the next step of a user's pending changes (in arrival order). Never performs I/O."""
    size = run_length([c.op for c in pending])
    run = pending[:size]
    chosen = run[winner([c.version for c in run])]
    return Step(size, chosen, plan(chosen, link, policy))


def settled(link: Link, done: Plan) -> Link:
    """The link once `done` was carried out: its version recorded, nothing pending, no error."""
    version = done.version if done.version is not None else link.version
    return replace(link, version=version, pending_op=None, last_error_code=None, last_error_message=None)


def link_after(done: Plan, link: Link) -> Link:
    """The link as the worker leaves it once `done` succeeded, played forward without the IdP
    (a create's account id is `PLANNED_ID`)."""
    current = link
    for action in done.actions:
        if isinstance(action, CreateUser):
            active = action.activate or action.activate_silently
            current = replace(
                current,
                idp_id=PLANNED_ID,
                login=str(action.profile.get("login", "")),
                profile_hash=done.profile_hash,
                idp_status=IdpStatus.PROVISIONED if active else IdpStatus.STAGED,
            )
        elif isinstance(action, UpdateProfile):
            current = replace(
                current, login=str(action.profile.get("login", current.login)), profile_hash=done.profile_hash
            )
        elif isinstance(action, ActivateUser):
            current = replace(current, idp_status=IdpStatus.PROVISIONED)
        elif isinstance(action, DeactivateUser):
            current = replace(current, idp_status=IdpStatus.DEPROVISIONED)
        elif isinstance(action, DeleteUser):
            current = replace(current, idp_id=None, idp_status=None, profile_hash=None, login=None)
    if done.handover:
        current = replace(current, idp_id=None, idp_status=None, login=None, via=None, sharers=())
    return settled(current, done)
