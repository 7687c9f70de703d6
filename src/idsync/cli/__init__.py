"""The `idsync` command line: thin commands over the engine, built by one composition root."""
