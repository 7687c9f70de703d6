"""Route modules of the HTTP API, one per feature. Each defines `router: fastapi.APIRouter`;
`load()` includes every module found here, so a feature adds routes without editing the app.
Routes that must stay public (health checks, the IdP's webhook deliveries, which carry their own
secret) set `public = True` at module level; all others require the API's bearer token."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def load() -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return modules
