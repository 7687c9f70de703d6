"""A file import raises the GC's first threshold while it runs and gives the old one back."""

from __future__ import annotations

import gc

from idsync.lifecycle.imports import fewer_collections


def test_the_threshold_is_raised_for_the_import_and_restored_after() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, *before[1:])
        with fewer_collections(50_000):
            assert gc.get_threshold() == (50_000, *before[1:])
        assert gc.get_threshold() == (700, *before[1:])
        gc.set_threshold(80_000, *before[1:])  # a process that set a higher one keeps it
        with fewer_collections(50_000):
            assert gc.get_threshold()[0] == 80_000
        assert gc.get_threshold()[0] == 80_000
    finally:
        gc.set_threshold(*before)
