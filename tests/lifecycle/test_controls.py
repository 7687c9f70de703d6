"""Stop and steer an import while it runs (docs/migration.md): `POST /imports/{id}/pause|resume|
cancel` on a served idsync and `idsync pause|resume|cancel` from another terminal, against the
Okta emulator (slowed down, so the import is caught half way)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from idsync.adapters.store import Store
from idsync.config import load_settings
from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess
from idsync.web.app import create_app
from tests.common import ServerThread, eventually

from .helpers import TENANT, TOKEN, idsync, user, write_config, write_users

API_TOKEN = "controls-test-api-token-51c2"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
N = 240


@pytest.fixture
def slow_okta(emulator: EmulatorProcess) -> Iterator[EmulatorAdmin]:
    """Every Okta call takes ~40 ms and idsync sends two at a time: about 50 users a second."""
    admin = EmulatorAdmin(emulator.url)
    admin.reset()
    admin.set_faults(latency_ms=40)
    yield admin
    admin.clear_faults()


def _config(workdir: Path, url: str) -> Path:
    path = workdir / "idsync.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{workdir / "idsync.db"}"

[service]
api_token_env = "CONTROLS_API_TOKEN"
interactive_wait_s = 0

[idps.okta]
type = "okta"
url = "{url}"
token_env = "LC_OKTA_TOKEN"
governor = {{ max_concurrency = 2 }}

[tenants.{TENANT}]
idp = "okta"
""")
    return path


@contextmanager
def _served(config: Path) -> Iterator[httpx.Client]:
    env = {**os.environ, "LC_OKTA_TOKEN": TOKEN, "CONTROLS_API_TOKEN": API_TOKEN}
    app = create_app(load_settings(config, env))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c:
        yield c


def _upload(client: httpx.Client, import_id: str) -> None:
    body = "".join(user(i) + "\n" for i in range(N)).encode()
    answer = client.post("/imports", params={"tenant": TENANT, "import_id": import_id}, content=body)
    assert answer.status_code == 202, answer.text


def _view(client: httpx.Client, import_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/imports/{import_id}").json()
    return body


def _states(client: httpx.Client, import_id: str) -> dict[str, int]:
    items = client.get(f"/imports/{import_id}/results", params={"limit": 5000}).json()["items"]
    out: dict[str, int] = {}
    for item in items:
        out[item["state"]] = out.get(item["state"], 0) + 1
    return out


def test_a_paused_import_keeps_its_place_across_a_restart_and_resumes(
    tmp_path: Path, emulator: EmulatorProcess, slow_okta: EmulatorAdmin
) -> None:
    config = _config(tmp_path, emulator.url)
    with _served(config) as client:
        _upload(client, "imp-p")
        eventually(lambda: _view(client, "imp-p")["done"] >= 20, timeout_s=60)

        paused = client.post("/imports/imp-p/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["state"] == "paused"
        # In-flight users finish; nothing more of the import is claimed.
        eventually(lambda: "in_progress" not in _states(client, "imp-p"), timeout_s=30)
        stopped_at = _view(client, "imp-p")
        assert stopped_at["state"] == "paused" and 20 <= stopped_at["done"] < N
        assert _states(client, "imp-p")["paused"] == N - stopped_at["done"]
        again = client.post("/imports/imp-p/pause")
        assert again.status_code == 409 and "already paused" in again.json()["detail"]
        assert client.post("/imports/imp-p/resume").status_code == 200
        assert client.post("/imports/imp-p/pause").status_code == 200
        eventually(lambda: "in_progress" not in _states(client, "imp-p"), timeout_s=30)
        stopped_at = _view(client, "imp-p")
    # A restart (a new process on the same store): still paused, still where it was.
    with _served(config) as client:
        assert client.get("/readyz").status_code == 200
        view = _view(client, "imp-p")
        assert (view["state"], view["done"]) == ("paused", stopped_at["done"])
        held_at = view["done"]
        assert client.post("/imports/nope/resume").status_code == 404
        resumed = client.post("/imports/imp-p/resume")
        assert resumed.status_code == 200 and resumed.json()["state"] == "running"
        final = eventually(lambda: (v := _view(client, "imp-p"))["state"] == "completed" and v, timeout_s=120)
        assert (final["created"], final["done"], final["pending"]) == (N, N, 0)
        assert held_at < N
        trail = client.get("/audit", params={"tenant": TENANT}).json()["items"]
    actions = [(e["action"], e["actor"], e["outcome"], e["detail"].get("to")) for e in trail]
    assert ("import.pause", "config-token", "ok", "paused") in actions
    assert ("import.pause", "config-token", "failed", None) in actions  # the second pause
    assert [a for a in actions if a[0] == "import.resume" and a[2] == "ok"] == [
        ("import.resume", "config-token", "ok", "running")
    ] * 2
    assert len(slow_okta.users()) == N  # every user once


def test_cancel_from_the_command_line_while_the_service_works(
    tmp_path: Path, emulator: EmulatorProcess, slow_okta: EmulatorAdmin
) -> None:
    config = _config(tmp_path, emulator.url)
    slow_okta.set_faults(latency_ms=100)  # the command line takes a few seconds to start
    with _served(config) as client:
        _upload(client, "imp-c")
        eventually(lambda: _view(client, "imp-c")["done"] >= 10, timeout_s=60)

        cancelled = idsync(tmp_path, "cancel", "imp-c")
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        assert "cancelled (was running)" in cancelled.stdout

        final = eventually(lambda: (v := _view(client, "imp-c"))["pending"] == 0 and v, timeout_s=60)
        assert final["state"] == "cancelled"
        assert final["created"] + final["cancelled"] == final["received"] == N
        assert final["cancelled"] > 0
        items = client.get("/imports/imp-c/results", params={"status": "cancelled", "limit": 5000}).json()
        reasons = {(i["status"], i["reason"]["code"]) for i in items["items"]}
        assert len(items["items"]) == final["cancelled"]
        assert reasons == {("cancelled", "import_cancelled")}
        assert "cli:" in items["items"][0]["reason"]["message"]
        resend = client.post("/imports", params={"tenant": TENANT, "import_id": "imp-c"}, content=b"")
        assert resend.status_code == 409 and "cancelled" in resend.json()["detail"]
    # No cancelled user reached Okta; those sent before the cancel did, once.
    assert len(slow_okta.users()) == final["created"]

    twice = idsync(tmp_path, "cancel", "imp-c")
    assert twice.returncode == 1 and "already cancelled" in twice.stderr
    resume = idsync(tmp_path, "resume", "imp-c")
    assert resume.returncode == 1 and "only a paused import can be resumed" in resume.stderr
    unknown = idsync(tmp_path, "pause", "imp-nope")
    assert unknown.returncode == 1 and "no import 'imp-nope'" in unknown.stderr
    status = idsync(tmp_path, "status", "imp-c", "--json")
    assert json.loads(status.stdout)["cancelled"] == final["cancelled"]
    trail = idsync(tmp_path, "audit", "--action", "import.cancel", "--json")
    entries = [json.loads(line) for line in trail.stdout.splitlines()]
    outcomes = [(e["outcome"], e["actor"].startswith("cli:")) for e in entries]
    assert outcomes == [("failed", True), ("ok", True)]
    assert entries[1]["detail"]["from"] == "running" and entries[1]["target"] == "imp-c"


def test_a_file_import_that_ends_with_users_left_says_so_and_exits_1(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """A run that leaves users without a result is not a success: `idsync import` names them and
    how to go on, and exits 1 (here: an import paused before its file was read)."""
    EmulatorAdmin(emulator.url).reset()
    config = write_config(tmp_path / "idsync.toml", emulator.url)
    users = write_users(tmp_path / "u.jsonl", range(5))
    store = Store(load_settings(config, {"LC_OKTA_TOKEN": TOKEN}).store.url)
    try:
        store.imports.create("imp-w", TENANT, "file", input_name=str(users), total=5)
    finally:
        store.close()
    assert idsync(tmp_path, "pause", "imp-w").returncode == 0

    ran = idsync(tmp_path, "import", str(users), "--tenant", TENANT, "--import-id", "imp-w")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "import imp-w (paused)" in ran.stdout
    assert "paused: 5 users of import imp-w wait; `idsync resume imp-w`" in ran.stdout
    assert EmulatorAdmin(emulator.url).users() == []

    assert idsync(tmp_path, "resume", "imp-w").returncode == 0
    again = idsync(tmp_path, "import", str(users), "--tenant", TENANT, "--import-id", "imp-w")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "import imp-w (completed)" in again.stdout and "no result yet" not in again.stdout
    assert len(EmulatorAdmin(emulator.url).users()) == 5
