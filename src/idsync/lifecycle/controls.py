"""Stop and steer an import that runs: pause, resume, cancel (docs/migration.md).

One operation for every way in: `idsync cancel|pause|resume IMPORT_ID`, `POST /imports/{id}/
cancel|pause|resume`, the dashboard's buttons and the Kafka controls (`import_cancel`, ...).
The state lives in the store (adapters/store/controls.py), so it holds on every instance and
across restarts; every action, refused or done, goes to the audit trail as `import.<control>`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.controls import cancelled_reason
from idsync.adapters.store.features.audit import Outcome, record_audit
from idsync.domain.models import ImportControl, ImportState
from idsync.domain.records import ImportRecord
from idsync.errors import IdSyncError
from idsync.ports import Stores

__all__ = ["ControlRefused", "Controlled", "UnknownImport", "control_import"]

log = logging.getLogger("idsync.lifecycle.controls")


class UnknownImport(IdSyncError):
    """No import (or activation job) has this id."""


class ControlRefused(IdSyncError):
    """The import's state does not allow this control (e.g. resuming one that runs)."""


@dataclass(frozen=True)
class Controlled:
    record: ImportRecord
    before: ImportState


async def control_import(
    stores: Stores,
    db: AsyncStore,
    import_id: str,
    control: ImportControl,
    *,
    actor: str,
    tenant: str | None = None,
) -> Controlled:
    """Pause, resume or cancel `import_id` as `actor`. With `tenant`, an import of another tenant
    is unknown (a Kafka control names the tenant it is for). Raises `UnknownImport` or
    `ControlRefused` (recorded as a failed action)."""
    record = await stores.imports.get(import_id)
    if record is None or (tenant is not None and record.tenant != tenant):
        raise UnknownImport(f"no import {import_id!r}" + (f" for tenant {tenant!r}" if tenant else ""))
    refusal = control.refusal(record.state)
    reason = cancelled_reason(actor) if control is ImportControl.CANCEL else None
    if refusal is None and not await stores.imports.control(import_id, control, reason):
        now = await stores.imports.get(import_id)  # another caller changed it first
        refusal = control.refusal(now.state) if now is not None else "the import is gone"
        refusal = refusal or "the import changed meanwhile; try again"
    if refusal is not None:
        await _audit(db, actor, control, record, "failed", {"state": record.state.value, "reason": refusal})
        raise ControlRefused(f"cannot {control.value} import {import_id}: {refusal}")
    after = await stores.imports.get(import_id)
    assert after is not None
    detail = {"from": record.state.value, "to": after.state.value}
    if control is ImportControl.CANCEL:
        detail["cancelled"] = str(after.counts.get("cancelled", 0))
    await _audit(db, actor, control, record, "ok", detail)
    log.warning("import %s %s by %s (was %s)", import_id, control.done, actor, record.state.value)
    return Controlled(after, record.state)


async def _audit(
    db: AsyncStore,
    actor: str,
    control: ImportControl,
    record: ImportRecord,
    outcome: Outcome,
    detail: dict[str, str],
) -> None:
    await db.call(
        record_audit,
        db.store,
        actor=actor,
        action=f"import.{control.value}",
        target=record.id,
        tenant=record.tenant,
        outcome=outcome,
        detail=detail,
    )
