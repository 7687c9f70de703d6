"""Parsing Okta deliveries, the ordering rules, and the `[inbound.*]` configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idsync.config import settings_from_dict
from idsync.domain.events import (
    DeliveryError,
    EventRow,
    okta_time,
    parse_delivery,
    parse_okta_time,
    superseded,
)
from idsync.errors import ConfigError

# The sample delivery of Okta's event hooks concept page (okta/docs/event-hooks-concept.md), kept
# with the tests so that it runs on every machine.
SAMPLE = Path(__file__).with_name("data") / "okta-event-hook-sample.json"


def test_parses_the_documented_sample_delivery() -> None:
    body = json.loads(SAMPLE.read_text())
    delivery_id, rows = parse_delivery(body)
    assert delivery_id == "85b60edb-4263-4e13-993b-818e26201052"
    (row,) = rows
    assert row.uuid == "f1d0b993-cc19-11ed-a688-db22c99ef6c4" and row.event_type == "user.session.start"
    assert row.okta_user_id is None  # its targets are an authenticator and an app, not a user
    assert row.published_ts == parse_okta_time("2023-03-26T21:05:32.159Z")


def test_user_and_group_targets() -> None:
    body = {
        "eventId": "d1",
        "data": {
            "events": [
                {
                    "uuid": "u1",
                    "published": "2024-05-01T12:00:00.123Z",
                    "eventType": "group.user_membership.add",
                    "target": [
                        {"id": "00u1", "type": "User", "alternateId": "ann@x.io"},
                        {"id": "00g1", "type": "UserGroup", "displayName": "Admins"},
                    ],
                }
            ]
        },
    }
    _, (row,) = parse_delivery(body)
    assert (row.okta_user_id, row.login, row.group_id, row.group_name) == (
        "00u1",
        "ann@x.io",
        "00g1",
        "Admins",
    )
    assert row.is_membership_event and not row.is_user_event


@pytest.mark.parametrize("body", [[], {"data": {}}, {"data": {"events": [{"eventType": "x"}]}}, "text"])
def test_what_is_not_a_delivery_is_refused(body: Any) -> None:
    with pytest.raises(DeliveryError):
        parse_delivery(body)


@given(st.floats(min_value=0, max_value=4_000_000_000))
def test_okta_time_round_trips_to_the_millisecond(ts: float) -> None:
    parsed = parse_okta_time(okta_time(ts))
    assert parsed is not None and abs(parsed - ts) < 0.001


def test_superseded_only_strictly_before_the_watermark_and_never_without_a_timestamp() -> None:
    def row(event_type: str, ts: float) -> EventRow:
        return EventRow("u", event_type, "", ts, "00u1")

    assert superseded(row("user.account.update_profile", 10.0), 11.0, None)
    assert not superseded(row("user.account.update_profile", 11.0), 11.0, None)
    assert not superseded(
        row("user.account.update_profile", 10.0), None, 99.0
    )  # roles watermark: not for profiles
    assert superseded(row("group.user_membership.remove", 10.0), None, 11.0)
    assert not superseded(row("group.user_membership.remove", 10.0), 99.0, None)
    assert not superseded(row("user.account.update_profile", 0.0), 11.0, 11.0)  # `published` unreadable
    assert parse_okta_time("2026-11-23T10:32:01679Z") is None


def _raw(**inbound: Any) -> dict[str, Any]:
    return {
        "idps": {"okta": {"type": "emulator"}},
        "inbound": {"app": {"target": {"type": "sql", "url": "sqlite:///app.db"}, **inbound}},
    }


@pytest.mark.parametrize(
    ("inbound", "environ", "message"),
    [
        ({"idp": "nope"}, {}, "inbound.app.idp: no IdP named 'nope'"),
        ({"match_on": ["login"]}, {}, "match_on names unmapped fields: login"),
        ({"active_statuses": ["ENABLED"]}, {}, "not Okta statuses: ENABLED"),
        ({"hook_secret_env": "S"}, {"S": "short"}, "shorter than 16 characters"),
        (
            {"target": {"type": "sql", "url": "x", "roles_table": None}, "groups": {"A": "a"}},
            {},
            "no roles_table",
        ),
        ({"target": {"type": "sql", "url_env": "DB"}}, {}, "environment variable DB is not set"),
        ({"target": {"type": "sql"}}, {}, "give exactly one of url and url_env"),
        ({"target": {"type": "http", "url": "http://x", "token_env": "T"}}, {}, "environment variable T"),
    ],
)
def test_configuration_errors_name_the_setting(
    inbound: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict(_raw(**inbound), environ)


def test_secrets_come_from_the_environment_and_stay_hidden() -> None:
    secret = "Bearer 0123456789abcdef"
    settings = settings_from_dict(
        _raw(hook_secret_env="S", target={"type": "sql", "url_env": "DB"}),
        {"S": secret, "DB": "postgresql://u:pw@h/db"},
    )
    app = settings.inbound["app"]
    assert app.hook_secret is not None and app.hook_secret.get_secret_value() == secret
    assert secret not in repr(settings) and "pw@" not in repr(settings)
    assert "hook_secret" not in settings.model_dump()["inbound"]["app"]
    assert app.hook_url("app", "http://127.0.0.1:8400") == "http://127.0.0.1:8400/hooks/okta/app"
