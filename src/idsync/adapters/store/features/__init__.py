"""Tables that features add to the state store, one module per feature.

Each module defines its tables on `idsync.adapters.store.schema.metadata` and calls
`schema.register(name, description, step)` for the migration that creates them on an existing
database. `load()` imports every module here before the store migrates, so nothing else needs
editing when a feature adds a table.
"""

from __future__ import annotations

import importlib
import pkgutil


def load() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
