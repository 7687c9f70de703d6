"""The store builds links from rows without `Link.__init__` (a re-import reads a million): the
result must be the very link the constructor makes, field for field, whatever a row holds."""

from __future__ import annotations

from dataclasses import fields

import pytest

from idsync.adapters.store.links import LINK_FIELDS, link_from_tuple
from idsync.domain.links import IdpStatus, Link, PendingOp

ROWS = [
    ("t", "hr", "k1", "okta", None, None, None, None, None, None, None, None, None, None),
    ("t", "hr", "k2", "okta", "00u1", "a@x.example", "h", "ACTIVE", 3, "create", "E1", "m", "crm", "k9"),
    ("t", "hr", "k3", "okta", "00u2", "Ünïcode@x.example", "h2", "STAGED", 1, None, None, None, None, None),
]


@pytest.mark.parametrize("row", ROWS)
def test_a_link_from_a_row_is_the_constructors_link(row: tuple[object, ...]) -> None:
    made = Link(
        row[0],  # type: ignore[arg-type]
        row[1],  # type: ignore[arg-type]
        row[2],  # type: ignore[arg-type]
        row[3],  # type: ignore[arg-type]
        row[4],  # type: ignore[arg-type]
        row[5],  # type: ignore[arg-type]
        row[6],  # type: ignore[arg-type]
        IdpStatus(row[7]) if row[7] else None,
        row[8],  # type: ignore[arg-type]
        PendingOp(row[9]) if row[9] else None,
        row[10],  # type: ignore[arg-type]
        row[11],  # type: ignore[arg-type]
        (row[12], row[13]) if row[13] is not None else None,  # type: ignore[arg-type]
    )
    built = link_from_tuple(row)
    assert built == made
    assert vars(built) == vars(made)  # every field, in the dataclass's order
    assert list(vars(built)) == [f.name for f in fields(Link)]
    assert len(LINK_FIELDS) == len(row)
