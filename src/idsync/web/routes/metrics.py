"""`/metrics` for Prometheus: IdP calls by IdP/bucket/status, 429s, rate budget, queue depth by
lane, Kafka consumer lag. Each app has its own registry (tests run several apps in one
process); values are read at scrape time from the governors, the store and the consumer.
Nothing here carries a secret: labels are IdP names, bucket names, lanes, topics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from idsync import __version__
from idsync.domain.authz import Action
from idsync.domain.models import Lane
from idsync.web.auth import require

router = APIRouter(tags=["metrics"])


class ServiceCollector(Collector):
    """Turns one scrape's snapshot (taken by the route, which may await the store) into metrics."""

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        info = GaugeMetricFamily("idsync_info", "This instance", labels=["version", "instance", "store"])
        info.add_metric([__version__, s.get("instance", ""), s.get("store", "")], 1)
        yield info
        calls = CounterMetricFamily(
            "idsync_idp_calls", "IdP calls by status (0: no answer)", labels=["idp", "bucket", "status"]
        )
        limited = CounterMetricFamily(
            "idsync_idp_rate_limited", "IdP calls answered 429", labels=["idp", "bucket"]
        )
        budget = GaugeMetricFamily(
            "idsync_idp_budget_calls",
            "Calls per window this instance allows itself",
            labels=["idp", "bucket"],
        )
        left = GaugeMetricFamily(
            "idsync_idp_budget_remaining_calls", "Calls left in the current window", labels=["idp", "bucket"]
        )
        limit = GaugeMetricFamily(
            "idsync_idp_rate_limit", "Limit per window learned from the IdP", labels=["idp", "bucket"]
        )
        waiting = GaugeMetricFamily(
            "idsync_idp_calls_waiting", "Calls waiting for a permit", labels=["idp", "bucket"]
        )
        charged = GaugeMetricFamily(
            "idsync_idp_endpoint_counter",
            "1 for the rate-limit counter each endpoint is charged to, as learned from the IdP's headers",
            labels=["idp", "endpoint", "bucket"],
        )
        for idp, buckets in s.get("governors", {}).items():
            for bucket, b in buckets.items():
                for endpoint in b.get("endpoints", []):
                    charged.add_metric([idp, endpoint, bucket], 1)
                for status, n in b["calls"].items():
                    calls.add_metric([idp, bucket, str(status)], n)
                limited.add_metric([idp, bucket], b["rate_limited"])
                waiting.add_metric([idp, bucket], b["waiting"])
                if b["limit"] is not None:
                    limit.add_metric([idp, bucket], b["limit"])
                    budget.add_metric([idp, bucket], b["budget"])
                    left.add_metric([idp, bucket], max(b["calls_left"], 0))
        yield from (calls, limited, budget, left, limit, waiting, charged)
        depth = GaugeMetricFamily("idsync_queue_depth", "Changes not done, by lane", labels=["lane"])
        for lane, n in s.get("queue_depth", {}).items():
            depth.add_metric([lane], n)
        yield depth
        done = CounterMetricFamily("idsync_changes_processed", "Changes this instance's worker finished")
        done.add_metric([], s.get("processed", 0))
        yield done
        lag = GaugeMetricFamily(
            "idsync_kafka_consumer_lag", "Messages not yet consumed", labels=["topic", "partition"]
        )
        for (topic, partition), n in s.get("lag", {}).items():
            lag.add_metric([topic, str(partition)], n)
        yield lag
        kafka = CounterMetricFamily("idsync_kafka_messages", "Kafka messages by outcome", labels=["outcome"])
        for outcome, n in s.get("kafka", {}).items():
            kafka.add_metric([outcome], n)
        yield kafka
        instances = GaugeMetricFamily("idsync_instances", "Live instances on the store")
        instances.add_metric([], s.get("instances", 1))
        yield instances


def setup(app: FastAPI) -> None:
    registry = CollectorRegistry(auto_describe=False)
    collector = ServiceCollector()
    registry.register(collector)
    app.state.metrics = (registry, collector)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[Depends(require(Action.READ))],
)
async def metrics(request: Request) -> Response:
    """Prometheus text format (any credential that may read: the numbers name no tenant or user)."""
    registry, collector = request.app.state.metrics
    rt = request.app.state.runtime
    depth = await rt.stores.queue.queue_depth()
    snapshot: dict[str, Any] = {
        "instance": rt.worker.owner,
        "store": rt.store.dialect,
        "governors": rt.governor_snapshot(),
        "queue_depth": {Lane(lane).name.lower(): n for lane, n in depth.items()},
        "processed": rt.worker.processed,
    }
    service = getattr(request.app.state, "service", None)
    if service is not None and service.kafka is not None:
        consumer, publisher = service.kafka.consumer, service.kafka.publisher
        snapshot["lag"] = {(tp.topic, tp.partition): n for tp, n in consumer.lag().items()}
        snapshot["kafka"] = {
            "consumed": consumer.stats.consumed,
            "dead_lettered": consumer.stats.dead_lettered,
            "duplicate": consumer.stats.duplicates,
            "result_published": publisher.results_sent,
            "progress_published": publisher.progress_sent,
        }
    if service is not None and service.coordinator is not None:
        snapshot["instances"] = len(await service.coordinator.live_instances())
    collector.snapshot = snapshot
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
