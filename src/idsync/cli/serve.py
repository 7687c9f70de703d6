"""`idsync serve`: the HTTP API, the workers and the configured transports in one process
(SQLite alone by default; PostgreSQL and Kafka to run several instances side by side).

SIGTERM or Ctrl-C stops it gracefully: no new connections or messages are taken, open requests
and the users in progress get time to finish, what is left is given back to the queue, offsets
are committed and results published (see idsync.service.runner)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import typer
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from idsync.cli.common import ConfigOption, console, settings_or_exit, setup_logging
from idsync.cli.logs import LogFormat, chosen_format


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
    # aiokafka's debug log (every fetch) would cost more CPU than the service itself.
    logging.getLogger("aiokafka").setLevel(logging.INFO if verbose else logging.WARNING)
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
        f"idsync {instance} serving on http://{bind_host}:{bind_port} "
        f"({', '.join(parts)}; OpenAPI schema at /openapi.json)"
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            log_level="warning",
            # JSON logs: uvicorn's loggers go through idsync's handler instead of their own text one.
            log_config=None if chosen_format() is LogFormat.json else LOGGING_CONFIG,
            timeout_graceful_shutdown=20,
            lifespan="on",
        )
    )
    # uvicorn turns SIGTERM/SIGINT into its graceful stop, then re-raises the signal under the
    # handlers it found; with these, a completed graceful stop exits 0 instead of dying by it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _after_graceful_stop)
    server.run()
    if not server.started:
        raise typer.Exit(1)
    console.print(f"idsync {instance} stopped")


def _after_graceful_stop(signum: int, frame: FrameType | None) -> None:
    """A stop signal that arrives after the graceful stop has completed: nothing left to do."""
