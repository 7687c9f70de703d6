"""The Okta connector: Okta's Management API (users, lifecycle, apps) over httpx."""

from idsync.adapters.okta.connector import OktaConnector

__all__ = ["OktaConnector"]
