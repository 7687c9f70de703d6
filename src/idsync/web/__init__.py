"""The HTTP side of `idsync serve`: a thin FastAPI app over the engine."""
