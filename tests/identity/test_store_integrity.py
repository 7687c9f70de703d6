"""The rule lives in the store, not only in code: a second link to one IdP account is refused by
the database itself (SQLite and PostgreSQL), and upgrading a store that already holds such links
reports them by key instead of failing or keeping them silently."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from idsync.adapters.store import Store
from idsync.domain.links import IdpStatus, Link
from idsync.errors import LinkConflict
from tests.common import run_idsync

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'idsync.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


def _link(tenant: str, source: str, key: str, idp_id: str | None, **kw: object) -> Link:
    return Link(
        tenant,
        source,
        key,
        "okta",
        idp_id,
        kw.pop("login", "ann@example.com"),
        "h",
        IdpStatus.STAGED,
        1,
        **kw,
    )  # type: ignore[arg-type]


def test_the_database_refuses_a_second_link_to_one_account(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.links.save(_link("efs", "efs-admin", "4711", "00uACCOUNT00000001"))
        for other in (
            _link("efs", "panelist", "p-9", "00uACCOUNT00000001"),  # same tenant, other source
            _link("efs", "efs-admin", "4712", "00uACCOUNT00000001"),  # same source, other key
            _link("tenant-b", "efs-admin", "4711", "00uACCOUNT00000001"),  # another tenant
        ):
            with pytest.raises(LinkConflict):
                store.links.save(other)
        # Even written past the store's code, the index holds.
        with store.engine.begin() as conn, pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            conn.execute(
                text(
                    "INSERT INTO links (tenant, source, key, idp, idp_id, updated_at) "
                    "VALUES ('x', 'y', 'z', 'okta', '00uACCOUNT00000001', 0)"
                )
            )
        holder = store.links.holder_of("okta", "00uACCOUNT00000001")
        assert holder is not None and holder.identity == "efs-admin/4711"
        # merge_sources: an identity of the same tenant reaches the account through its holder.
        store.links.save(_link("efs", "panelist", "p-9", "00uACCOUNT00000001", via=("efs-admin", "4711")))
        shared = store.links.get("efs", "panelist", "p-9")
        assert shared is not None and shared.idp_id == "00uACCOUNT00000001"
        assert shared.sharers == ("efs-admin",)
        holder = store.links.holder_of("okta", "00uACCOUNT00000001")
        assert holder is not None and holder.sharers == ("panelist",)
        # Logins are found as Okta compares them: case and diacritics aside.
        found = store.links.holder_by_login("okta", "ANN@example.com", besides=("efs", "crm", "1"))
        assert found is not None and found.identity == "efs-admin/4711"
    finally:
        store.close()


def test_upgrading_a_store_with_an_account_linked_twice_reports_it_by_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript((DATA / "store-core_0003.sql").read_text())  # as the previous release left it
    con.close()
    config = tmp_path / "idsync.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{path}"\n')
    before = run_idsync(tmp_path, "db", "status", "--config", str(config))
    assert before.returncode == 1 and "core_0004" in before.stdout and "pending" in before.stdout, (
        before.stdout
    )
    with caplog.at_level(logging.WARNING, logger="idsync.store"):
        upgraded = run_idsync(tmp_path, "db", "upgrade", "--config", str(config))
    assert upgraded.returncode == 0 and "core_0004" in upgraded.stdout, upgraded.stdout + upgraded.stderr
    assert "efs/efs-admin/4711" in upgraded.stderr and "detached" in upgraded.stderr  # reported by key
    after = run_idsync(tmp_path, "db", "status", "--config", str(config))
    assert after.returncode == 0 and "0 pending" in after.stdout, after.stdout
    with caplog.at_level(logging.WARNING, logger="idsync.store"):
        store = Store(f"sqlite:///{path}")
    try:
        conflicts = store.links.conflicts()
        detached = sorted((c["tenant"], c["source"], c["key"]) for c in conflicts)
        assert detached == [("efs", "efs-admin", "4711"), ("tenant-b", "app", "b-1")]
        assert {c["kept"] for c in conflicts} == {"efs/panelist/p-9"}  # its change created the account
        kept = store.links.get("efs", "panelist", "p-9")
        assert kept is not None and kept.idp_id == "00uSHARED000000001"
        for tenant, source, key in detached:
            link = store.links.get(tenant, source, key)
            assert link is not None and link.idp_id is None and link.last_error_code == "link_conflict"
            assert "efs/panelist/p-9" in (link.last_error_message or "")
        untouched = store.links.get("efs", "efs-admin", "4712")
        assert untouched is not None and untouched.idp_id == "00uSOLO00000000002" and untouched.version == 2
        received = store.queue.change_result(1)  # the previous release's results are kept
        assert received is not None and received["status"] == "created" and received["key"] == "p-9"
        with pytest.raises(LinkConflict):
            store.links.save(_link("efs", "efs-admin", "4711", "00uSHARED000000001"))
    finally:
        store.close()
    shown = run_idsync(tmp_path, "links", "conflicts", "--config", str(config), "--json")
    assert shown.returncode == 1, shown.stderr
    reported = [json.loads(line) for line in shown.stdout.splitlines()]
    assert sorted((r["tenant"], r["source"], r["key"]) for r in reported) == detached


def test_an_upgraded_postgresql_store_keeps_one_holder(pg_database: str) -> None:
    """The same upgrade on PostgreSQL: today's schema taken back to core_0003, two links on one
    account, then opened again."""
    store = Store(pg_database)
    with store.engine.begin() as conn:
        for stmt in (
            "DROP INDEX ux_links_account",
            "DROP INDEX ix_links_login",
            "DROP INDEX ix_links_via",
            "ALTER TABLE links DROP COLUMN login_key, DROP COLUMN via_source, DROP COLUMN via_key",
            "DROP TABLE link_conflicts",
            "DROP TABLE org_accounts",
            "CREATE INDEX ix_links_idp_user ON links (idp, idp_id)",
            "DELETE FROM schema_migrations WHERE name = 'core_0004'",
        ):
            conn.exec_driver_sql(stmt)
        for tenant, source, key in (("efs", "a", "1"), ("efs", "b", "2")):
            conn.exec_driver_sql(
                "INSERT INTO links (tenant, source, key, idp, idp_id, login, updated_at) VALUES "
                f"('{tenant}', '{source}', '{key}', 'okta', '00uTWICE', 'Zoe@Example.com', 0)"
            )
    store.close()
    store = Store(pg_database)
    try:
        assert [(c["source"], c["key"], c["kept"]) for c in store.links.conflicts()] == [
            ("b", "2", "efs/a/1")
        ]
        found = store.links.holder_by_login("okta", "zoe@example.com", besides=("efs", "c", "3"))
        assert found is not None and found.identity == "a/1"
    finally:
        store.close()
