"""Entry point of the `idsync` console script; each command group lives in its own module."""

from __future__ import annotations

import typer

from idsync.cli import (
    activate,
    audit,
    controls,
    db,
    demo,
    doctor,
    emulator,
    failures,
    imports,
    links,
    plan,
    portals,
    route,
    safety,
    serve,
    tenants,
    tokens,
)
from idsync.cli.inbound import app as inbound_app
from idsync.cli.logs import ENV, LogFormat, choose_format
from idsync.runtime import use_fast_loop

app = typer.Typer(
    name="idsync",
    help="Keep application users and identity-provider accounts in step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(
    log_format: LogFormat | None = typer.Option(
        None,
        "--log-format",
        envvar=ENV,
        help="text (default), or json: one JSON object per line on stderr, for a log collector.",
        case_sensitive=False,
    ),
) -> None:
    """Keep application users and identity-provider accounts in step."""
    choose_format(log_format)


app.add_typer(emulator.app, name="emulator")
app.add_typer(inbound_app, name="inbound")
app.command("import")(imports.import_command)
app.command("status")(imports.status_command)
app.command("cancel")(controls.cancel_command)
app.command("pause")(controls.pause_command)
app.command("resume")(controls.resume_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.command("activate")(activate.activate_command)
app.command("plan")(plan.plan_command)
app.add_typer(portals.app, name="portals")
app.command("failures")(failures.failures_command)
app.command("retry")(failures.retry_command)
app.command("route")(route.route_command)
app.add_typer(safety.app, name="safety")
app.add_typer(links.app, name="links")
app.add_typer(db.app, name="db")
app.command("doctor")(doctor.doctor_command)
app.add_typer(tokens.app, name="tokens")
app.add_typer(tenants.app, name="tenants")
app.command("audit")(audit.audit_command)


def main() -> None:
    use_fast_loop()  # uvloop under every command's asyncio.run, where it is installed
    app()
