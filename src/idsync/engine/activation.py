"""Phase 2: activate a tenant's staged users (the IdP sends each its activation e-mail).

An activation job is an import of `activate` changes made from the links that are STAGED, so it
runs through the same queue, governor and counters as any import: resumable (a change per user,
deduplicated by job and user), with progress, and nobody is activated twice (the planner skips
users no longer staged; a lost answer is checked by reading the status before sending again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from idsync.domain.links import IdpStatus
from idsync.domain.models import Lane, Op, user_key
from idsync.domain.records import IngestRow
from idsync.ports import Stores

PAGE = 1000


@dataclass(frozen=True)
class ActivationPlan:
    tenant: str
    source: str | None
    staged: int


async def count_staged(stores: Stores, tenant: str, source: str | None = None) -> ActivationPlan:
    staged = await stores.links.count(tenant, [IdpStatus.STAGED], source)
    return ActivationPlan(tenant, source, staged)


async def enqueue_activation(
    stores: Stores, job_id: str, tenant: str, *, source: str | None = None, origin: str = "activation"
) -> int:
    """Queue one `activate` change per staged user of the tenant; returns how many were new."""
    await stores.imports.create(
        job_id,
        tenant,
        origin,
        input_name=f"activate {tenant}" + (f" source {source}" if source else ""),
    )
    after = ("", "")
    added = 0
    while True:
        links = await stores.links.by_status(
            tenant, [IdpStatus.STAGED], source=source, after=after, limit=PAGE
        )
        if not links:
            break
        rows = []
        for link in links:
            payload = {
                "tenant": tenant,
                "op": Op.ACTIVATE.value,
                "source": link.source,
                "key": link.key,
                "import_id": job_id,
            }
            rows.append(
                IngestRow(
                    tenant=tenant,
                    source=link.source,
                    key=link.key,
                    op=Op.ACTIVATE.value,
                    lane=Lane.BULK,
                    payload=json.dumps(payload),
                    origin=origin,
                    user_key=user_key(tenant, link.source, link.key),
                    import_id=job_id,
                    origin_ref=f"{job_id}:{link.source}:{link.key}",
                )
            )
        receipt = await stores.queue.receive(rows)
        added += sum(1 for i in receipt.ids if i is not None)
        after = (links[-1].source, links[-1].key)
    await stores.imports.finish_input(job_id)
    return added
