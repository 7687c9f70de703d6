"""Inbound sync: the IdP (Okta) is the master of an application's users.

An initial (and re-runnable) sync pages through the IdP's users; Okta event hooks then bring
real-time changes, queued durably before they are acknowledged and applied asynchronously. The
pure mapping (`mapping`) decides what changes; targets (`targets`) write to the application.

Its settings live in `idsync.config.inbound`.
"""
