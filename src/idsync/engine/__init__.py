"""The engine: async orchestration over the ports (governor, ingest, workers, jobs)."""
