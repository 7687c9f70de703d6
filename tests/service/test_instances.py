"""Two `idsync serve` processes on one PostgreSQL and one Kafka consumer group share the work
of one import and one IdP rate budget: every user is synced once, and the Okta emulator's own
per-window counts show that together they kept to the budget."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings

from .instances import Instance, to_toml
from .kafka_support import kafka_config, keyed, produce, read_topic
from .support import OKTA_TOKEN, change, config, eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

USERS_LIMIT = 200  # the org's per-window limit of the users bucket (the emulator's override)
TOKEN_SHARE = 0.5  # Okta's default: one token may use half of a bucket
BUDGET_SHARE = 0.8  # idsync keeps to 80% of what its token may use
BUDGET = int(USERS_LIMIT * TOKEN_SHARE * BUDGET_SHARE)  # 80 calls per window, for both together
N = 600


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    settings = EmulatorSettings(token=OKTA_TOKEN, time_scale=0.025, limits={"users": USERS_LIMIT})
    with EmulatorProcess(settings, log_path=tmp_path / "emulator.log") as emu:
        yield emu


def calls_of(metrics: str) -> int:
    return int(sum(float(v) for v in re.findall(r"^idsync_idp_calls_total\{[^}]*\} (\S+)$", metrics, re.M)))


async def test_two_instances_share_the_work_and_keep_one_budget(
    emulator: EmulatorProcess,
    tmp_path: Path,
    pg_database: str,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    topics = kafka_topics("changes", "results", "progress", "dlq", partitions=4)
    raw = config(pg_database, emulator.url, governor={"budget_share": BUDGET_SHARE})
    raw["service"].update(coordination_interval_s=0.1, instance_ttl_s=5.0)
    raw["kafka"] = kafka_config(kafka_bootstrap, topics, f"idsync-{topics[0]}")
    path = tmp_path / "idsync.toml"
    path.write_text(to_toml(raw))
    instances = [Instance(path, name, tmp_path) for name in ("alpha", "beta")]
    try:
        for i in instances:
            i.ready()
        await produce(kafka_bootstrap, topics[0], [keyed(change(i, import_id="imp-multi")) for i in range(N)])
        end = {"control": "import_end", "tenant": "t", "import_id": "imp-multi", "total": N}
        await produce(kafka_bootstrap, topics[0], [(b"t/imp-multi", json.dumps(end).encode())])
        # An admin's change during the import, to the other instance: interactive lane, and the
        # answer comes from the store whichever instance's worker does it.
        single = instances[1].post("/changes", change(N))
        if single["state"] != "done":
            single = eventually(lambda: (v := instances[1].get(single["url"]))["state"] == "done" and v)
        view = eventually(
            lambda: (v := instances[0].get("/imports/imp-multi")) and v["state"] == "completed" and v,
            timeout_s=180,
        )
        calls = {i.name: calls_of(i.get("/metrics")) for i in instances}
        service = instances[1].get("/service")
    finally:
        codes = [i.terminate() for i in instances]
    assert codes == [0, 0], "\n".join(i.output() for i in instances)
    assert (view["received"], view["created"], view["failed"]) == (N, N, 0)
    assert single["result"]["status"] == "created"

    stats = EmulatorAdmin(emulator.url).stats()
    # Every user synced once.
    logins = Counter(u["login"] for u in EmulatorAdmin(emulator.url).users())
    assert len(logins) == N + 1 and set(logins.values()) == {1}
    assert stats["requests"]["POST /api/v1/users"] == {"200": N + 1}
    # Both instances worked (consumer group and store queue spread the import).
    assert all(n > 0 for n in calls.values()) and sum(calls.values()) == N + 1, calls
    assert set(service["instances"]) == {"alpha", "beta"}
    # The budget, kept in every window of the users bucket, by both together; no 429.
    windows = [w for w in stats["rate_limit_windows"] if w["bucket"] == "users" and w["calls"]]
    per_window = [w["calls"] for w in windows]  # every call in the window (no other application)
    print(f"users bucket: budget {BUDGET}/window; calls per window {per_window}; calls {calls}")
    assert max(per_window) <= BUDGET, per_window
    assert stats["served_429"]["total"] == 0
    # One result per change on the results topic.
    results = await read_topic(kafka_bootstrap, topics[1])
    assert Counter(json.loads(r.value)["status"] for r in results) == {"created": N}
