"""The shared test servers start, answer, and keep tests apart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import create_engine, text

from tests import servers


@pytest.mark.postgres
def test_postgres_database_is_fresh_and_supports_skip_locked(pg_database: str) -> None:
    engine = create_engine(pg_database)
    with engine.begin() as c:
        c.execute(text("create table jobs (id int primary key)"))
        c.execute(text("insert into jobs select generate_series(1, 6)"))
    with engine.connect() as a, engine.connect() as b:
        ta, tb = a.begin(), b.begin()
        q = text("select id from jobs order by id limit 3 for update skip locked")
        first = [r[0] for r in a.execute(q)]
        second = [r[0] for r in b.execute(q)]
        ta.rollback()
        tb.rollback()
    engine.dispose()
    assert first == [1, 2, 3] and second == [4, 5, 6]


@pytest.mark.kafka
async def test_kafka_round_trip_through_a_consumer_group(
    kafka_bootstrap: str, kafka_topics: Callable[..., list[str]]
) -> None:
    (topic,) = kafka_topics("roundtrip", partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, str(i).encode(), key=str(i).encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **servers.FAST_GROUP,
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        while len(seen) < 10:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no messages within 5 s"
            for records in batch.values():
                seen.update(r.value.decode() for r in records)
    finally:
        await consumer.stop()
    assert seen == {str(i) for i in range(10)}
