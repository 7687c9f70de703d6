"""Identity sources ("Anything-as-a-Source") over HTTP: sessions, bulk loads, processing, mastering.

Rules from Okta's guide "Build an Anything-as-a-Source custom client integration" and the spec's
IdentitySource operations (docs/emulator.md, "Identity sources"). Most tests use a ManualClock:
processing and the session rules move only when the test moves time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from idsync.emulator.okta.clock import ManualClock
from tests.common import eventually

from .conftest import EmulatorFactory, new_user
from .identity_source_client import Source, assert_rule, by_login, connect, people


def test_session_shape_get_list_and_one_created_session(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    with connect(emulator_factory(clock=clock)) as (api, admin):
        source = Source(api, admin)
        created = source.create()
        assert created.status_code == 200
        session = created.json()
        assert session["id"].startswith("aps") and len(session["id"]) == 20
        assert session["identitySourceId"] == source.id and source.id.startswith("0oa")
        assert (session["status"], session["importType"]) == ("CREATED", "INCREMENTAL")
        assert session["created"] == session["lastUpdated"] == "2026-01-01T00:00:00.000Z"
        assert source.get(session["id"]) == session
        assert api.get(source.base).json() == [session]
        clock.advance(3600)  # the rule is about status, not time
        assert_rule(source.create(), "only be one identity source session in the CREATED status")


def test_five_minute_rule_follows_the_time_scale(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()  # a minute lasts 0.6 s; 1 user a minute keeps the session TRIGGERED
    emu = emulator_factory(clock=clock, time_scale=0.01, identity_source_users_per_minute=1)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        first = source.import_now(people(20))
        clock.advance(2.9)  # 4 min 50 s of Okta time
        assert_rule(source.create(), "Only one active import session per identity source")
        assert source.get(first)["status"] == "TRIGGERED"
        assert source.admin_session(first)["processed"] == 4  # 4 min 50 s of Okta time at 1 a minute
        clock.advance(0.2)  # 5 min 2 s
        assert source.create().status_code == 200


def test_five_minutes_count_from_the_creation_of_the_active_session(
    emulator_factory: EmulatorFactory,
) -> None:
    """ "Only one active import session ... allowed to be created every 5 minutes": a session
    filled for 3 minutes and then started blocks the next one until 5 minutes after its
    creation, not after its start (so the next session fills while this one is processed)."""
    clock = ManualClock()
    emu = emulator_factory(clock=clock, identity_source_users_per_minute=1)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        first = source.new_session()
        clock.advance(180)
        assert source.upsert(first, people(20)).status_code == 202
        assert source.start(first).status_code == 200
        clock.advance(119)  # 4 min 59 s after the creation
        assert_rule(source.create(), "Only one active import session per identity source")
        clock.advance(2)  # 5 min 1 s after the creation, 2 min 1 s after the start
        assert source.get(first)["status"] == "TRIGGERED"
        assert source.create().status_code == 200


def test_bulk_upsert_answers_202_without_body_and_refuses_oversized_requests(
    emulator_factory: EmulatorFactory,
) -> None:
    with connect(emulator_factory(clock=ManualClock())) as (api, admin):
        source = Source(api, admin)
        session = source.new_session()
        accepted = source.upsert(session, people(200))
        assert (accepted.status_code, accepted.content) == (202, b"")
        too_many = source.upsert(session, people(201))
        assert too_many.status_code == 400
        assert too_many.json()["errorSummary"] == "Api validation failed: profiles"
        assert "at most 200 items" in too_many.json()["errorCauses"][0]["errorSummary"]
        heavy = source.upsert(session, people(60, homeAddress="x" * 4000))  # ~245 KB, 60 profiles
        assert heavy.status_code == 400
        assert "at most 200 KB" in heavy.json()["errorCauses"][0]["errorSummary"]
        assert source.admin_session(session)["uploads"] == 1  # refused uploads do not count


def test_fifty_uploads_per_session_then_400(emulator_factory: EmulatorFactory) -> None:
    with connect(emulator_factory(clock=ManualClock(), limits={"identitySources": 1000})) as (api, admin):
        source = Source(api, admin)
        session = source.new_session()
        for i in range(25):
            assert source.upsert(session, people(1, start=i)).status_code == 202
            assert source.delete(session, [f"GONE{i}"]).status_code == 202
        assert_rule(source.upsert(session, people(1, start=99)), "maximum number of bulk-load requests")
        assert_rule(source.delete(session, ["X"]), "maximum number of bulk-load requests")
        assert source.admin_session(session)["uploads"] == 50


def test_bad_bodies_name_the_field_and_the_reason(emulator_factory: EmulatorFactory) -> None:
    with connect(emulator_factory(clock=ManualClock())) as (api, admin):
        source = Source(api, admin)
        session = source.new_session()
        cases: list[tuple[Any, str]] = [
            ({"entityType": "USERS", "profiles": []}, "profiles: List should have at least 1 item, not 0"),
            ({"profiles": people(1)}, "entityType: Field required"),
            ({"entityType": "GROUPS", "profiles": people(1)}, "entityType: Input should be 'USERS'"),
            ({"entityType": "USERS", "profiles": [{"profile": {}}]}, "profiles.0.externalId: Field required"),
            (
                {"entityType": "USERS", "profiles": [{"externalId": "E", "profile": {"firstName": 7}}]},
                "profiles.0.profile.firstName: Input should be a valid string",
            ),
            (
                {"entityType": "USERS", "profiles": [{"externalId": "E", "profile": {"costCenter": 7}}]},
                "profiles.0.profile.costCenter: Input should be a valid string",
            ),
            (
                {"entityType": "USERS", "profiles": [{"externalId": "x" * 513, "profile": {}}]},
                "profiles.0.externalId: String should have at most 512 characters",
            ),
        ]
        for body, cause in cases:
            response = api.post(f"{source.base}/{session}/bulk-upsert", json=body)
            assert response.status_code == 400, body
            causes = [c["errorSummary"] for c in response.json()["errorCauses"]]
            assert any(c.startswith(cause) for c in causes), causes
        not_json = api.post(f"{source.base}/{session}/bulk-upsert", content=b"{nope")
        assert (not_json.status_code, not_json.json()["errorCode"]) == (400, "E0000003")
        assert source.admin_session(session)["uploads"] == 0


def test_upload_start_and_delete_need_a_created_session(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    emu = emulator_factory(clock=clock, identity_source_users_per_minute=1)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        session = source.import_now(people(5))
        triggered = source.get(session)
        assert triggered["status"] == "TRIGGERED"
        assert_rule(
            source.upsert(session, people(1)), "only load data to an identity source session in the CREATED"
        )
        assert_rule(
            source.delete(session, ["EXT0"]), "only load data to an identity source session in the CREATED"
        )
        assert_rule(source.start(session), "already triggered")
        assert_rule(
            api.delete(f"{source.base}/{session}"), "only cancel identity source sessions in the CREATED"
        )


def test_start_import_answers_triggered_and_processing_completes_at_the_rate(
    emulator_factory: EmulatorFactory,
) -> None:
    clock = ManualClock()  # 600 users a minute at real speed: 10 a second
    emu = emulator_factory(clock=clock, identity_source_users_per_minute=600)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        session = source.new_session()
        assert source.upsert(session, people(20)).status_code == 202
        assert source.upsert(session, people(10, start=20)).status_code == 202
        clock.advance(60)
        started = source.start(session)
        assert started.status_code == 200
        assert started.json()["status"] == "TRIGGERED"
        assert started.json()["lastUpdated"] == "2026-01-01T00:01:00.000Z"
        clock.advance(1.0)
        assert source.get(session)["status"] == "TRIGGERED"
        assert source.admin_session(session)["processed"] == 10
        assert len(api.get("/api/v1/users", params={"search": 'profile.lastName eq "Person"'}).json()) == 10
        clock.advance(2.0)
        done = source.get(session)
        assert (done["status"], done["lastUpdated"]) == ("COMPLETED", "2026-01-01T00:01:03.000Z")
        assert source.admin_session(session)["counts"] == {"created": 30}
        [user] = by_login(api, "person7@hr.example.com")
        assert user["id"] == source.user_id("EXT7")
        assert user["status"] == "STAGED"  # identity_source_activate is off by default
        assert (
            user["profile"]["firstName"] == "First7" and user["profile"]["email"] == "person7@hr.example.com"
        )
        assert user["credentials"]["provider"] == {"type": "IMPORT", "name": "IMPORT"}


def test_triggered_sessions_of_a_source_are_processed_one_after_another(
    emulator_factory: EmulatorFactory,
) -> None:
    clock = ManualClock()  # 2 users a minute: 20 users take 10 minutes
    emu = emulator_factory(clock=clock, identity_source_users_per_minute=2)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        first = source.import_now(people(20))
        clock.advance(301)  # past the 5-minute rule, first still running
        second = source.import_now(people(2, start=100))
        clock.advance(240)  # 9 min 1 s: first has done 18, second has not begun
        assert source.get(second)["status"] == "TRIGGERED"
        assert source.admin_session(first)["processed"] == 18
        assert source.admin_session(second)["processed"] == 0
        assert by_login(api, "person100@hr.example.com") == []
        clock.advance(59)  # 10 min: first COMPLETED, second starts now
        assert source.get(first)["status"] == "COMPLETED"
        assert source.get(second)["status"] == "TRIGGERED"
        clock.advance(60)  # one more minute: second's 2 users
        assert source.get(second)["status"] == "COMPLETED"
        assert len(by_login(api, "person101@hr.example.com")) == 1
        assert source.admin_session(second)["started"] == source.admin_session(first)["finished"]


def test_background_processing_with_a_real_clock_and_time_scale(emulator_factory: EmulatorFactory) -> None:
    # 2,000 users a minute with a minute of 0.06 s: 40 users take about 0.07 s of real time
    emu = emulator_factory(time_scale=0.001)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        source.import_now(people(40))
        # /api/v1/users does not advance processing itself: the background task must have run
        eventually(lambda: len(by_login(api, "person39@hr.example.com")) == 1, timeout_s=30)
        users = api.get("/api/v1/users", params={"search": 'profile.lastName eq "Person"'}).json()
        assert len(users) == 40


def test_upsert_updates_linked_users_and_bulk_delete_deactivates(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    emu = emulator_factory(clock=clock, identity_source_users_per_minute=6000)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        first = source.import_now(people(3))
        clock.advance(1)
        assert source.get(first)["status"] == "COMPLETED"
        ids = {e: source.user_id(e) for e in ("EXT0", "EXT1", "EXT2")}
        changed = people(1)
        changed[0]["profile"]["lastName"] = "Renamed"
        second = source.new_session()  # first is no longer active: no 5-minute wait
        assert source.upsert(second, changed + people(1, start=1)).status_code == 202
        assert source.delete(second, ["EXT2", "NOBODY"]).status_code == 202
        assert source.start(second).status_code == 200
        clock.advance(1)
        assert source.get(second)["status"] == "COMPLETED"
        assert source.admin_session(second)["counts"] == {
            "updated": 1,
            "unchanged": 1,
            "deactivated": 1,
            "ignored": 1,
        }
        assert api.get(f"/api/v1/users/{ids['EXT0']}").json()["profile"]["lastName"] == "Renamed"
        assert api.get(f"/api/v1/users/{ids['EXT2']}").json()["status"] == "DEPROVISIONED"
        assert source.user_id("EXT0") == ids["EXT0"]  # updated in place, not a second account


def test_source_mastered_attributes_cannot_be_changed_through_the_users_api(
    emulator_factory: EmulatorFactory,
) -> None:
    clock = ManualClock()
    with connect(emulator_factory(clock=clock)) as (api, admin):
        source = Source(api, admin)
        session = source.import_now(people(1))
        clock.advance(1)
        assert source.get(session)["status"] == "COMPLETED"
        user_id = source.user_id("EXT0")
        refused = api.post(f"/api/v1/users/{user_id}", json={"profile": {"firstName": "Changed"}})
        assert refused.status_code == 403
        assert refused.json()["errorCode"] == "E0000023"
        assert refused.json()["errorSummary"] == (
            "Operation failed because user profile is mastered under another system"
        )
        whole = api.get(f"/api/v1/users/{user_id}").json()["profile"]
        replaced = api.put(
            f"/api/v1/users/{user_id}", json={"profile": {**whole, "email": "other@hr.example.com"}}
        )
        assert replaced.status_code == 403
        same = api.post(f"/api/v1/users/{user_id}", json={"profile": {"firstName": "First0", "title": "Dr"}})
        assert same.status_code == 200  # unchanged mastered values and attributes the source never sent
        assert same.json()["profile"]["title"] == "Dr"
        other = api.post("/api/v1/users?activate=false", json=new_user("free@example.com")).json()
        free = api.post(f"/api/v1/users/{other['id']}", json={"profile": {"firstName": "Still"}})
        assert free.status_code == 200


def test_activation_setting_and_existing_logins(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    emu = emulator_factory(clock=clock, identity_source_activate=True)
    with connect(emu) as (api, admin):
        taken = api.post("/api/v1/users?activate=false", json=new_user("person1@hr.example.com")).json()
        strict = Source(api, admin)
        session = strict.import_now(people(2))
        clock.advance(1)
        assert strict.get(session)["status"] == "COMPLETED"
        [failure] = strict.admin_session(session)["failures"]
        assert failure["externalId"] == "EXT1" and "already exists" in failure["reason"]
        [created] = by_login(api, "person0@hr.example.com")
        assert created["status"] == "PROVISIONED"
        assert len(admin.outbox(user_id=created["id"])) == 1  # the activation e-mail
        matching = Source(api, admin, match_by_login=True)
        linked = matching.import_now(people(1, start=1))
        clock.advance(1)
        assert matching.get(linked)["status"] == "COMPLETED"
        assert matching.user_id("EXT1") == taken["id"]
        assert api.get(f"/api/v1/users/{taken['id']}").json()["profile"]["firstName"] == "First1"


def test_cancelled_and_expired_sessions(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    with connect(emulator_factory(clock=clock, time_scale=0.5)) as (api, admin):
        source = Source(api, admin)
        session = source.new_session()
        assert source.upsert(session, people(3)).status_code == 202
        deleted = api.delete(f"{source.base}/{session}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert source.get(session)["status"] == "CLOSED"
        assert source.admin_session(session)["upserts"] == 0  # its data is dropped
        assert_rule(source.start(session), "already triggered")
        idle = source.new_session()  # CLOSED is not active: allowed at once
        clock.advance(12 * 3600 - 1)  # 24 h of Okta time at time_scale 0.5, minus a second
        assert source.get(idle)["status"] == "CREATED"  # a request keeps it alive
        clock.advance(12 * 3600)
        assert source.get(idle)["status"] == "EXPIRED"
        assert source.create().status_code == 200
        assert by_login(api, "person0@hr.example.com") == []


def test_processing_error_imports_nothing(emulator_factory: EmulatorFactory) -> None:
    clock = ManualClock()
    with connect(emulator_factory(clock=clock, identity_source_error_rate=1.0)) as (api, admin):
        source = Source(api, admin)
        session = source.import_now(people(3))
        clock.advance(1)
        assert source.get(session)["status"] == "ERROR"
        assert by_login(api, "person0@hr.example.com") == []


def test_unknown_source_and_session_are_404(emulator_factory: EmulatorFactory) -> None:
    with connect(emulator_factory(clock=ManualClock())) as (api, admin):
        missing = api.post("/api/v1/identity-sources/0oaNOPE/sessions")
        assert (missing.status_code, missing.json()["errorCode"]) == (404, "E0000007")
        source = Source(api, admin)
        other = Source(api, admin)
        session = other.new_session()
        wrong_source = api.get(f"{source.base}/{session}")  # a session of another source
        assert (wrong_source.status_code, wrong_source.json()["errorCode"]) == (404, "E0000007")
        groups = api.post(f"{source.base}/{session}/bulk-groups-upsert", json={})
        assert groups.status_code == 404  # group bulk loads are not emulated


def test_feature_off_answers_403(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(identity_sources=False)
    with connect(emu) as (api, _admin):
        made = httpx.post(f"{emu.url}/__emulator/identity-sources", json={"name": "HR"})
        assert made.status_code == 403
        refused = api.get("/api/v1/identity-sources/0oa1/sessions")
        assert (refused.status_code, refused.json()["errorCode"]) == (403, "E0000006")


def test_admin_create_checks_its_body(emulator: EmulatorThread) -> None:
    for body in ({}, {"name": " "}, {"name": "HR", "matchByLogin": "yes"}, []):
        assert httpx.post(f"{emulator.url}/__emulator/identity-sources", json=body).status_code == 400


def test_identity_sources_have_their_own_rate_limit_counter(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(clock=ManualClock(), limits={"identitySources": 4})  # 2 per token (50%)
    with connect(emu) as (api, admin):
        source = Source(api, admin)
        first = api.get(source.base)
        assert first.headers["X-Rate-Limit-Limit"] == "2"
        assert first.headers["X-Rate-Limit-Remaining"] == "1"
        assert api.get(source.base).status_code == 200
        limited = api.get(source.base)
        assert (limited.status_code, limited.json()["errorCode"]) == (429, "E0000047")
        users = api.get("/api/v1/users")
        assert users.status_code == 200 and users.headers["X-Rate-Limit-Limit"] == "300"
        windows = [w for w in admin.stats()["rate_limit_windows"] if w["bucket"] == "identitySources"]
        assert [(w["calls"], w["rejected_429"]) for w in windows] == [(2, 1)]


def test_links_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    clock = ManualClock()
    settings = EmulatorSettings(state_file=str(tmp_path / "okta.sqlite"), seed=7)
    with EmulatorThread(settings, clock=clock) as emu, connect(emu) as (api, admin):
        source = Source(api, admin)
        source.import_now(people(1))
        clock.advance(1)
        source.admin.identity_source(source.id)  # brings processing up to now
        user_id = source.user_id("EXT0")
    with EmulatorThread(settings, clock=clock) as emu, connect(emu) as (api, admin):
        assert admin.identity_source(source.id)["users"] == {"EXT0": user_id}
        refused = api.post(f"/api/v1/users/{user_id}", json={"profile": {"lastName": "Other"}})
        assert refused.status_code == 403  # still mastered by the source
        source.api, source.admin = api, admin
        changed = people(1)
        changed[0]["profile"]["lastName"] = "Again"
        session = source.import_now(changed)
        clock.advance(1)
        assert source.get(session)["status"] == "COMPLETED"
        assert source.admin_session(session)["counts"] == {"updated": 1}
