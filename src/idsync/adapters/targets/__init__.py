"""The application targets of inbound sync (the application's own SQL table, an HTTP callback,
a Kafka topic); `build_target` picks one from the settings. The contract they implement is
`idsync.ports.Target`. Imported lazily: each pulls in its own driver.
"""

from __future__ import annotations

from idsync.clock import Clock
from idsync.config.inbound import AnyTarget, HttpTargetSettings, KafkaTargetSettings, SqlTargetSettings
from idsync.domain.inbound import MappingRules
from idsync.ports import Target

__all__ = ["build_target"]


def build_target(settings: AnyTarget, rules: MappingRules, *, clock: Clock, where: str) -> Target:
    if isinstance(settings, SqlTargetSettings):
        from idsync.adapters.targets.sql import SqlTarget

        return SqlTarget(settings, rules, where=where)
    if isinstance(settings, HttpTargetSettings):
        from idsync.adapters.targets.http import HttpTarget

        return HttpTarget(settings, clock=clock, where=where)
    assert isinstance(settings, KafkaTargetSettings)
    from idsync.adapters.targets.kafka import KafkaTarget

    return KafkaTarget(settings, where=where)
