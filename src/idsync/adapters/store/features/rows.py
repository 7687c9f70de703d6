"""A table row as the dataclass whose fields have the columns' names.

Why one helper: every table here is read back into a frozen record field by field, and the
numbers need the same care each time (a driver may answer an integer column with another
number type, a float column with an int on SQLite). `from_row` reads the annotations instead of
a hand-written list per table; fields that need parsing (JSON, enums) are passed in `given`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import RowMapping

__all__ = ["from_row"]

T = TypeVar("T")

# Annotation (as the string `from __future__ import annotations` leaves) -> how to read it.
_NUMBERS: dict[str, Callable[[Any], Any]] = {
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "bool": bool,
}


@cache
def _readers(cls: Any) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    return tuple((f.name, _NUMBERS.get(str(f.type))) for f in dataclasses.fields(cls) if f.init)


def from_row(cls: type[T], m: Mapping[str, Any] | RowMapping, **given: Any) -> T:
    """`cls` with each field from the column of its name (numbers converted, None kept), or
    from `given` where the caller parsed it."""
    values: dict[str, Any] = {}
    readers: tuple[tuple[str, Callable[[Any], Any] | None], ...] = _readers(cast(Any, cls))
    for name, read in readers:
        if name in given:
            values[name] = given[name]
        else:
            v = m[name]
            values[name] = read(v) if read is not None and v is not None else v
    return cls(**values)
