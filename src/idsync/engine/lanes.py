"""The lane of the work in progress, carried to the governor without threading it through calls."""

from __future__ import annotations

from contextvars import ContextVar

from idsync.domain.models import Lane

current_lane: ContextVar[Lane] = ContextVar("idsync_lane", default=Lane.BULK)
