"""Shared pieces of the CLI: loading settings (exit code 2 on a bad configuration), the console,
logging set-up that never prints secrets."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from idsync.adapters.files import MISSING_SOURCE, FileOptions, check_encoding, csv_lacks_source
from idsync.cli import logs
from idsync.config import Settings, load_settings
from idsync.domain.policy import TenantPolicy
from idsync.errors import ConfigError, IdSyncError, InputError

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="idsync.toml; without it: ./idsync.toml if present, "
    "else the embedded default (SQLite in ./var and the built-in Okta emulator).",
    exists=False,
    dir_okay=False,
)


EncodingOption = typer.Option(
    None,
    "--encoding",
    help="The file's text encoding (default UTF-8, with or without a BOM), e.g. cp1252 for Excel's "
    "'CSV' on Windows, latin-1, utf-16.",
)
DelimiterOption = typer.Option(
    None,
    "--delimiter",
    help="The CSV's delimiter: ',', ';' or 'tab' (default: the one the header uses).",
)


def file_options(file: Path, encoding: str | None, delimiter: str | None) -> FileOptions:
    """How to read FILE, checked: a wrong option or a file in another encoding ends with exit 2."""
    try:
        options = FileOptions(encoding, delimiter).checked()
        check_encoding(file, options)
    except InputError as exc:
        fail_usage(str(exc))
    return options


def import_file_options(
    file: Path, source: str | None, encoding: str | None, delimiter: str | None
) -> FileOptions:
    """An import's FILE checked as `idsync import` and `idsync plan` both need it: it exists, reads
    with the options, and names each row's source when `--source` does not (exit 2 otherwise)."""
    if not file.exists():
        fail_usage(f"{file}: no such file")
    options = file_options(file, encoding, delimiter)
    if source is None and csv_lacks_source(file, options=options):
        fail_usage(MISSING_SOURCE.format(file=file))
    return options


def unknown_tenant(settings: Settings, tenant: str, option: str = "--tenant") -> NoReturn:
    """Exit 2 naming the tenants the configuration knows, so a typo is seen at once."""
    fail_usage(
        f"{option}: tenant {tenant!r} is not configured (known: {', '.join(settings.tenants) or 'none'})"
    )


def policy_or_exit(settings: Settings, tenant: str, option: str = "--tenant") -> TenantPolicy:
    policy = settings.policy(tenant)
    if policy is None:
        unknown_tenant(settings, tenant, option)
    return policy


def settings_or_exit(config: Path | None, data_dir: Path = Path("var")) -> Settings:
    if config is None and Path("idsync.toml").exists():
        config = Path("idsync.toml")
    try:
        return load_settings(config, os.environ, data_dir=data_dir)
    except ConfigError as exc:
        fail_usage(str(exc))


def fail_usage(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}")  # a message's [brackets] are text
    raise typer.Exit(EXIT_USAGE)


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr as text, or as one JSON object per line (`--log-format json`): cli/logs.py."""
    logs.setup_logging(err_console, verbose)


def handle_errors(exc: IdSyncError) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
    return typer.Exit(EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURES)


def is_tty() -> bool:
    return sys.stdout.isatty()


def progress_bar() -> Progress:
    """The progress bar of every long command: done/total, users per second, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.1f} users/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def cli_actor() -> str:
    """Who runs this command, for the audit trail: `cli:USER@HOST`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid{os.getuid()}"
    return f"cli:{user}@{socket.gethostname()}"
