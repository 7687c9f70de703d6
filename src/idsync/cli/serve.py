"""`idsync serve`: the HTTP API, the workers and the configured transports in one process
(SQLite alone by default; PostgreSQL and Kafka to run several instances side by side).

SIGTERM or Ctrl-C stops it gracefully: no new connections or messages are taken, open requests
and the users in progress get time to finish, what is left is given back to the queue, offsets
are committed and results published (see idsync.service.runner)."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from idsync.cli.common import ConfigOption, console, settings_or_exit, setup_logging


def serve_command(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, "--host", help="Overrides service.host."),
    port: int | None = typer.Option(None, "--port", help="Overrides service.port."),
    instance_id: str | None = typer.Option(
        None, "--instance-id", help="Overrides service.instance_id (default: host-pid-random)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the service: HTTP API, workers and the configured transports until SIGTERM/Ctrl-C."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    from idsync.service.coordinator import default_instance_id
    from idsync.web.app import create_app

    instance = instance_id or settings.service.instance_id or default_instance_id()
    service = settings.service.model_copy(update={"instance_id": instance})
    settings = settings.model_copy(update={"service": service})
    app = create_app(settings)
    bind_host = host or settings.service.host
    bind_port = port if port is not None else settings.service.port
    if settings.service.api_token is None:
        console.print(
            f"[yellow]warning:[/] {settings.service.api_token_env or 'service.api_token_env'} is not set: "
            "every route but /healthz and /readyz answers 503 until a token is configured"
        )
    parts = [settings.store.url.split(":", 1)[0]]
    if settings.kafka is not None:
        parts.append(f"kafka {settings.kafka.topics.changes}")
    console.print(
        f"idsync {instance} serving on http://{bind_host}:{bind_port} ({', '.join(parts)}; API docs at /docs)"
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            log_level="warning",
            timeout_graceful_shutdown=20,
            lifespan="on",
        )
    )
    server.run()  # installs the SIGTERM/SIGINT handlers that start the graceful stop
