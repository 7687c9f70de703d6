"""`idsync serve`: the HTTP API and the workers in one process (SQLite alone by default)."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from idsync.cli.common import ConfigOption, console, settings_or_exit, setup_logging


def serve_command(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, "--host", help="Overrides service.host."),
    port: int | None = typer.Option(None, "--port", help="Overrides service.port."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the service: HTTP API, workers and the configured transports until SIGTERM/Ctrl-C."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    from idsync.web.app import create_app

    app = create_app(settings)
    bind_host = host or settings.service.host
    bind_port = port if port is not None else settings.service.port
    if settings.service.api_token is None:
        console.print(
            f"[yellow]warning:[/] {settings.service.api_token_env or 'service.api_token_env'} is not set: "
            "every route but /healthz and /readyz answers 503 until a token is configured"
        )
    console.print(f"idsync serving on http://{bind_host}:{bind_port} (API docs at /docs)")
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", timeout_graceful_shutdown=20)
