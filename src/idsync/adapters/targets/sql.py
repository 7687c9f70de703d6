"""The application's own database table as the target, through SQLAlchemy (SQLite, PostgreSQL).

Column names are configurable: the mapped fields are columns of `table`; roles live in
`roles_table` as (user, role) rows. Only mapped columns, the active column, the external-id
column and managed roles are ever written; every other column and role is left as it is.
Statements run in a worker thread (the engine is synchronous) so the event loop never waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from idsync.adapters.store.engine import build_engine
from idsync.config.inbound import SqlTargetSettings
from idsync.domain.inbound import AppUser, MappingRules, TargetChange
from idsync.errors import Ambiguous, ConfigError, TargetError

__all__ = ["SqlTarget"]

P = ParamSpec("P")
T = TypeVar("T")


class SqlTarget:
    readable = True

    def __init__(self, settings: SqlTargetSettings, rules: MappingRules, *, where: str = "target") -> None:
        self.settings = settings
        self.rules = rules
        self.where = where
        url = settings.resolved_url.get_secret_value() if settings.resolved_url else settings.url or ""
        self.engine: Engine = build_engine(url)
        self.users: Table | None = None
        self.roles: Table | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            if self.users is None:
                await asyncio.to_thread(self._reflect)

    async def aclose(self) -> None:
        self.engine.dispose()

    # ---- schema ------------------------------------------------------------------------------

    def _reflect(self) -> None:
        s = self.settings
        if s.create_tables:
            self._create_default_tables()
        meta = MetaData()
        try:
            users = Table(s.table, meta, autoload_with=self.engine)
            roles = Table(s.roles_table, meta, autoload_with=self.engine) if s.roles_table else None
        except SQLAlchemyError as exc:
            raise ConfigError(f"{self.where}: cannot read table {exc.args[0] if exc.args else exc}") from None
        wanted = {s.key_column, *self.rules.written_fields}
        if s.external_id_column:
            wanted.add(s.external_id_column)
        missing = sorted(c for c in wanted if c not in users.c)
        if missing:
            raise ConfigError(f"{self.where}.table: {s.table} has no column(s) {', '.join(missing)}")
        if roles is not None:
            absent = [c for c in (s.roles_user_column, s.roles_role_column) if c not in roles.c]
            if absent:
                raise ConfigError(
                    f"{self.where}.roles_table: {s.roles_table} has no column(s) {', '.join(absent)}"
                )
        self.users, self.roles = users, roles

    def _create_default_tables(self) -> None:
        s = self.settings
        meta = MetaData()
        generated = s.key_from == "generated"
        key_type: Any = Integer() if generated else String(100)
        columns: list[Column[Any]] = [
            Column(s.key_column, key_type, primary_key=True, autoincrement=generated)
        ]
        columns += [Column(f, String(320)) for f in self.rules.fields if f != s.key_column]
        if self.rules.active_field:
            columns.append(Column(self.rules.active_field, Boolean, nullable=False, default=True))
        if s.external_id_column:
            columns.append(Column(s.external_id_column, String(100)))
        Table(s.table, meta, *columns)
        if s.roles_table:
            Table(
                s.roles_table,
                meta,
                Column(s.roles_user_column, key_type, primary_key=True),
                Column(s.roles_role_column, String(100), primary_key=True),
            )
        meta.create_all(self.engine)

    def _key(self, key: str) -> Any:
        assert self.users is not None
        try:
            python_type = self.users.c[self.settings.key_column].type.python_type
        except NotImplementedError:
            return key
        return int(key) if python_type is int else key

    # ---- reads -------------------------------------------------------------------------------

    async def find(self, match: Sequence[tuple[str, str]]) -> AppUser | None:
        await self.open()
        return await asyncio.to_thread(self._guard, self._find, match)

    async def get(self, key: str) -> AppUser | None:
        await self.open()
        return await asyncio.to_thread(self._guard, self._get, key)

    def _find(self, conn: Connection, match: Sequence[tuple[str, str]]) -> AppUser | None:
        assert self.users is not None
        key_col = self.users.c[self.settings.key_column]
        for app_field, value in match:
            col = self.users.c[app_field]
            keys = (
                conn.execute(select(key_col).where(func.lower(col) == value.lower()).limit(2)).scalars().all()
            )
            if len(keys) > 1:
                raise Ambiguous(f"several application users have {app_field} {value!r}")
            if keys:
                return self._get(conn, str(keys[0]))
        return None

    def _get(self, conn: Connection, key: str) -> AppUser | None:
        assert self.users is not None
        s = self.settings
        row = (
            conn.execute(select(self.users).where(self.users.c[s.key_column] == self._key(key)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        fields = {f: row[f] for f in self.rules.written_fields}
        roles: frozenset[str] = frozenset()
        if self.roles is not None:
            q = select(self.roles.c[s.roles_role_column]).where(
                self.roles.c[s.roles_user_column] == self._key(key)
            )
            roles = frozenset(str(r) for r in conn.execute(q).scalars())
        return AppUser(key, fields, roles)

    # ---- writes ------------------------------------------------------------------------------

    async def apply(self, change: TargetChange) -> str:
        await self.open()
        return await asyncio.to_thread(self._guard, self._apply, change)

    async def unlink(self, key: str, okta_id: str) -> None:
        await self.open()
        if self.settings.external_id_column:
            await asyncio.to_thread(self._guard, self._unlink, key, okta_id)

    def _apply(self, conn: Connection, change: TargetChange) -> str:
        assert self.users is not None
        s = self.settings
        values = dict(change.fields)
        if s.external_id_column:
            values[s.external_id_column] = change.okta_id
        if change.key is None:
            if s.key_from == "okta_id":
                values[s.key_column] = change.okta_id
            stmt = insert(self.users).values(values).returning(self.users.c[s.key_column])
            key = str(conn.execute(stmt).scalar_one())
        else:
            key = change.key
            if change.fields or change.link:
                conn.execute(
                    update(self.users).where(self.users.c[s.key_column] == self._key(key)).values(values)
                )
        self._roles(conn, key, change)
        return key

    def _roles(self, conn: Connection, key: str, change: TargetChange) -> None:
        if self.roles is None or not (change.roles_add or change.roles_remove):
            return
        s = self.settings
        user_col, role_col = self.roles.c[s.roles_user_column], self.roles.c[s.roles_role_column]
        held = set(conn.execute(select(role_col).where(user_col == self._key(key))).scalars())
        add = sorted(change.roles_add - held)
        if add:
            conn.execute(insert(self.roles), [{user_col.name: self._key(key), role_col.name: r} for r in add])
        if change.roles_remove:
            conn.execute(
                delete(self.roles).where(
                    user_col == self._key(key), role_col.in_(sorted(change.roles_remove))
                )
            )

    def _unlink(self, conn: Connection, key: str, okta_id: str) -> None:
        s = self.settings
        assert self.users is not None and s.external_id_column
        ext = self.users.c[s.external_id_column]
        conn.execute(
            update(self.users)
            .where(self.users.c[s.key_column] == self._key(key), ext == okta_id)
            .values({ext.name: None})
        )

    def _guard(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """One transaction per call; database errors become `TargetError` (retried later)."""
        try:
            with self.engine.begin() as conn:
                return fn(conn, *args, **kwargs)
        except SQLAlchemyError as exc:  # a constraint the application enforces will not pass later
            raise TargetError(
                f"{self.where}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                retryable=not isinstance(exc, IntegrityError),
            ) from exc
