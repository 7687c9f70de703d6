"""Application targets of inbound sync; `build_target` picks one from the settings."""

from __future__ import annotations

from idsync.clock import Clock
from idsync.inbound.config import AnyTarget, HttpTargetSettings, KafkaTargetSettings, SqlTargetSettings
from idsync.inbound.mapping import MappingRules
from idsync.inbound.targets.base import Ambiguous, Target, TargetChange, TargetError, change_message

__all__ = ["Ambiguous", "Target", "TargetChange", "TargetError", "build_target", "change_message"]


def build_target(settings: AnyTarget, rules: MappingRules, *, clock: Clock, where: str) -> Target:
    if isinstance(settings, SqlTargetSettings):
        from idsync.inbound.targets.sql import SqlTarget

        return SqlTarget(settings, rules, where=where)
    if isinstance(settings, HttpTargetSettings):
        from idsync.inbound.targets.http import HttpTarget

        return HttpTarget(settings, clock=clock, where=where)
    assert isinstance(settings, KafkaTargetSettings)
    from idsync.inbound.targets.kafka import KafkaTarget

    return KafkaTarget(settings, where=where)
