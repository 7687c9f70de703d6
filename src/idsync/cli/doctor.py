"""`idsync doctor --config F`: check every part idsync depends on and say what to fix.

Why a command of its own: a migration fails late and expensively when the Okta token lacks a
scope, the clock is off, or Kafka is unreachable; the doctor finds these in seconds with
harmless reads only (no user is created or changed). Exit code 0 when nothing needs fixing
(warnings allowed), 1 when something does, 2 for a configuration that cannot be read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from rich.markup import escape

from idsync.adapters.kafka.clients import connection_options
from idsync.adapters.okta.buckets import documented_counter
from idsync.adapters.store import Store
from idsync.adapters.store.features.limits import load_counters
from idsync.cli.common import EXIT_FAILURES, EXIT_OK, ConfigOption, console, settings_or_exit
from idsync.cli.doctor_idp import Finding, check_idp
from idsync.config import KafkaSettings, Settings

__all__ = ["doctor_command"]

MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "problem": "[bold red]✗[/]"}


def doctor_command(config: Path | None = ConfigOption) -> None:
    """Check the IdPs (reach, auth, scopes, rate limits), the store and Kafka; print what to fix."""
    settings = settings_or_exit(config)
    logging.getLogger("idsync.adapters.okta.oauth").setLevel(logging.ERROR)  # the findings say it all
    console.print(f"[bold]idsync doctor[/] — {config or 'idsync.toml or the embedded default'}")
    sections = asyncio.run(_run(settings))
    problems = 0
    for title, findings in sections:
        console.print(f"\n[bold]{title}[/]")
        for f in findings:
            console.print(f"  {MARKS[f.level]} {escape(f.text)}", soft_wrap=True, highlight=False)
            if f.fix:
                console.print(f"      fix: {escape(f.fix)}", soft_wrap=True, highlight=False)
        problems += sum(1 for f in findings if f.level == "problem")
    if problems:
        console.print(
            f"\n[bold red]{problems} problem{'s' if problems > 1 else ''}[/]: see the 'fix:' lines above"
        )
        raise typer.Exit(EXIT_FAILURES)
    console.print("\n[green]nothing to fix[/]")
    raise typer.Exit(EXIT_OK)


async def _run(settings: Settings) -> list[tuple[str, list[Finding]]]:
    sections: list[tuple[str, list[Finding]]] = []
    for name, idp in settings.idps.items():
        where = f" at {idp.url}" if idp.url else ""
        sections.append((f"IdP {name} ({idp.type}{where})", await check_idp(settings, name)))
    if not settings.idps:
        sections.append(("IdPs", [Finding("problem", "no IdP is configured", "add an [idps.<name>] table")]))
    sections.append((f"Store {_safe(settings.store.url)}", await asyncio.to_thread(_check_store, settings)))
    if settings.kafka is None:
        sections.append(("Kafka", [Finding("ok", "not configured: changes come over HTTP and from files")]))
    else:
        sections.append((f"Kafka {settings.kafka.bootstrap_servers}", await _check_kafka(settings.kafka)))
    return sections


def _safe(url: str) -> str:
    """The URL without its password (store URLs may carry one)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _check_store(settings: Settings) -> list[Finding]:
    try:
        store = Store(settings.store.url)
    except Exception as exc:  # any driver's error: the message below names it
        reason = type(exc).__name__
        fix = "check store.url, that the database runs and accepts this user, and that the directory exists"
        return [Finding("problem", f"cannot open the store ({reason})", fix)]
    try:
        depth = store.queue.queue_depth()
        learned = {name: load_counters(store, name) for name in settings.idps}
    finally:
        store.close()
    queued = ", ".join(f"{lane.name.lower()} {n}" for lane, n in depth.items())
    found = [Finding("ok", f"{store.dialect}: schema up to date; changes waiting: {queued}")]
    for name, counters in learned.items():
        found.extend(_learned_counters(name, settings.idps[name].type, counters))
    return found


def _learned_counters(name: str, idp_type: str, counters: dict[str, tuple[str, float]]) -> list[Finding]:
    """What earlier runs learned from the IdP's X-Rate-Limit headers: which endpoints share a
    counter, and where that differs from Okta's documented table (the governor's first guess)."""
    if not counters:
        return [Finding("ok", f"rate-limit counters of {name}: none learned yet (the first run learns them)")]
    by_counter: dict[str, list[str]] = {}
    for endpoint, (counter, _) in sorted(counters.items()):
        by_counter.setdefault(counter, []).append(endpoint)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max(t for _, t in counters.values())))
    shared = "; ".join(f"{c}: {', '.join(e)}" for c, e in sorted(by_counter.items()))
    found = [Finding("ok", f"rate-limit counters of {name} learned from its headers (last {when}): {shared}")]
    if idp_type in ("okta", "emulator"):
        for endpoint, (counter, _) in sorted(counters.items()):
            documented = documented_counter(endpoint)
            if documented is not None and documented != counter:
                text = f"{name}: {endpoint} is charged to counter {counter}, not {documented} as documented"
                found.append(Finding("ok", text + " (idsync paces it on the learned one)"))
    return found


async def _check_kafka(kafka: KafkaSettings) -> list[Finding]:
    consumer = AIOKafkaConsumer(request_timeout_ms=10_000, **connection_options(kafka, "doctor"))
    try:
        await asyncio.wait_for(consumer.start(), 15)
        topics = await asyncio.wait_for(consumer.topics(), 15)
    except (KafkaError, OSError, TimeoutError) as exc:
        fix = "check kafka.bootstrap_servers, the security settings and that the brokers run"
        return [Finding("problem", f"cannot reach the brokers ({type(exc).__name__})", fix)]
    finally:
        await consumer.stop()
    found = [Finding("ok", f"brokers reachable; {len(topics)} topics")]
    wanted = kafka.topics
    if wanted.changes not in topics:
        fix = f"create topic {wanted.changes} (partitions: as many as idsync instances you will run)"
        found.append(Finding("problem", f"topic {wanted.changes} (changes to read) does not exist", fix))
    for topic in dict.fromkeys((wanted.results, wanted.progress, wanted.dead_letter)):
        if topic not in topics:
            fix = f"create topic {topic}, unless the brokers create topics on first write"
            found.append(Finding("warn", f"topic {topic} (written by idsync) does not exist yet", fix))
    return found
