"""Consuming change messages: validate, dead-letter what is not a valid change, store, commit.

At least once, applied once: offsets are committed only after the batch is in the store, and
the store drops a redelivered message by its `topic:partition:offset` reference (an element of
a batch by `topic:partition:offset:index`). A message that is not valid JSON or not a valid
change is copied to the dead-letter topic with the reason *and* stored as a `failed` change (so
the results topic answers it too, under its Kafka key when it cannot say who it is about); an
invalid element of a batch is dead-lettered alone; none of it stops the consumer. Messages are
handled partition by partition in offset order, so one user's changes (same key, same
partition) enter the queue in the order they were sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from idsync.adapters.kafka.clients import make_consumer
from idsync.adapters.kafka.codec import (
    ImportEnd,
    ImportStart,
    Item,
    Outgoing,
    Record,
    dead_letter_message,
    decode,
)
from idsync.adapters.kafka.controls import ImportControlRequest
from idsync.config import KafkaSettings
from idsync.domain.models import ChangeMessage, Lane, Reason
from idsync.domain.records import Received
from idsync.engine.core import Engine
from idsync.engine.ingest import Defaults, to_change
from idsync.engine.jobs import link_existing_accounts

log = logging.getLogger("idsync.kafka.consumer")
_IMPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")


@dataclass
class ConsumerStats:
    consumed: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    batches_failed: int = 0
    next_offset: dict[TopicPartition, int] = field(default_factory=dict)


def _import_of(item: Received) -> str | None:
    if isinstance(item.payload, dict):
        value = item.payload.get("import_id")
        if isinstance(value, str) and _IMPORT_ID.match(value):
            return value
    return None


class ChangeConsumer:
    def __init__(
        self,
        settings: KafkaSettings,
        engine: Engine,
        producer: AIOKafkaProducer,
        *,
        consumer_factory: Callable[[KafkaSettings], AIOKafkaConsumer] = make_consumer,
        on_control: Callable[[ImportControlRequest], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._on_control = on_control  # cancel/pause/resume an import (lifecycle/controls.py)
        self.engine = engine
        self.producer = producer
        self._factory = consumer_factory
        self.consumer: AIOKafkaConsumer | None = None
        self.stats = ConsumerStats()
        self._known_imports: set[str] = set()
        self.running = False

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop`; the batch in hand is finished and committed before leaving."""
        delay = 0.5
        while not stop.is_set():
            consumer = self._factory(self.settings)
            try:
                await consumer.start()
            except KafkaError as exc:
                log.warning("cannot reach Kafka (%s); retrying in %.0f s", type(exc).__name__, delay)
                with contextlib.suppress(Exception):
                    await consumer.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            self.consumer, self.running, delay = consumer, True, 0.5
            try:
                await self._consume(consumer, stop)
            except KafkaError as exc:  # the broker went away, the group was lost: start over
                log.warning("Kafka consumer failed (%s); reconnecting", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            finally:
                self.running = False
                with contextlib.suppress(Exception):
                    await consumer.stop()  # leaves the group: its partitions move to other instances

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=250, max_records=self.settings.max_batch)
            if not batch:
                continue
            try:
                await self.handle(batch)
            except Exception:
                # Nothing of this batch is committed: go back and read it again after a pause.
                self.stats.batches_failed += 1
                log.exception(
                    "could not store a batch of %d messages; retrying", sum(map(len, batch.values()))
                )
                for tp, records in batch.items():
                    with contextlib.suppress(IllegalStateError):
                        consumer.seek(tp, records[0].offset)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                continue
            await self._commit(consumer, {tp: records[-1].offset + 1 for tp, records in batch.items()})

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        mine = consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in mine}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance moved the partition: its new owner reads these again; the store
            # drops them as duplicates.
            log.info("offset commit skipped after a rebalance: %s", type(exc).__name__)
            return
        self.stats.next_offset.update(offsets)

    def lag(self) -> dict[TopicPartition, int]:
        """Messages not yet consumed, per assigned partition (from the last fetched high water)."""
        consumer = self.consumer
        if consumer is None or not self.running:
            return {}
        out = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            out[tp] = max(high - self.stats.next_offset.get(tp, 0), 0)
        return out

    # ---- one batch -------------------------------------------------------------------------------

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        for records in batch.values():
            await self._partition(records)

    async def _partition(self, records: Sequence[Record]) -> None:
        run: list[tuple[Record, Item, Received]] = []
        run_import: str | None = None
        for record in records:
            for item in decode(record):  # one message, or each element of a batch
                decoded = item.decoded
                if isinstance(decoded, Received):
                    import_id = _import_of(decoded)
                    if run and import_id != run_import:
                        await self._store(run, run_import)
                        run = []
                    run_import = import_id
                    run.append((record, item, decoded))
                    continue
                if run:  # a control applies after the changes before it
                    await self._store(run, run_import)
                    run = []
                if isinstance(decoded, ImportEnd):
                    await self._import_end(decoded)
                elif isinstance(decoded, ImportStart):
                    await self._import_start(decoded)
                elif isinstance(decoded, ImportControlRequest):
                    if self._on_control is not None:
                        await self._on_control(decoded)
                else:
                    await self._dead_letter([(record, item, decoded)])
        if run:
            await self._store(run, run_import)

    async def _store(self, run: list[tuple[Record, Item, Received]], import_id: str | None) -> None:
        engine = self.engine
        if import_id is not None and import_id not in self._known_imports:
            tenant = next(
                (str(i.payload.get("tenant") or "?") for _, _, i in run if isinstance(i.payload, dict)), "?"
            )
            await engine.stores.imports.create(import_id, tenant[:100], "kafka")
            if len(self._known_imports) > 10_000:
                self._known_imports.clear()
            self._known_imports.add(import_id)
        defaults = Defaults(origin="kafka", import_id=import_id)
        parsed = [to_change(received, defaults) for _, _, received in run]  # validated once, here
        invalid = [
            (rec, item, p) for (rec, item, _), p in zip(run, parsed, strict=True) if isinstance(p, Reason)
        ]
        if invalid:
            await self._dead_letter(invalid)  # before the store: a crash repeats it, never skips it
        results = await engine.ingestor.store(parsed, [received for _, _, received in run], defaults)
        self.stats.consumed += len(run)
        self.stats.duplicates += sum(1 for change_id, _ in results if change_id is None)
        lanes = {p.lane for change_id, p in results if change_id is not None and isinstance(p, ChangeMessage)}
        for lane in sorted(lanes):
            engine.worker.notify(Lane(lane))

    async def _import_end(self, end: ImportEnd) -> None:
        await self.engine.stores.imports.create(end.import_id, end.tenant, "kafka", total=end.total)
        self._known_imports.add(end.import_id)
        log.info("import %s: %d changes in all", end.import_id, end.total)

    async def _import_start(self, start: ImportStart) -> None:
        record = await self.engine.stores.imports.create(
            start.import_id, start.tenant, "kafka", total=start.expected
        )
        self._known_imports.add(start.import_id)
        if start.link_existing and record.counts["received"] == 0:
            await link_existing_accounts(self.engine, start.tenant, start.import_id)
        log.info(
            "import %s started%s", start.import_id, f": {start.expected} changes" if start.expected else ""
        )

    async def _dead_letter(self, items: list[tuple[Record, Item, Reason]]) -> None:
        sends = [self._send(dead_letter_message(rec, reason, item)) for rec, item, reason in items]
        await asyncio.gather(*sends)
        self.stats.dead_lettered += len(items)

    async def _send(self, out: Outgoing) -> None:
        await self.producer.send_and_wait(
            self.settings.topics.dead_letter, out.value, key=out.key, headers=out.headers
        )
