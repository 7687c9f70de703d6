"""What the store's parts share: one transaction helper over the engine, chunking of long IN
lists, and the import counters (written by the queue as results land, read by the imports)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, update
from sqlalchemy.sql.dml import UpdateBase

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


def execute_many(conn: Connection, stmt: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """`conn.execute(stmt, rows)`; on SQLite straight to the driver's executemany, which skips
    SQLAlchemy's per-row parameter processing (3x faster on the writes of every result). Only for
    statements whose values are plain str/int/float/None (no type that converts them)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    keys = tuple(rows[0])
    cached = _DRIVER_SQL.get((id(stmt), keys))
    if cached is None or cached[0] is not stmt:  # statements built once (module level), by identity
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
        names = tuple(getattr(compiled, "positiontup", None) or ())
        binds = getattr(compiled, "binds", {})
        fixed = {n: binds[n].effective_value for n in names if n not in keys and n in binds}
        cached = (stmt, compiled.string, names, fixed)
        _DRIVER_SQL[(id(stmt), keys)] = cached
    _, sql, names, fixed = cached
    conn.exec_driver_sql(sql, [tuple(r[n] if n in r else fixed[n] for n in names) for r in rows])


_DRIVER_SQL: dict[tuple[int, tuple[str, ...]], tuple[UpdateBase, str, tuple[str, ...], dict[str, Any]]] = {}


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
