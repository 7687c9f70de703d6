"""The store's knowledge of IdP accounts, as the engine asks for it (ports.AccountDirectory)."""

from __future__ import annotations

from idsync.domain.links import Link
from idsync.engine.db import AsyncStore
from idsync.ports import IdpUser


class StoreAccounts:
    def __init__(self, db: AsyncStore) -> None:
        self._db = db

    async def holder_of(self, idp: str, idp_id: str) -> Link | None:
        return await self._db.call(self._db.store.holder_of, idp, idp_id)

    async def holder_by_login(self, idp: str, login: str, *, besides: tuple[str, str, str]) -> Link | None:
        return await self._db.call(self._db.store.holder_by_login, idp, login, besides=besides)

    async def listed_account(self, idp: str, login: str) -> IdpUser | None:
        return await self._db.call(self._db.store.org_account, idp, login)

    async def forget_listed(self, idp: str, login: str) -> None:
        await self._db.call(self._db.store.drop_org_account, idp, login)
