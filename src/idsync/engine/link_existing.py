"""`--link-existing`: list the org's users once, before an import, so that users whose login the
org already holds are matched by login and decided under the tenant's `existing_account` policy
without a create that fails and a lookup after it (domain/identity.py decides; apply.py asks the
listing before any create). One call per 200 accounts, through the governor like any call."""

from __future__ import annotations

import logging

from idsync.ports import IdentityProvider, IdpUser, LinkStore

PAGE = 200  # Okta's documented maximum page of GET /api/v1/users (okta/FACTS.md §1)
_SAVE_EVERY = 2000
log = logging.getLogger("idsync.link_existing")


async def list_org_accounts(links: LinkStore, idp: IdentityProvider) -> int:
    """Store every account of the IdP (any status) by login; returns how many were listed."""
    listed = 0
    batch: list[IdpUser] = []
    async for user in idp.list_users(page_size=PAGE):
        batch.append(user)
        if len(batch) >= _SAVE_EVERY:
            listed += await links.save_listed(idp.name, batch)
            batch = []
    if batch:
        listed += await links.save_listed(idp.name, batch)
    log.info("link-existing: %d accounts of %s listed; matched by login before any create", listed, idp.name)
    return listed
