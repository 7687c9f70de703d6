"""SIGTERM in the middle of an import: the instance stops taking work, gives back what it held,
has committed only what it stored, has published a result for everything it finished, and exits
0; the next instance finishes the import with every user created exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from idsync.adapters.store import Store
from idsync.adapters.store.schema import changes, claims
from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess, EmulatorSettings

from .instances import Instance, to_toml
from .kafka_support import committed, header, kafka_config, keyed, produce, read_topic
from .support import OKTA_TOKEN, change, config, eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
N = 300


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    # 80 creates per 3-second window: the import takes several windows, time to stop it midway.
    settings = EmulatorSettings(token=OKTA_TOKEN, time_scale=0.05, limits={"users": 200})
    with EmulatorProcess(settings, log_path=tmp_path / "emulator.log") as emu:
        yield emu


async def test_sigterm_mid_import_loses_nothing_and_duplicates_nothing(
    emulator: EmulatorProcess,
    tmp_path: Path,
    pg_database: str,
    kafka_bootstrap: str,
    kafka_topics: Callable[..., list[str]],
) -> None:
    topics = kafka_topics("changes", "results", "progress", "dlq")
    group = f"idsync-{topics[0]}"
    raw = config(pg_database, emulator.url)
    raw["service"].update(coordination_interval_s=0.1, instance_ttl_s=5.0)
    raw["kafka"] = kafka_config(kafka_bootstrap, topics, group)
    path = tmp_path / "idsync.toml"
    path.write_text(to_toml(raw))
    await produce(kafka_bootstrap, topics[0], [keyed(change(i, import_id="imp-stop")) for i in range(N)])
    end = {"control": "import_end", "tenant": "t", "import_id": "imp-stop", "total": N}
    await produce(kafka_bootstrap, topics[0], [(b"t/imp-stop", json.dumps(end).encode())])

    first = Instance(path, "first", tmp_path).ready()
    try:
        eventually(lambda: (v := first.get("/imports/imp-stop")) and v["created"] >= 60, timeout_s=120)
    finally:
        code = first.terminate()
    assert code == 0, first.output()

    store = Store(pg_database)
    try:
        with store.engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(claims)).scalar_one()
            states: dict[str, int] = dict(
                conn.execute(select(changes.c.state, func.count()).group_by(changes.c.state)).all()
            )
            done = set(conn.execute(select(changes.c.origin_ref).where(changes.c.state == "done")).scalars())
            stored = Counter(
                int(ref.split(":")[1]) for ref in conn.execute(select(changes.c.origin_ref)).scalars()
            )
    finally:
        store.close()
    assert held == 0 and states.get("inflight", 0) == 0, (held, states)  # all given back
    assert 0 < len(done) < N, states  # stopped midway
    # Offsets: committed only for what is stored (offset = number of stored messages before it;
    # the import_end control is not a change, hence the +1 at most).
    for partition, offset in (await committed(kafka_bootstrap, group, topics[0])).items():
        assert offset is not None and offset <= stored[partition] + 1, (partition, offset, stored)
    # A result for every change finished before the stop.
    published = {header(r, "idsync-ref") for r in await read_topic(kafka_bootstrap, topics[1])}
    assert done <= published

    second = Instance(path, "second", tmp_path).ready()
    try:
        view = eventually(
            lambda: (v := second.get("/imports/imp-stop")) and v["state"] == "completed" and v, timeout_s=180
        )
    finally:
        assert second.terminate() == 0, second.output()
    assert (view["received"], view["created"], view["failed"]) == (N, N, 0)
    logins = Counter(u["login"] for u in EmulatorAdmin(emulator.url).users())
    assert len(logins) == N and set(logins.values()) == {1}
    results = await read_topic(kafka_bootstrap, topics[1])
    assert Counter(json.loads(r.value)["status"] for r in results).keys() == {"created"}
    assert len({header(r, "idsync-ref") for r in results}) == N
