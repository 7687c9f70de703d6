"""The dashboard's pure parts: the login cookie, the sampled history, the import rows."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from idsync.domain.models import ImportState, Status
from idsync.domain.records import ImportRecord
from idsync.web.dashboard import session
from idsync.web.dashboard.sampler import History, Point
from idsync.web.dashboard.views import bucket_views, import_row

TOKEN = "unit-test-token"
KEY = ("okta", "users")
SESSION_KEY = bytes(range(32))
SSO = session.SignIn("sso", actor="sso:ann@example.com", grants={"efs-prod": "viewer"})

# ---- the sign-in cookie -----------------------------------------------------------------------


def test_a_cookie_is_valid_for_its_lifetime_only() -> None:
    value = session.issue(SESSION_KEY, SSO, now=1000.0)
    assert session.read(SESSION_KEY, value, now=1000.0) == SSO
    assert session.read(SESSION_KEY, value, now=1000.0 + session.LIFETIME_S - 1) == SSO
    assert session.read(SESSION_KEY, value, now=1000.0 + session.LIFETIME_S + 1) is None


def _resign(value: str, change: dict[str, Any]) -> str:
    """The payload changed (a later expiry, more roles) but the old signature kept."""
    payload, _, mac = value.partition(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, **change}).encode()).decode().rstrip("=")
    return f"{forged}.{mac}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),  # another signature
        lambda v: _resign(v, {"exp": 10**10}),  # a later expiry
        lambda v: _resign(v, {"grants": {"*": "admin"}}),  # more roles
        lambda v: v.split(".")[0],  # no signature
        lambda v: "x" + v,
        lambda v: "",
        lambda v: "9" * 40 + "." + v.split(".")[1],
        lambda v: v + "." + "0" * 5000,  # far too long
    ],
)
def test_a_changed_cookie_is_refused(tamper: Any) -> None:
    value = session.issue(SESSION_KEY, SSO, now=1000.0)
    assert session.read(SESSION_KEY, value, now=1000.0) == SSO
    assert session.read(SESSION_KEY, tamper(value), now=1000.0) is None


def test_a_cookie_needs_the_key_it_was_signed_with_and_carries_no_token() -> None:
    fingerprint = session.config_fingerprint(SESSION_KEY, TOKEN)
    value = session.issue(SESSION_KEY, session.SignIn("config", ref=fingerprint), now=1000.0)
    assert TOKEN not in value and TOKEN not in base64.urlsafe_b64decode(value.split(".")[0] + "==").decode()
    assert session.read(SESSION_KEY, value, now=1000.0) == session.SignIn("config", ref=fingerprint)
    assert session.read(bytes(32), value, now=1000.0) is None
    assert session.read(SESSION_KEY, None, now=1000.0) is None
    assert session.config_fingerprint(SESSION_KEY, "rotated-token") != fingerprint


def test_the_sign_in_form_matches_the_exact_token() -> None:
    assert session.token_matches(TOKEN, TOKEN)
    assert not session.token_matches(TOKEN, TOKEN + " ")
    assert not session.token_matches(TOKEN, "")
    assert not session.token_matches(None, "")


# ---- the sampled history ----------------------------------------------------------------------


def test_calls_per_minute_and_429s_come_from_the_deltas_of_the_totals() -> None:
    h = History(interval_s=5.0)
    h.observe(100.0, {KEY: (10, 0)})
    assert h.series(KEY) == []  # one sample: no rate yet
    h.observe(105.0, {KEY: (60, 2)})
    h.observe(110.0, {KEY: (60, 2)})
    assert h.series(KEY) == [Point(105.0, 600.0, 2), Point(110.0, 0.0, 0)]
    assert h.series(KEY, since=105.0) == [Point(110.0, 0.0, 0)]
    assert h.rate_limited_total(KEY) == 2


def test_a_restarted_governor_or_a_clock_step_makes_no_point() -> None:
    h = History(interval_s=5.0)
    h.observe(100.0, {KEY: (500, 0)})
    h.observe(105.0, {KEY: (3, 0)})  # totals went down: a new governor
    h.observe(104.0, {KEY: (9, 0)})  # the clock went back
    assert h.series(KEY) == []
    h.observe(110.0, {KEY: (19, 0)})
    assert h.series(KEY) == [Point(110.0, 100.0, 0)]


def test_the_history_keeps_only_its_horizon() -> None:
    h = History(interval_s=1.0, horizon_s=10.0)
    for t in range(100):
        h.observe(float(t), {KEY: (t, 0)}, (0, t))
    assert len(h.series(KEY)) == 10 and h.series(KEY)[0].t == 90.0
    assert len(h.queue) == 10 and h.queue[-1].bulk == 99


def test_running_imports_get_an_observed_rate_until_they_stop_running() -> None:
    h = History(interval_s=5.0)
    h.observe(100.0, {}, running={"imp-1": 0})
    assert "imp-1" not in h.import_rates  # one sample: no rate yet
    h.observe(110.0, {}, running={"imp-1": 500})
    assert h.import_rates["imp-1"] == 50.0
    h.observe(120.0, {}, running={})
    assert h.import_rates == {}


# ---- import rows ------------------------------------------------------------------------------


def _record(state: ImportState = ImportState.RUNNING, **kw: Any) -> ImportRecord:
    counts = dict.fromkeys(["received", *(s.value for s in Status)], 0)
    counts.update(kw.pop("counts", {}))
    values: dict[str, Any] = {
        "id": "imp-1",
        "tenant": "t",
        "origin": "file",
        "input_name": "/data/in/users.jsonl",
        "state": state,
        "total": None,
        "counts": counts,
        "input_cursor": 0,
        "input_done": False,
        "rate": 0.0,
        "started_at": 1000.0,
        "updated_at": 1100.0,
        "finished_at": None,
    }
    values.update(kw)
    return ImportRecord(**values)


def test_a_running_import_with_a_known_total() -> None:
    row = import_row(_record(total=1000, rate=10.0, counts={"received": 400, "created": 150, "failed": 50}))
    assert (row.done, row.pending, row.percent) == (200, 200, 20.0)
    assert (row.rate, row.rate_source, row.eta_s) == (10.0, "job", 80.0)
    assert row.input_name == "users.jsonl" and row.kind == "import"
    assert list(row.counts)[-2:] == ["skipped", "failed"]


def test_the_size_is_unknown_until_the_input_is_complete() -> None:
    receiving = import_row(_record(counts={"received": 300, "created": 100}))
    assert receiving.percent is None
    complete = import_row(_record(input_done=True, counts={"received": 400, "created": 100}))
    assert complete.percent == 25.0


def test_the_observed_rate_wins_over_the_recorded_one_while_running() -> None:
    h = History(interval_s=5.0)
    h.observe(0.0, {}, running={"imp-1": 0})
    h.observe(10.0, {}, running={"imp-1": 40})
    row = import_row(_record(total=100, rate=99.0, counts={"received": 100, "created": 40}), h)
    assert (row.rate, row.rate_source, row.eta_s) == (4.0, "observed", 15.0)


def test_a_finished_import_shows_its_average_rate_and_no_eta() -> None:
    record = _record(
        ImportState.COMPLETED,
        origin="activation",
        rate=7.0,
        finished_at=1050.0,
        input_done=True,
        counts={"received": 100, "activated": 100},
    )
    row = import_row(record)
    assert (row.rate, row.rate_source, row.eta_s, row.kind, row.percent) == (
        2.0,
        "average",
        None,
        "activation",
        100.0,
    )


class _Governor:
    def __init__(self, snapshot: dict[str, dict[str, object]]) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> dict[str, dict[str, object]]:
        return self._snapshot


def test_bucket_limits_are_turned_into_per_minute_only_once_the_window_is_known() -> None:
    snap: dict[str, object] = {
        "limit": 300,
        "budget": 240,
        "calls_left": 10,
        "reset_in_s": 1.5,
        "window_s": 3.0,
        "calls": {200: 50, 429: 2},
        "rate_limited": 2,
        "waiting": 4,
    }
    h = History(interval_s=1.0)
    h.observe(0.0, {KEY: (0, 0)})
    h.observe(1.0, {KEY: (52, 2)})
    ((idp,),) = [bucket_views({"okta": _Governor({"users": snap})}, {"okta": 0.8}, h)]
    (b,) = idp.buckets
    assert (b.limit_per_min, b.budget_per_min, b.calls, b.calls_per_min) == (6000.0, 4800.0, 52, 3120.0)
    assert b.calls_by_status == {"200": 50, "429": 2} and b.series == [(1.0, 3120.0, 2)]
    ((young,),) = [bucket_views({"okta": _Governor({"users": {**snap, "window_s": None}})}, {"okta": 0.8}, h)]
    assert young.buckets[0].limit_per_min is None and young.buckets[0].window_s is None
