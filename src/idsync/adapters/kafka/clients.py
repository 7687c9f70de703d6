"""aiokafka clients built from `[kafka]` settings (connection, security, group tuning)."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from idsync.config import KafkaSettings


def connection_options(settings: KafkaSettings, role: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()],
        "client_id": f"{settings.client_id}-{role}",
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context()
    if settings.sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def make_consumer(settings: KafkaSettings) -> AIOKafkaConsumer:
    """Manual commits only (after the store has the changes), earliest offset for a new group."""
    return AIOKafkaConsumer(
        settings.topics.changes,
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.max_batch,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        rebalance_timeout_ms=settings.rebalance_timeout_ms,
        **connection_options(settings, "consumer"),
    )


def make_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """Every send waits for all in-sync replicas: a result counts as sent only once it is safe."""
    return AIOKafkaProducer(acks="all", linger_ms=5, **connection_options(settings, "producer"))
