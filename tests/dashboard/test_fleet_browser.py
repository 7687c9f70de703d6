"""One view of the fleet: two `idsync serve` apps on one PostgreSQL store and one Kafka consumer
group (Tansu), against the Okta emulator. Either instance's `GET /service` and dashboard (in
Debian's Chromium) show both: alive, their budget shares, and the Kafka partitions each holds
with their lag; an instance that stops drops out and the other takes over its partitions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.web.app import create_app
from tests.browser_support import chromium, screenshot_path
from tests.service.kafka_support import committed, end_offsets, kafka_config, keyed, produce
from tests.service.support import API_TOKEN, AUTH, OKTA_TOKEN, change, settings

from .support import ServerThread, eventually

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.kafka, pytest.mark.timeout(240)]
N = 120
PARTITIONS = 4


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        yield emu


def _fleet(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/service", headers=AUTH).json()["fleet"]
    return body


def _partitions(fleet: dict[str, Any]) -> dict[str, list[str]]:
    return {i["instance"]: sorted(i["kafka"]["lag"]) for i in fleet["instances"] if i["alive"] and i["kafka"]}


def test_every_instance_shows_the_whole_fleet(
    emulator: EmulatorThread,
    pg_database: str,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    topics = kafka_topics("changes", "results", "progress", "dlq", partitions=PARTITIONS)
    group = f"idsync-{topics[0]}"
    every = {f"{topics[0]}:{p}" for p in range(PARTITIONS)}

    def app(name: str) -> Any:
        service = {"instance_id": name, "coordination_interval_s": 0.1, "instance_ttl_s": 3.0}
        kafka = kafka_config(kafka_bootstrap, topics, group)
        return create_app(settings(pg_database, emulator.url, service=service, kafka=kafka))

    with ExitStack() as stack:
        alpha = stack.enter_context(ServerThread(app("alpha")))
        beta_stack = stack.enter_context(ExitStack())
        beta = beta_stack.enter_context(ServerThread(app("beta")))
        api = stack.enter_context(httpx.Client(base_url=alpha.url, timeout=30))
        other = beta_stack.enter_context(httpx.Client(base_url=beta.url, timeout=30))
        end = {"control": "import_end", "tenant": "t", "import_id": "imp-fleet", "total": N}
        messages = [keyed(change(i, import_id="imp-fleet")) for i in range(N)]
        asyncio.run(
            produce(kafka_bootstrap, topics[0], [*messages, (b"t/imp-fleet", json.dumps(end).encode())])
        )
        eventually(lambda: api.get("/imports/imp-fleet", headers=AUTH).json().get("state") == "completed")

        # Both instances alive, in either's view; the group's partitions split between them.
        def split() -> dict[str, Any] | None:
            fleet = _fleet(api)
            held = _partitions(fleet)
            owned = [p for parts in held.values() for p in parts]
            both = set(held) == {"alpha", "beta"} and sorted(owned) == sorted(every)
            return fleet if both and fleet["kafka_lag"] == 0 else None

        fleet = eventually(split, timeout_s=60)
        assert [(i["instance"], i["this"]) for i in fleet["instances"]] == [("alpha", True), ("beta", False)]
        assert all(i["alive"] for i in fleet["instances"]) and fleet["alive"] == 2
        assert fleet["store"] == "postgresql"
        for instance in fleet["instances"]:
            (users,) = [s for s in instance["shares"] if s["bucket"] == "users"]
            assert users["idp"] == "okta" and users["allowance"] >= 0
        assert _partitions(_fleet(other)) == _partitions(fleet)  # the same from the other side
        lag = dict.fromkeys(every, 0)
        ends = asyncio.run(end_offsets(kafka_bootstrap, topics[0]))
        assert asyncio.run(committed(kafka_bootstrap, group, topics[0])) == ends  # what lag 0 means

        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1366, "height": 1000})
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{alpha.url}/dashboard")
            page.get_by_label("API token").fill(API_TOKEN)
            page.get_by_role("button", name="Sign in").click()
            rows = page.locator("#fleet tbody tr")
            expect(page.locator("#live-text")).to_contain_text("live")
            expect(rows).to_have_count(2)
            for name, parts in _partitions(fleet).items():
                row = page.locator(f'#fleet tr[data-instance="{name}"]')
                expect(row.locator('[data-field="state"]')).to_contain_text("alive")
                expect(row.locator("[data-partition]")).to_have_count(len(parts))
                for p in parts:
                    expect(row.locator(f'[data-partition="{p}"]')).to_have_text(f"{p}: {lag[p]}")
                expect(row.locator('[data-share="okta/users"]')).to_contain_text("per window")
            expect(page.locator("#fleet-summary")).to_have_text("2 alive · Kafka lag 0")
            page.screenshot(path=screenshot_path("dashboard-fleet"), full_page=True)

            # beta stops: it leaves the store at once, alpha takes every partition.
            beta_stack.close()
            eventually(lambda: _partitions(_fleet(api)) == {"alpha": sorted(every)}, timeout_s=60)
            expect(rows).to_have_count(1)
            expect(page.locator("#fleet-summary")).to_have_text("1 alive · Kafka lag 0")
            assert not problems, problems
