"""The migration workflow a support engineer runs (seeds: migration FAQ, user migration and
activation): estimates before work, portal registration, phase 2 activation as a resumable job,
the switch of a tenant to `sync_and_activate`, failure reports and retries. See docs/migration.md.

Pure parts (no I/O): `estimate`, `forecast`, `portals`. The rest drive the store, the engine
and the IdP connectors; the CLI (`idsync activate|plan|portals|failures|retry`) and the HTTP API
(`web/routes/lifecycle.py`) are thin layers over them.
"""
