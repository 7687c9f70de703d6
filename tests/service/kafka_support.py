"""Kafka helpers of the service tests: produce change messages, read whole topics, settings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests import servers


def kafka_config(bootstrap: str, topics: list[str], group: str) -> dict[str, Any]:
    changes, results, progress, dead = topics
    return {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "topics": {"changes": changes, "results": results, "progress": progress, "dead_letter": dead},
        "progress_interval_s": 0.3,
        "publish_interval_s": 0.05,
        **servers.FAST_GROUP,
    }


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sends = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def keyed(message: dict[str, Any]) -> tuple[bytes, bytes]:
    key = f"{message['tenant']}/{message['source']}/{message['key']}".encode()
    return key, json.dumps(message).encode()


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record now in the topic (all partitions, from the beginning), no consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not parts:
            await consumer.topics()
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        out: list[Any] = []
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition, next to the partition's end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        return {tp.partition: await consumer.committed(tp) for tp in parts}
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The offset after the last record of each partition that holds any."""
    ends: dict[int, int] = {}
    for record in await read_topic(bootstrap, topic):
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return ends


def header(record: Any, name: str) -> str | None:
    for k, v in record.headers or ():
        if k == name:
            return bytes(v).decode()
    return None
