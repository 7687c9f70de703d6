"""A tenant's sync mode switched at runtime (`PUT /tenants/{t}/mode`) on one of two instances of
one PostgreSQL store: the estimate first (dry run), then the switch, in force on the other
instance's worker within its refresh, the staged users activated by the job it started, the
switch audited, and the mode kept across a restart while the configuration is unchanged."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.web.app import create_app

from .support import AUTH, OKTA_TOKEN, ServerThread, change, eventually, settings

pytestmark = pytest.mark.postgres
REFRESH_S = 0.5


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=OKTA_TOKEN, time_scale=0.02)) as emu:
        yield emu


@contextmanager
def _instance(store: str, okta: str, name: str, *, worker: bool = True) -> Iterator[httpx.Client]:
    cfg = settings(store, okta, service={"instance_id": name, "mode_refresh_s": REFRESH_S})
    with (
        ServerThread(create_app(cfg, start_worker=worker)) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client,
    ):
        yield client


def _statuses(emulator: EmulatorThread) -> Counter[str]:
    return Counter(u["status"] for u in EmulatorAdmin(emulator.url).users())


def _tenant(client: httpx.Client) -> dict[str, Any]:
    (view,) = client.get("/tenants").json()
    assert view["tenant"] == "t"
    return dict(view)


def test_a_mode_switched_on_one_instance_holds_on_the_other(
    emulator: EmulatorThread, pg_database: str
) -> None:
    # `alpha` takes requests only; `beta`'s worker does every IdP call.
    with (
        _instance(pg_database, emulator.url, "alpha", worker=False) as alpha,
        _instance(pg_database, emulator.url, "beta") as beta,
    ):
        for i in range(5):
            alpha.post("/changes", json=change(i))
        eventually(lambda: _statuses(emulator) == {"STAGED": 5})
        before = _tenant(beta)
        assert (before["mode"], before["configured_mode"], before["staged"]) == ("sync", "sync", 5)

        dry = alpha.put("/tenants/t/mode", json={"mode": "sync_and_activate", "dry_run": True})
        assert dry.status_code == 200, dry.text
        plan = dry.json()
        assert (plan["switched"], plan["mode"], plan["activation_job"]) == (False, "sync", None)
        assert (plan["activation"]["staged"], plan["activation"]["estimate"]["api_calls"]) == (5, 5)
        assert _tenant(beta)["mode"] == "sync"

        done = alpha.put("/tenants/t/mode", json={"mode": "sync_and_activate"})
        assert done.status_code == 200, done.text
        in_force_at = time.monotonic() + REFRESH_S  # the promise: on every instance within the refresh
        switch = done.json()
        assert (switch["switched"], switch["mode"], switch["previous_mode"]) == (
            True,
            "sync_and_activate",
            "sync",
        )
        job = switch["activation_job"]
        assert job and job.startswith("act-t-")
        # beta's worker activates the staged users (the job) and creates new users active.
        eventually(lambda: beta.get(f"/imports/{job}").json()["state"] == "completed", timeout_s=30)
        time.sleep(max(0.0, in_force_at - time.monotonic()))  # 5 activations can take less
        answer = eventually(
            lambda: (r := alpha.post("/changes", json=change(100)).json())["state"] == "done" and r,
            timeout_s=10,
        )
        assert answer["result"]["status"] in ("created", "activated")
        eventually(lambda: _statuses(emulator) == {"PROVISIONED": 6})
        view = _tenant(beta)
        assert (view["mode"], view["set_by"], view["previous_mode"]) == (
            "sync_and_activate",
            "config-token",
            "sync",
        )
        assert (view["staged"], view["activation_job"]) == (0, job)
        again = beta.put("/tenants/t/mode", json={"mode": "sync_and_activate"})
        assert again.status_code == 409 and "already" in again.json()["detail"]
        assert beta.put("/tenants/nope/mode", json={"mode": "off"}).status_code == 404
        bad = beta.put("/tenants/t/mode", json={"mode": "sometimes"})
        assert bad.status_code == 422 and "mode" in bad.text
        trail = beta.get("/audit", params={"tenant": "t"}).json()["items"]
    switches = [(e["actor"], e["outcome"], e["detail"].get("from"), e["detail"].get("to")) for e in trail]
    assert ("config-token", "ok", "sync", "sync_and_activate") in switches
    assert ("config-token", "failed", None, "sync_and_activate") in switches
    # A restart with the configuration unchanged (mode sync): the switched mode stays in force.
    with _instance(pg_database, emulator.url, "gamma") as gamma:
        view = _tenant(gamma)
        assert (view["mode"], view["configured_mode"]) == ("sync_and_activate", "sync")
        answer = gamma.post("/changes", json=change(101)).json()
        assert answer["state"] == "done" and answer["result"]["status"] in ("created", "activated")
    assert _statuses(emulator) == {"PROVISIONED": 7}
