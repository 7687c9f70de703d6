"""`scripts/cluster-demo.sh` (`make cluster-demo`): PostgreSQL, Tansu, the Okta emulator and two
`idsync serve` instances on 127.0.0.1 with a sample import; `stop` ends exactly what `start`
started (the PIDs it wrote), and nothing of it keeps running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .support import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.timeout(300)]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster-demo.sh"
NAMES = ("postgres", "kafka", "okta", "idsync-a", "idsync-b")


def _demo(state: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IDSYNC_DEMO_DIR": str(state), "PYTHON": sys.executable, "IDSYNC_DEMO_USERS": "60"}
    return subprocess.run(
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_the_cluster_demo_starts_two_instances_and_stops_what_it_started(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    started = _demo(state, "start")
    pids: dict[str, int] = {}
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        pids = {n: int((state / "pids" / f"{n}.pid").read_text()) for n in NAMES}
        assert all(_running(pid) for pid in pids.values()), pids
        token = (state / "api-token").read_text().strip()
        assert (
            token in started.stdout
            and "sample import of 60 users to instance a: demo-import" in started.stdout
        )
        urls = {n: f"http://127.0.0.1:{(state / f'idsync-{n}.port').read_text().strip()}" for n in "ab"}
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            done = eventually(
                lambda: (
                    (v := client.get(f"{urls['b']}/imports/demo-import").json())["state"] == "completed" and v
                )
            )
            assert (done["received"], done["created"]) == (60, 60)

            def both() -> dict[str, object] | None:
                fleet = client.get(f"{urls['b']}/service").json()["fleet"]
                parts = sorted(p for i in fleet["instances"] if i["alive"] for p in i["kafka"]["lag"])
                return fleet if fleet["alive"] == 2 and len(parts) == 4 else None

            fleet = eventually(both)
        assert sorted(i["instance"] for i in fleet["instances"]) == ["demo-a", "demo-b"]  # type: ignore[index]
        status = _demo(state, "status")
        assert status.returncode == 0 and status.stdout.count(": running") == len(NAMES), status.stdout
        again = _demo(state, "start")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        stopped = _demo(state, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    ended = [line.split()[1] for line in stopped.stdout.splitlines() if line.startswith("stopped")]
    assert ended == ["idsync-a", "idsync-b", "okta", "kafka", "postgres"]
    assert not any(_running(pid) for pid in pids.values()), pids
    assert list((state / "pids").iterdir()) == []
    assert not (state / "postgres.dir").exists()
    second = _demo(state, "stop")  # finds nothing of its own left to stop
    assert (second.returncode, second.stdout) == (0, "")
