"""`idsync plan`: what importing a file would do, decided without a single IdP call.

Every record goes through the import's own validation (`ingest.to_change`) and the worker's own
planner against the stored links, so the counts are the import's counts: create, update,
activate, unchanged, skip by reason, fail by reason. The API calls follow from the plans, and
the duration from the rate limits the governor learned (or Okta's documented defaults).

Memory: the links a plan would change are kept (so a user listed twice is decided as the import
would decide it); an unchanged re-import keeps nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from idsync.adapters.files import count_records, detect_format, read_records
from idsync.adapters.store.sql import Store
from idsync.config import Settings
from idsync.domain.links import Link
from idsync.domain.models import ChangeMessage, Reason
from idsync.domain.planner import plan
from idsync.domain.policy import TenantPolicy
from idsync.engine.ingest import Defaults, batches, received_from_file, to_change
from idsync.errors import ConfigError
from idsync.lifecycle.estimate import Estimate
from idsync.lifecycle.forecast import Tally, after
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


def plan_file(
    store: Store, settings: Settings, path: Path, *, tenant: str, source: str | None = None
) -> FilePlan:
    policy = settings.policy(tenant)
    if policy is None:
        raise ConfigError(f"tenant {tenant!r} is not configured")
    fmt = detect_format(path)
    total = count_records(path, fmt)
    defaults = Defaults(origin="file", tenant=tenant, import_id=PLAN_IMPORT_ID)
    tally = Tally()
    planned: dict[tuple[str, str, str], Link] = {}  # links as earlier lines of the file leave them
    for batch in batches(read_records(path, fmt=fmt, source=source)):
        parsed: list[ChangeMessage | Reason] = [to_change(received_from_file(r), defaults) for r in batch]
        keys = [(c.tenant, c.source, c.key) for c in parsed if isinstance(c, ChangeMessage)]
        wanted = [k for k in keys if k not in planned]
        stored = store.get_links(wanted) if wanted else {}
        for item in parsed:
            if isinstance(item, Reason):
                tally.add_rejected(item)
                continue
            key = (item.tenant, item.source, item.key)
            link = planned.get(key) or stored.get(key)
            decided = plan(item, link, policy)
            tally.add_plan(decided)
            moved = link is not None and decided.version is not None and decided.version != link.version
            if decided.calls_idp or moved:
                base = link or Link(tenant=item.tenant, source=item.source, key=item.key, idp=policy.idp)
                planned[key] = after(decided, base)
    limits = known_limits(store, settings, policy.idp)
    return FilePlan(path, tenant, policy, tally, estimate_calls(tally.calls, limits), limits, total)
