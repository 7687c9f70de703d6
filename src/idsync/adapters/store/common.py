"""What the store's parts share: one transaction helper over the engine, chunking of long IN
lists, and the import counters (written by the queue as results land, read by the imports)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, bindparam, update

from idsync.adapters.store.schema import imports
from idsync.domain.models import ImportState, Status

COUNTED = tuple(s.value for s in Status)  # every status has a counter column on imports
CHUNK = 500  # keys per IN (...) query


class Part:
    """One concern of the store, sharing the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn


def chunks(items: Sequence[object] | list[str], size: int) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


COUNTER_NAMES = ("received", *COUNTED)
BUMP = (
    update(imports)
    .where(imports.c.id == bindparam("iid"))
    .values(
        {
            **{name: getattr(imports.c, name) + bindparam(f"n_{name}") for name in COUNTER_NAMES},
            "updated_at": bindparam("at"),
        }
    )
)
ZERO_COUNTS = {f"n_{name}": 0 for name in COUNTER_NAMES}
DONE = sum((getattr(imports.c, s) for s in COUNTED), start=imports.c.created * 0)
COMPLETE = (
    update(imports)
    .where(
        imports.c.id == bindparam("iid"),
        imports.c.input_done == True,  # noqa: E712
        imports.c.state == ImportState.RUNNING.value,
        imports.c.received == DONE,
    )
    .values(state=ImportState.COMPLETED.value, finished_at=bindparam("at"))
)


ADD_CALLS = (
    update(imports)
    .where(imports.c.id == bindparam("iid"))
    .values(api_calls=imports.c.api_calls + bindparam("n"))
)


def add_calls(conn: Connection, import_id: str, calls: int) -> None:
    """Count IdP calls made for an import (in the transaction of the results they produced)."""
    conn.execute(ADD_CALLS, {"iid": import_id, "n": calls})


def bump_import(conn: Connection, import_id: str, counts: Counter[str], now: float) -> None:
    params: dict[str, object] = {f"n_{name}": counts.get(name, 0) for name in COUNTER_NAMES}
    conn.execute(BUMP, {**params, "iid": import_id, "at": now})
    maybe_complete(conn, import_id, now)


def maybe_complete(conn: Connection, import_id: str, now: float) -> None:
    conn.execute(COMPLETE, {"iid": import_id, "at": now})
