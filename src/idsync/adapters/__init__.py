"""Adapters: every outbound I/O of idsync (IdP connectors, state stores, transports, files)."""
