"""Sending back what became of Kafka changes: one result per change, and import progress.

The store is the outbox: a change that came in on Kafka is `done` with its result, and
`published` once the broker has acknowledged its result message. A crash between the two sends
that result again (at least once; consumers key on tenant/source/key and version). One instance
at a time publishes (a lease in the store), so several instances do not send every result
twice, and a dead publisher's role passes to another after the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaProducer

from idsync.adapters.kafka.codec import Outgoing, progress_message, result_message
from idsync.adapters.store.aio import AsyncStore
from idsync.adapters.store.instances import ServiceStore
from idsync.adapters.store.outbox import PublishRow, imports_to_report, mark_published, unpublished
from idsync.config import KafkaSettings
from idsync.domain.models import ImportProgress, ImportState
from idsync.domain.records import ImportRecord
from idsync.engine.jobs import RateMeter
from idsync.ports import ImportStore

log = logging.getLogger("idsync.kafka.publisher")
LEASE = "kafka-publisher"
_PAGE = 500


class ResultPublisher:
    def __init__(
        self,
        settings: KafkaSettings,
        db: AsyncStore,
        imports: ImportStore,
        producer: AIOKafkaProducer,
        instance: str,
        *,
        lease_ttl_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.imports = imports
        self.producer = producer
        self.instance = instance
        self.lease_ttl_s = lease_ttl_s
        self.service = ServiceStore(db.store)
        self.leading = False
        self.results_sent = 0
        self.progress_sent = 0
        self._meters: dict[str, RateMeter] = {}
        self._final_sent: dict[str, ImportState] = {}  # the last state published as final
        self._reported_until = 0.0
        self._last_progress = 0.0
        self._lease_until = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.publish_once()
            except Exception:
                log.exception("publishing results failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.publish_interval_s)

    async def publish_once(self, *, progress: bool | None = None) -> int:
        """Send what is waiting (when this instance holds the role); returns results sent."""
        if not await self._lead():
            return 0
        sent = await self._results()
        due = time.monotonic() - self._last_progress >= self.settings.progress_interval_s
        if progress or (progress is None and due):
            await self._progress()
        return sent

    async def close(self) -> None:
        """Last pass at shutdown (after the worker stopped), then give up the role."""
        with contextlib.suppress(Exception):
            await self.publish_once(progress=True)
        if self.leading:
            db = self.db
            with contextlib.suppress(Exception):
                await db.call(self.service.drop_lease, LEASE, self.instance)
            self.leading = False

    async def _lead(self) -> bool:
        now = time.time()
        if self.leading and now < self._lease_until - self.lease_ttl_s / 2:
            return True
        was = self.leading
        self.leading = await self.db.call(
            self.service.hold_lease, LEASE, self.instance, self.lease_ttl_s, now
        )
        if self.leading:
            self._lease_until = now + self.lease_ttl_s
            if not was:
                log.info("%s publishes results and progress", self.instance)
                self._reported_until = now - self.settings.progress_interval_s
        return self.leading

    # ---- results -----------------------------------------------------------------------------

    async def _results(self) -> int:
        db = self.db
        total = 0
        while True:
            rows: list[PublishRow] = await db.call(unpublished, db.store, "kafka", _PAGE)
            if not rows:
                return total
            sends = [await self._send(self.settings.topics.results, _result(r)) for r in rows]
            await asyncio.gather(*sends)  # every result acknowledged before it counts as sent
            await db.call(mark_published, db.store, [r.id for r in rows])
            total += len(rows)
            self.results_sent += len(rows)
            if len(rows) < _PAGE:
                return total

    async def _send(self, topic: str, out: Outgoing) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = await self.producer.send(
            topic, out.value, key=out.key, headers=out.headers
        )
        return fut

    # ---- import progress -----------------------------------------------------------------------

    async def _progress(self) -> None:
        db = self.db
        now = time.time()
        records = await db.call(imports_to_report, db.store, "kafka", self._reported_until)
        sends = []
        for record in records:
            record = await self._maybe_finish(record)
            if record.state is not ImportState.RUNNING and self._final_sent.get(record.id) is record.state:
                continue
            progress = self._measure(record)
            if record.state is ImportState.RUNNING:
                self._final_sent.pop(record.id, None)  # a paused import runs again when resumed
                await self.imports.set_rate(record.id, progress.rate)
            else:
                self._final_sent[record.id] = record.state  # paused, completed, cancelled
                self._meters.pop(record.id, None)
            sends.append(await self._send(self.settings.topics.progress, progress_message(progress)))
        await asyncio.gather(*sends)
        self.progress_sent += len(sends)
        self._reported_until = now
        self._last_progress = time.monotonic()

    async def _maybe_finish(self, record: ImportRecord) -> ImportRecord:
        """An import whose `import_end` named its total is complete once all of it came in."""
        if (
            record.state is ImportState.RUNNING
            and not record.input_done
            and record.total is not None
            and record.counts["received"] >= record.total
        ):
            await self.imports.finish_input(record.id)
            again = await self.imports.get(record.id)
            return again or record
        return record

    def _measure(self, record: ImportRecord) -> ImportProgress:
        progress = record.progress()
        if record.state is ImportState.RUNNING:
            meter = self._meters.setdefault(record.id, RateMeter())
            progress.rate = meter.add(time.monotonic(), progress.done)
            if progress.rate > 0:
                left = (progress.total if progress.total is not None else progress.received) - progress.done
                progress.eta_s = max(left, 0) / progress.rate
        return progress


def _result(r: PublishRow) -> Outgoing:
    return result_message(
        tenant=r.tenant,
        source=r.source,
        key=r.key,
        status=r.status,
        idp_id=r.idp_id,
        reason_code=r.reason_code,
        reason_message=r.reason_message,
        version=r.version,
        import_id=r.import_id,
        message_id=r.message_id,
        origin_ref=r.origin_ref,
        activation_url=r.activation_url,
    )
