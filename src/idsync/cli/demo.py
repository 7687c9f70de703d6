"""`idsync demo`: the main job on the embedded default, end to end (what `make demo` runs)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from idsync.cli.common import console, fail_usage, setup_logging
from idsync.config import Settings, settings_from_dict
from idsync.demo import TENANT, demo_config, write_samples
from idsync.domain.models import Status
from idsync.engine.activation import enqueue_activation
from idsync.engine.jobs import ImportReport, run_job
from idsync.errors import ConfigError
from idsync.lifecycle.imports import run_file_import
from idsync.lifecycle.modes import check_mode_switches
from idsync.runtime import Runtime

PHASES = ("created", "updated", "activated", "unchanged", "skipped", "failed")


def demo_command(
    users: int = typer.Option(5000, "--users", help="How many sample users to write."),
    time_scale: float = typer.Option(
        0.01, "--time-scale", help="Emulator time scale: 0.01 makes a rate-limit minute last 0.6 s."
    ),
    workdir: Path = typer.Option(
        Path(".demo"), "--workdir", help="Where the demo keeps its files (wiped first)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the dashboard on 127.0.0.1 (URL and token printed) until Ctrl-C."
    ),
    port: int = typer.Option(0, "--port", help="Port of --serve (default: a free one)."),
    idp: str = typer.Option(
        "okta", "--idp", help="okta (the built-in emulator) or scim (a real SCIM 2.0 server)."
    ),
) -> None:
    """Migrate sample users into the built-in Okta emulator: phase 1, a re-run, phase 2."""
    if idp not in ("okta", "scim"):
        fail_usage(f"--idp: {idp!r} is not an IdP the demo knows; use okta or scim")
    if idp == "scim":
        from idsync.adapters.scim.server import require_scim_server

        try:
            require_scim_server("idsync demo --idp scim")
        except ConfigError as exc:
            fail_usage(str(exc))
    setup_logging(verbose)
    from idsync.emulator.okta.server import EmulatorProcess
    from idsync.emulator.okta.settings import EmulatorSettings

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    samples = write_samples(workdir / "input", total=users)
    console.print(
        f"[bold]idsync demo[/]: {samples.admins_count:,} admins and {samples.panelists_count:,} panelists "
        f"({samples.external:,} on {'bigcorp.example'}, routed to an external IdP; "
        f"{samples.invalid} invalid lines) in {workdir / 'input'}"
    )
    started = time.monotonic()
    if idp == "scim":
        _run_scim(workdir, samples, started, serve, port)
        return
    token = "demo-" + os.urandom(8).hex()
    emulator_settings = EmulatorSettings(token=token, time_scale=time_scale)
    with EmulatorProcess(emulator_settings) as emulator:
        console.print(
            f"Okta emulator at {emulator.url} (time scale {time_scale}: Okta's per-minute limits, "
            f"one minute = {60 * time_scale:g} s)"
        )
        os.environ["IDSYNC_DEMO_OKTA_TOKEN"] = token
        raw = demo_config(
            f"sqlite:///{workdir / 'idsync.db'}",
            {"type": "okta", "url": emulator.url, "token_env": "IDSYNC_DEMO_OKTA_TOKEN"},
        )
        settings = settings_from_dict(raw, os.environ)
        rows, failures = asyncio.run(_phases(settings, samples))
        stats = httpx.get(f"{emulator.url}/__emulator/stats", timeout=10).json()
        _summary(rows, failures, stats, time.monotonic() - started)
        if serve:
            _serve(settings, port)  # inside: the emulator stays up while the service runs


def _run_scim(workdir: Path, samples: Any, started: float, serve: bool, port: int) -> None:
    """The same migration into a real SCIM 2.0 server (scim2-server from PyPI), through the SCIM
    connector: the IdP is a setting, the results are the same."""
    from idsync.adapters.scim.server import ScimServerProcess

    with ScimServerProcess(token="demo-" + os.urandom(8).hex()) as scim:
        console.print(f"SCIM 2.0 server (scim2-server) at {scim.url}")
        os.environ["IDSYNC_DEMO_SCIM_TOKEN"] = scim.token or ""
        raw = demo_config(f"sqlite:///{workdir / 'idsync.db'}", scim.idp_settings("IDSYNC_DEMO_SCIM_TOKEN"))
        settings = settings_from_dict(raw, os.environ)
        rows, failures = asyncio.run(_phases(settings, samples))
        users = scim.users_by_status()
        _summary(
            rows,
            failures,
            {"users_by_status": users, "activation_emails_sent": "n/a (SCIM)", "served_429": {"total": 0}},
            time.monotonic() - started,
        )
        if serve:
            _serve(settings, port)


def _serve(settings: Settings, port: int) -> None:
    """The service on the demo's store, with a fresh API token, until Ctrl-C."""
    import uvicorn
    from pydantic import SecretStr

    from idsync.web.app import create_app

    token = secrets.token_urlsafe(24)
    service = settings.service.model_copy(update={"api_token": SecretStr(token), "host": "127.0.0.1"})
    app = create_app(settings.model_copy(update={"service": service}))
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    console.print(f"[bold]dashboard[/]: http://127.0.0.1:{port}/dashboard", soft_wrap=True)
    console.print(f"API token: {token}", soft_wrap=True)
    console.print("serving the demo's store until Ctrl-C ...")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5)


async def _phases(settings: Any, samples: Any) -> tuple[list[tuple[str, ImportReport]], list[str]]:
    rows: list[tuple[str, ImportReport]] = []
    failures: list[str] = []
    async with Runtime(settings) as runtime:
        await check_mode_switches(runtime)
        for label, path in (("phase 1: admins", samples.admins), ("phase 1: panelists", samples.panelists)):
            console.print(f"{label} ...")
            report = await run_file_import(runtime, path, tenant=TENANT)
            rows.append((label, report))
            failed = await runtime.stores.imports.results(report.progress.import_id, statuses=[Status.FAILED])
            failures += [f"{path.name} {r['source']}/{r['key']}: {r['reason_message']}" for r in failed]
        for label, path in (("re-run: admins", samples.admins), ("re-run: panelists", samples.panelists)):
            console.print(f"{label} (nothing changed) ...")
            rows.append((label, await run_file_import(runtime, path, tenant=TENANT)))
        console.print("phase 2: activation ...")
        job = f"act-{TENANT}-{int(time.time())}"
        rows.append(
            ("phase 2: activation", await run_job(runtime.engine, job, lambda: _enqueue(runtime, job)))
        )
    return rows, failures


async def _enqueue(runtime: Runtime, job: str) -> None:
    await enqueue_activation(runtime.stores, job, TENANT)


def _outcome(report: ImportReport) -> str:
    p = report.progress
    parts = [f"{getattr(p, name):,} {name}" for name in PHASES if getattr(p, name)]
    return ", ".join(parts) or "-"


def _summary(
    rows: list[tuple[str, ImportReport]], failures: list[str], stats: dict[str, Any], elapsed: float
) -> None:
    table = Table(title="idsync demo: what happened")
    table.add_column("step")
    table.add_column("users", justify="right")
    table.add_column("result")
    table.add_column("API calls", justify="right")
    table.add_column("time", justify="right")
    for label, report in rows:
        table.add_row(
            label,
            f"{report.progress.received:,}",
            _outcome(report),
            f"{report.api_calls:,}",
            f"{report.elapsed_s:.1f} s",
        )
    console.print(table)
    skipped: dict[str, tuple[int, str]] = {}
    for label, report in rows:
        if label.startswith("phase 1"):
            for status, code, n, example in report.reasons:
                if status == "skipped":
                    count, _ = skipped.get(code, (0, example))
                    skipped[code] = (count + n, example)
    for code, (n, example) in skipped.items():
        console.print(f"skipped {n:,} ({code}): {example}")
    if failures:
        console.print(f"failed {len(failures)} (invalid input, each with its field and reason):")
        for line in failures:
            console.print(f"  {line}")
    users = stats.get("users_by_status", {})
    served = stats.get("served_429", {})
    console.print(
        f"IdP: users by status {users}; activation e-mails sent: "
        f"{stats.get('activation_emails_sent', '?')}; 429 answers: {served.get('total', '?')}"
    )
    calls = sum(r.api_calls for _, r in rows)
    console.print(f"[bold]total[/]: {calls:,} API calls in {elapsed:.1f} s; nothing left running")
