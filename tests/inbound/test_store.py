"""Inbound sync's links in the store, on SQLite and on PostgreSQL: an application user linked to
a second Okta user is refused with the domain's `LinkConflict` (reconcile reports it as a
`conflict` skip), and the first link is kept as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idsync.adapters.store import Store
from idsync.adapters.store.inbound import InboundLink, InboundStore
from idsync.errors import LinkConflict


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'idsync.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
    opened = Store(url)
    yield opened
    opened.close()


def test_an_application_user_linked_twice_is_a_link_conflict(store: Store) -> None:
    links = InboundStore(store)
    links.save_links([InboundLink("efs", "00u1", "4711", login="ann@example.com")], now=1.0)
    with pytest.raises(LinkConflict, match="linked to another Okta user"):
        links.save_links([InboundLink("efs", "00u2", "4711", login="bob@example.com")], now=2.0)
    assert links.link_for_key("efs", "4711") == links.get_link("efs", "00u1")
    assert links.get_link("efs", "00u2") is None
    # The same key in another integration is another application's user: no conflict.
    links.save_links([InboundLink("crm", "00u2", "4711")], now=3.0)
    assert [link.okta_id for link in links.all_links("crm")] == ["00u2"]
