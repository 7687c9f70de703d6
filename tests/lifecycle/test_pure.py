"""The pure parts of the workflow: estimates agree with the pacer, forecasts with the planner,
portal rows are validated, CSV cells are defused."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from idsync.domain.decision import link_after as after
from idsync.domain.links import IdpStatus, Link
from idsync.domain.models import ChangeMessage, Lane, Reason
from idsync.domain.planner import plan
from idsync.domain.policy import SyncMode, TenantPolicy
from idsync.engine.pacer import BucketPacer
from idsync.lifecycle.estimate import (
    BucketLimit,
    bucket_calls,
    bulk_per_window,
    default_limits,
    estimate,
    format_duration,
)
from idsync.lifecycle.failures import FailureRow, write_csv
from idsync.lifecycle.forecast import Tally, calls_of
from idsync.lifecycle.portals import PortalSpec, parse_portals_csv, portal_label


@given(
    limit=st.integers(1, 5000),
    share=st.floats(0.05, 1.0),
    reserve=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
)
def test_bulk_calls_per_window_are_what_the_pacer_sends(limit: int, share: float, reserve: float) -> None:
    pacer = BucketPacer(share=share, reserve_share=reserve, limit=limit, reset_at=60.0, window_s=60.0)
    sent, now = 0, 0.0
    while True:
        at = pacer.next_send_at(now, Lane.BULK)
        if at >= 60.0:
            break
        now = at
        pacer.on_send(now)
        sent += 1
    assert sent == bulk_per_window(limit, share, reserve) or (sent == 0 and limit * share < 2)


def test_estimate_takes_the_busiest_bucket_and_says_when_it_used_defaults() -> None:
    limits = default_limits("okta")
    assert limits["users"].limit == 300  # 600/min for the org, half for one token
    calls = bucket_calls({"create": 2340, "update": 100, "lookup": 3}, "okta")
    assert calls == {"users": 2340, "users/{id}": 100, "users/{id}:get": 3}
    est = estimate(calls, limits, budget_share=0.8, interactive_reserve=0.02)
    per_window = bulk_per_window(300, 0.8, 0.02)
    assert est.busiest is not None and est.busiest.bucket == "users"
    assert est.seconds == pytest.approx(2340 / per_window * 60)
    assert est.uses_defaults and est.calls == 2443
    learned = {"users": BucketLimit("users", 600, 1.2, learned_at=1.0)}
    fast = estimate({"users": 600}, learned, budget_share=1.0, interactive_reserve=0.0)
    assert fast.seconds == pytest.approx(1.2) and not fast.uses_defaults
    unknown = estimate({"write": 10}, default_limits("scim"), budget_share=0.8, interactive_reserve=0.02)
    assert unknown.seconds is None


def test_durations_read_like_a_person_writes_them() -> None:
    assert [format_duration(s) for s in (None, 0.2, 42, 250, 2 * 3600 + 5 * 60)] == [
        "unknown",
        "< 1 s",
        "42 s",
        "4 min 10 s",
        "2 h 05 min",
    ]


def change(
    key: str = "1", first: str = "Ann", version: int | None = None, op: str = "upsert"
) -> ChangeMessage:
    user = {
        "login": f"u{key}@example.com",
        "email": f"u{key}@example.com",
        "firstName": first,
        "lastName": "Lee",
    }
    return ChangeMessage.model_validate(
        {"tenant": "t", "op": op, "source": "s", "key": key, "version": version}
        | ({"user": user} if op == "upsert" else {})
    )


@pytest.mark.parametrize("mode", [SyncMode.SYNC, SyncMode.SYNC_AND_ACTIVATE])
def test_playing_a_plan_forward_leaves_nothing_to_do(mode: SyncMode) -> None:
    policy = TenantPolicy("t", mode=mode)
    base = Link("t", "s", "1", "okta")
    created = plan(change(), None, policy)
    assert calls_of(created) == {"create": 1}
    linked = after(created, base)
    assert linked.idp_status is (
        IdpStatus.PROVISIONED if mode is SyncMode.SYNC_AND_ACTIVATE else IdpStatus.STAGED
    )
    assert not plan(change(), linked, policy).calls_idp
    renamed = plan(change(first="Anna"), linked, policy)
    assert calls_of(renamed) == {"update": 1}
    assert not plan(change(first="Anna"), after(renamed, linked), policy).calls_idp
    activated = plan(change(op="activate"), linked, TenantPolicy("t"))
    if mode is SyncMode.SYNC:
        assert calls_of(activated) == {"activate": 1}
        assert after(activated, linked).idp_status is IdpStatus.PROVISIONED
    else:
        assert not activated.calls_idp


def test_tally_takes_back_a_plan_that_a_later_upsert_replaces() -> None:
    policy = TenantPolicy("t")
    tally = Tally()
    tally.add_rejected(Reason(code="invalid", message="user.email: is not a valid e-mail address"))
    first = plan(change(), None, policy)
    tally.add_plan(first)
    tally.remove_plan(first, 1)
    tally.add_plan(plan(change(first="Bea"), None, policy), 2)
    assert tally.records == 3
    assert tally.outcomes == {"failed": 1, "created": 2}
    assert tally.calls == {"create": 1}
    assert tally.reasons == {("failed", "invalid"): 1}


def test_portal_rows_are_validated_and_named_by_a_stable_label() -> None:
    rows = parse_portals_csv(
        "Name,Base URL,Redirect URIs\n"
        "panel,https://p.example.com/,https://p.example.com/cb|https://p.example.com/silent\n"
        "local,http://localhost:8080,http://localhost:8080/cb\n"
        "panel,https://dup.example.com,https://dup.example.com/cb\n"
        "nouri,https://n.example.com,\n"
        "bad,javascript:alert(1),https://b.example.com/cb\n"
        "\n"
    )
    good = [r.spec for r in rows if r.spec]
    assert [(s.name, s.base_url, s.redirect_uris) for s in good] == [
        ("panel", "https://p.example.com", ["https://p.example.com/cb", "https://p.example.com/silent"]),
        ("local", "http://localhost:8080", ["http://localhost:8080/cb"]),
    ]
    errors = {r.line: r.error for r in rows if r.spec is None}
    assert "listed twice" in (errors[4] or "")
    assert "redirect_uris" in (errors[5] or "")
    assert "base_url" in (errors[6] or "")
    assert portal_label("efs-prod", "panel") == "idsync/efs-prod/panel"
    with pytest.raises(ValueError, match="redirect_uris"):
        parse_portals_csv("name,base_url\nx,https://x.example.com\n")


def test_portal_names_are_display_names_but_hide_nothing() -> None:
    rows = parse_portals_csv(
        "name,base_url,redirect_uris\n"
        "Acme Panel (EU),https://p.example.com,https://p.example.com/cb\n"
        " padded,https://q.example.com,https://q.example.com/cb\n"
        "evil\u202eroot,https://r.example.com,https://r.example.com/cb\n"
        f"{'n' * 101},https://s.example.com,https://s.example.com/cb\n"
    )
    assert [r.spec.name for r in rows if r.spec] == ["Acme Panel (EU)", "padded"]  # CSV cells are trimmed
    assert portal_label("acme", "Acme Panel (EU)") == "idsync/acme/Acme Panel (EU)"
    with pytest.raises(ValidationError, match="must not start or end with a space"):
        PortalSpec(
            name="padded ", base_url="https://q.example.com", redirect_uris=["https://q.example.com/cb"]
        )
    errors = {r.line: r.error or "" for r in rows if r.spec is None}
    assert "name" in errors[4] and "bidirectional" in errors[4]
    assert "name" in errors[5] and "100" in errors[5]


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    out = io.StringIO()
    row = FailureRow("failed", "invalid", "=cmd|' /C calc'!A0", "t", "s", "@k", "upsert", "+x", "", 1)
    assert write_csv([row], out) == 1
    line = out.getvalue().splitlines()[1]
    assert line.startswith("failed,invalid,'=cmd") and ",'@k," in line and ",'+x," in line
