"""`idsync emulator okta` and `python -m idsync.emulator.okta`: run the built-in Okta emulator.

Every `EmulatorSettings` field has a flag; `--config FILE` (JSON or TOML) may hold any of them,
and flags given on the command line win over the file. See docs/emulator.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Run the built-in Okta emulator.", no_args_is_help=True)

_FAULT_FLAGS = (
    "error_rate",
    "timeout_rate",
    "timeout_delay_s",
    "timeout_applies_write",
    "drop_rate",
    "drop_applies_write",
    "latency_ms",
    "latency_jitter_ms",
    "storm_every_s",
    "storm_duration_s",
)


def _parse_limits(items: list[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise typer.BadParameter(f"expected BUCKET=N, got {item!r}", param_hint="--limit")
        limits[name.strip()] = int(value)
    return limits


def okta(
    port: Annotated[int | None, typer.Option(help="Port (0 picks a free one).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    token: Annotated[
        str | None, typer.Option(help="The API token accepted (default printed at start).")
    ] = None,
    extra_token: Annotated[
        list[str] | None, typer.Option(help="More accepted tokens, e.g. other applications (repeatable).")
    ] = None,
    org_url: Annotated[
        str | None, typer.Option(help="Base URL used in links (default: the server's).")
    ] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="Length of a rate-limit minute in minutes.")
    ] = None,
    token_share: Annotated[
        float | None, typer.Option(help="Per-token ceiling as a fraction of a bucket.")
    ] = None,
    limit: Annotated[
        list[str] | None, typer.Option(help="Override a bucket's limit: BUCKET=N (repeatable).")
    ] = None,
    limits_file: Annotated[Path | None, typer.Option(help="JSON/TOML file with a 'limits' table.")] = None,
    concurrency_limit: Annotated[int | None, typer.Option(help="Max in-flight requests (Okta: 75).")] = None,
    rate_limit_layout: Annotated[
        str | None, typer.Option(help="Which calls share a counter: 2025 (default) or 2020 (as recorded).")
    ] = None,
    count_rejected_429: Annotated[
        bool | None, typer.Option(help="Count requests answered 429 in their bucket too.")
    ] = None,
    background_load: Annotated[
        float | None, typer.Option(help="Fraction of each org bucket used by other applications.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fault dice and ids.")] = None,
    state_file: Annotated[
        str | None, typer.Option(help="SQLite file keeping the org across restarts.")
    ] = None,
    record_exchanges: Annotated[bool | None, typer.Option(help="Record every /api/v1 exchange.")] = None,
    search_lag_s: Annotated[
        float | None, typer.Option(help="User lists show users as they were this long ago.")
    ] = None,
    lifecycle_delay_s: Annotated[
        float | None, typer.Option(help="Asynchronous lifecycle: deactivation/activation take this long.")
    ] = None,
    exchange_log: Annotated[
        str | None, typer.Option(help="Directory for a JSON-lines log of distinct responses (spec checks).")
    ] = None,
    hook_timeout_s: Annotated[float | None, typer.Option(help="Event hook timeout (Okta: 3 s).")] = None,
    activation_url_style: Annotated[
        str | None, typer.Option(help="identity_engine (/tokens/T/verify) or classic (/welcome/T).")
    ] = None,
    session_lifetime_s: Annotated[
        float | None, typer.Option(help="Okta session (sid) idle lifetime; default 7200 (2 h).")
    ] = None,
    session_max_lifetime_s: Annotated[
        float | None, typer.Option(help="Okta session maximum lifetime; 0 (default) is no limit.")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="uvicorn log level.")] = None,
    identity_sources: Annotated[
        bool | None, typer.Option(help="The org has Identity Source Apps (off: 403 on identity-sources).")
    ] = None,
    identity_source_users_per_minute: Annotated[
        float | None, typer.Option(help="Import processing rate per identity source (default 2000).")
    ] = None,
    identity_source_activate: Annotated[
        bool | None, typer.Option(help="Activate the users identity-source imports create (else STAGED).")
    ] = None,
    identity_source_error_rate: Annotated[
        float | None, typer.Option(help="Fraction of triggered sessions ending in ERROR.")
    ] = None,
    error_rate: Annotated[float | None, typer.Option(help="Fraction answered 500/503.")] = None,
    error_statuses: Annotated[
        str | None, typer.Option(help="Statuses of injected errors, e.g. 500,503.")
    ] = None,
    timeout_rate: Annotated[float | None, typer.Option(help="Fraction answered too late.")] = None,
    timeout_delay_s: Annotated[float | None, typer.Option(help="Delay of a late answer.")] = None,
    timeout_applies_write: Annotated[
        float | None, typer.Option(help="Fraction of late answers whose write is applied.")
    ] = None,
    drop_rate: Annotated[
        float | None, typer.Option(help="Fraction of connections closed unanswered.")
    ] = None,
    drop_applies_write: Annotated[
        float | None, typer.Option(help="Fraction of dropped requests whose write is applied.")
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Mean added latency.")] = None,
    latency_jitter_ms: Annotated[float | None, typer.Option(help="Std. deviation of the latency.")] = None,
    storm_every_s: Annotated[float | None, typer.Option(help="Period of 429 storms (0: none).")] = None,
    storm_duration_s: Annotated[float | None, typer.Option(help="Length of each 429 storm.")] = None,
    config: Annotated[Path | None, typer.Option(help="JSON/TOML file with any settings.")] = None,
    ready_file: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the Okta Management API emulator until Ctrl-C or SIGTERM."""
    from idsync.emulator.okta.server import serve
    from idsync.emulator.okta.settings import EmulatorSettings, load_settings_file

    given = dict(locals())
    data: dict[str, Any] = load_settings_file(config) if config else {}
    if limits_file:
        data.setdefault("limits", {}).update(load_settings_file(limits_file).get("limits", {}))
    if limit:
        data.setdefault("limits", {}).update(_parse_limits(limit))
    simple = (
        "port",
        "host",
        "token",
        "org_url",
        "time_scale",
        "token_share",
        "concurrency_limit",
        "background_load",
        "seed",
        "state_file",
        "record_exchanges",
        "search_lag_s",
        "rate_limit_layout",
        "count_rejected_429",
        "lifecycle_delay_s",
        "exchange_log",
        "hook_timeout_s",
        "activation_url_style",
        "session_lifetime_s",
        "session_max_lifetime_s",
        "log_level",
        "identity_sources",
        "identity_source_users_per_minute",
        "identity_source_activate",
        "identity_source_error_rate",
    )
    data.update({name: given[name] for name in simple if given[name] is not None})
    if extra_token:
        data["extra_tokens"] = list(extra_token)
    faults = dict(data.get("faults", {}))
    faults.update({name: given[name] for name in _FAULT_FLAGS if given[name] is not None})
    if error_statuses:
        faults["error_statuses"] = [int(s) for s in error_statuses.split(",") if s.strip()]
    data["faults"] = faults
    try:
        settings = EmulatorSettings.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc

    def announce(url: str, accepted: str) -> None:
        typer.echo(f"Okta emulator listening on {url}", err=False)
        typer.echo(f"API token: {accepted}   (Authorization: SSWS {accepted})")
        typer.echo(f"Admin: {url}/__emulator/stats   Stop: Ctrl-C", err=False)

    serve(settings, ready_file=ready_file, announce=announce)
