"""`idsync plan`: what importing a file would do, decided without a single IdP call.

Every record goes through the import's own validation (`ingest.to_change`) and the worker's own
planner against the stored links, so the counts are the import's counts: create, update,
activate, unchanged, skip by reason, fail by reason. The API calls follow from the plans, and
the duration from the rate limits the governor learned (or Okta's documented defaults).

A user listed more than once is counted as the worker counts it when it finds the lines queued
together (as it does for lines of one batch): later lines queue behind the first, and consecutive
upserts coalesce into one plan whose status every line reports. Memory: only users whose lines
would be queued are kept; an unchanged re-import keeps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from idsync.adapters.files import (
    FileOptions,
    check_encoding,
    count_records,
    detect_format,
    read_records,
    received_from_file,
)
from idsync.adapters.store.features.activation import get_tenant_mode
from idsync.adapters.store.sql import Store
from idsync.config import Settings
from idsync.domain.decision import link_after, next_step, winner
from idsync.domain.links import Link
from idsync.domain.models import ChangeMessage, Op, Reason
from idsync.domain.planner import Plan
from idsync.domain.policy import SyncMode, TenantPolicy
from idsync.engine.ingest import Defaults, batches, to_change
from idsync.errors import ConfigError
from idsync.lifecycle.estimate import Estimate
from idsync.lifecycle.forecast import Tally
from idsync.lifecycle.limits import LimitSet, estimate_calls, known_limits

__all__ = ["FilePlan", "plan_file"]

PLAN_IMPORT_ID = "plan"


@dataclass(frozen=True)
class FilePlan:
    path: Path
    tenant: str
    policy: TenantPolicy
    tally: Tally
    estimate: Estimate
    limits: LimitSet
    total_records: int


@dataclass
class _Queued:
    """A user whose earlier line the import would queue (an IdP call, or a version to record):
    later lines of the user queue behind it, and consecutive upserts coalesce into one plan."""

    link: Link  # as the queued changes leave it
    run: tuple[Link | None, ChangeMessage, Plan, int] | None  # open run of upserts: base, winner, plan, size


def plan_file(
    store: Store,
    settings: Settings,
    path: Path,
    *,
    tenant: str,
    source: str | None = None,
    options: FileOptions = FileOptions(),
) -> FilePlan:
    policy = settings.policy(tenant)
    if policy is None:
        raise ConfigError(f"tenant {tenant!r} is not configured")
    in_force = get_tenant_mode(store, tenant)  # the mode in force (set at runtime: idsync tenants)
    if in_force is not None and in_force.mode != policy.mode.value:
        policy = replace(policy, mode=SyncMode(in_force.mode))
    fmt = detect_format(path)
    check_encoding(path, options)
    total = count_records(path, fmt, options)
    defaults = Defaults(origin="file", tenant=tenant, import_id=PLAN_IMPORT_ID)
    tally = Tally()
    queued: dict[tuple[str, str, str], _Queued] = {}
    for batch in batches(read_records(path, fmt=fmt, source=source, options=options)):
        parsed: list[ChangeMessage | Reason] = [to_change(received_from_file(r), defaults) for r in batch]
        keys = [(c.tenant, c.source, c.key) for c in parsed if isinstance(c, ChangeMessage)]
        wanted = [k for k in keys if k not in queued]
        stored = store.links.get_many(wanted) if wanted else {}
        for item in parsed:
            if isinstance(item, Reason):
                tally.add_rejected(item)
                continue
            key = (item.tenant, item.source, item.key)
            earlier = queued.get(key)
            if earlier is not None and earlier.run is not None and item.op is Op.UPSERT:
                queued[key] = _coalesce(tally, earlier.run, item, policy)
                continue
            link = earlier.link if earlier is not None else stored.get(key)
            decided = next_step([item], link, policy).plan
            tally.add_plan(decided)
            moved = link is not None and decided.version is not None and decided.version != link.version
            if earlier is not None or decided.calls_idp or moved:
                base = link or Link(tenant=item.tenant, source=item.source, key=item.key, idp=policy.idp)
                run = (link, item, decided, 1) if item.op is Op.UPSERT else None
                queued[key] = _Queued(link_after(decided, base), run)
    limits = known_limits(store, settings, policy.idp)
    return FilePlan(path, tenant, policy, tally, estimate_calls(tally.calls, limits), limits, total)


def _coalesce(
    tally: Tally, run: tuple[Link | None, ChangeMessage, Plan, int], item: ChangeMessage, policy: TenantPolicy
) -> _Queued:
    """The worker's rule (domain/decision.py): the run's winner is planned once against the link
    before it, and every change of the run reports its status."""
    base, chosen, old_plan, size = run
    chosen = (chosen, item)[winner([chosen.version, item.version])]
    tally.remove_plan(old_plan, size)
    decided = next_step([chosen], base, policy).plan
    tally.add_plan(decided, size + 1)
    start = base or Link(tenant=item.tenant, source=item.source, key=item.key, idp=policy.idp)
    return _Queued(link_after(decided, start), (base, chosen, decided, size + 1))
