"""The service's background parts (budget coordinator, Kafka transport) and a view of them.

`setup` registers them with the app, so they start after the runtime and stop before it, in the
order `idsync.service.runner` describes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel

from idsync.adapters.kafka.controls import ImportControlRequest
from idsync.domain.authz import Action
from idsync.domain.models import ImportControl, Lane
from idsync.lifecycle.controls import ControlRefused, UnknownImport, control_import
from idsync.runtime import Runtime
from idsync.service.fleet import FleetView, fleet_view
from idsync.service.runner import ControlHandler, Service
from idsync.web.auth import require

log = logging.getLogger("idsync.web.service")
router = APIRouter(tags=["service"])


class BudgetShare(BaseModel):
    idp: str
    bucket: str
    instance: str
    allowance: int
    sent: int


class ServiceView(BaseModel):
    instance: str
    store: str
    instances: list[str]
    budget_shares: list[BudgetShare]
    kafka: dict[str, Any] | None
    fleet: FleetView  # every instance on the store: alive, budget shares, Kafka lag per partition
    # Per IdP, which endpoints this instance learned share a rate-limit counter (counter ->
    # endpoints), and each move away from the documented table: {endpoint, documented, learned}.
    rate_limit_counters: dict[str, dict[str, list[str]]]
    rate_limit_learned: dict[str, list[dict[str, str]]]


def setup(app: FastAPI) -> None:
    app.state.background.append(("service", _start))


def _start(app: FastAPI) -> Coroutine[Any, Any, None]:
    # Runs in the lifespan right after the worker's task was created and before it first runs,
    # so the coordinator caps every IdP bucket before the first call.
    service = Service(app.state.runtime, on_control=kafka_control(app.state.runtime))
    app.state.service = service

    def worker_task() -> asyncio.Task[Any] | None:
        tasks: list[asyncio.Task[Any]] = getattr(app.state, "tasks", [])
        return next((t for t in tasks if t.get_name() == "worker"), None)

    return service.run(app.state.stop, worker_task)


def kafka_control(rt: Runtime) -> ControlHandler:
    """A Kafka control cancels, pauses or resumes an import of the tenant it names, as actor
    `kafka:<changes topic>`. One that does not apply (no such import, already completed) is
    logged and audited, and the consumer goes on: a control message is never retried."""
    actor = f"kafka:{rt.settings.kafka.topics.changes}" if rt.settings.kafka else "kafka"

    async def apply(request: ImportControlRequest) -> None:
        try:
            await control_import(
                rt.stores, rt.db, request.import_id, request.control, actor=actor, tenant=request.tenant
            )
        except (UnknownImport, ControlRefused) as exc:
            log.warning("Kafka control import_%s: %s", request.control.value, exc)
            return
        if request.control is ImportControl.RESUME:
            rt.worker.notify(Lane.BULK)

    return apply


@router.get("/service", dependencies=[Depends(require(Action.READ))])
async def service_view(request: Request) -> ServiceView:
    """This instance, the live instances on the store, their budget shares, the Kafka transport
    (any credential that may read: nothing here names a tenant or a user)."""
    service: Service = request.app.state.service
    instances = [service.instance]
    shares: list[BudgetShare] = []
    if service.coordinator is not None:
        instances = await service.coordinator.live_instances()
        rows = await service.runtime.db.call(service.coordinator.service.shares)
        shares = [BudgetShare(**{k: r[k] for k in BudgetShare.model_fields}) for r in rows]
    kafka = None
    if service.kafka is not None:
        consumer, publisher = service.kafka.consumer, service.kafka.publisher
        kafka = {
            "connected": service.kafka.connected and consumer.running,
            "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.lag()),
            "consumed": consumer.stats.consumed,
            "dead_lettered": consumer.stats.dead_lettered,
            "publisher": publisher.leading,
            "results_sent": publisher.results_sent,
        }
    return ServiceView(
        instance=service.instance,
        store=service.runtime.store.dialect,
        instances=instances,
        budget_shares=shares,
        kafka=kafka,
        fleet=await fleet_view(service),
        rate_limit_counters={n: g.counters.members() for n, g in service.runtime.governors.items()},
        rate_limit_learned={
            n: [{"endpoint": e, "documented": a, "learned": b} for e, a, b in g.counters.moves]
            for n, g in service.runtime.governors.items()
        },
    )
