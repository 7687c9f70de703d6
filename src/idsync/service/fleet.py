"""One view of the fleet: every instance on the store, alive or lately gone, with its share of
each IdP budget and its Kafka partitions with their lag (docs/deployment.md, "Scaled out").

Each instance reports its own part (`status`) with the heartbeat its budget coordinator sends
anyway (every `coordination_interval_s`), so any instance's `GET /service` and dashboard show the
whole fleet from the store. On SQLite (one process) the view is this instance alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from idsync.adapters.store.instances import ServiceStore

if TYPE_CHECKING:
    from idsync.service.runner import Service

__all__ = ["FleetInstance", "FleetView", "fleet_view", "kafka_status"]


class BudgetShareView(BaseModel):
    idp: str
    bucket: str
    allowance: int  # calls per window this instance may make
    sent: int  # calls it made in the current window


class KafkaView(BaseModel):
    connected: bool
    lag: dict[str, int]  # "topic:partition" -> messages not yet consumed
    consumed: int


class FleetInstance(BaseModel):
    instance: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    alive: bool  # heard from within `instance_ttl_s`
    this: bool  # the instance that answers
    shares: list[BudgetShareView]
    kafka: KafkaView | None


class FleetView(BaseModel):
    generated_at: float
    store: str
    instances: list[FleetInstance]
    alive: int
    kafka_lag: int  # over every partition of the live instances


async def kafka_status(service: Service) -> dict[str, Any] | None:
    """This instance's Kafka consumer: connected, and the lag of each assigned partition (the
    last known high water minus the next offset it will read)."""
    transport = service.kafka
    if transport is None:
        return None
    consumer = transport.consumer
    lag: dict[str, int] = {}
    client = consumer.consumer
    if client is not None and consumer.running:
        for tp in sorted(client.assignment(), key=lambda t: (t.topic, t.partition)):
            high = client.highwater(tp)
            position: int | None = None
            with contextlib.suppress(Exception):
                position = await asyncio.wait_for(client.position(tp), 1.0)
            done = max(position or 0, consumer.stats.next_offset.get(tp, 0))
            if high is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(high - done, 0)
    return {
        "connected": bool(transport.connected and consumer.running),
        "lag": lag,
        "consumed": consumer.stats.consumed,
    }


async def status_report(service: Service) -> dict[str, Any]:
    """What this instance publishes with its heartbeat."""
    return {"kafka": await kafka_status(service)}


async def fleet_view(service: Service) -> FleetView:
    rt = service.runtime
    ttl_s = rt.settings.service.instance_ttl_s
    now = time.time()
    if service.coordinator is not None:
        rows = await rt.db.call(ServiceStore(rt.store).fleet, ttl_s, now)
    else:  # one process: what it knows of itself
        rows = [
            {
                "instance": service.instance,
                "host": "localhost",
                "pid": 0,
                "started_at": service.started_at,
                "heartbeat_at": now,
                "alive": True,
                "shares": [],
                "status": json.dumps(await status_report(service)),
            }
        ]
    instances = []
    for row in rows:
        status = json.loads(row["status"]) if row.get("status") else {}
        kafka = status.get("kafka")
        instances.append(
            FleetInstance(
                instance=row["instance"],
                host=row["host"],
                pid=int(row["pid"]),
                started_at=float(row["started_at"]),
                heartbeat_at=float(row["heartbeat_at"]),
                alive=bool(row["alive"]),
                this=row["instance"] == service.instance,
                shares=[BudgetShareView(**s) for s in row["shares"]],
                kafka=KafkaView(**kafka) if kafka else None,
            )
        )
    live = [i for i in instances if i.alive]
    return FleetView(
        generated_at=now,
        store=rt.store.dialect,
        instances=instances,
        alive=len(live),
        kafka_lag=sum(sum(i.kafka.lag.values()) for i in live if i.kafka is not None),
    )
