"""The pure rules of identity-source sessions: externalIds, the source's profile form, and which
accounts a session created."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idsync.domain.sessions import EXTERNAL_ID_MAX, created_since, external_id, latest, source_profile

parts = st.text(min_size=1, max_size=120)


@given(parts, parts, parts, parts, parts, parts)
def test_external_ids_are_stable_unique_and_short_enough(
    a: str, b: str, c: str, x: str, y: str, z: str
) -> None:
    one = external_id(a, b, c)
    assert one == external_id(a, b, c)
    assert 1 <= len(one) <= EXTERNAL_ID_MAX
    assert (one == external_id(x, y, z)) == ((a, b, c) == (x, y, z))


def test_an_external_id_is_readable_and_a_slash_in_a_part_cannot_merge_two_identities() -> None:
    assert external_id("efs-prod", "efs-admin", "4711") == "efs-prod/efs-admin/4711"
    assert external_id("t", "a/b", "c") != external_id("t", "a", "b/c")
    assert external_id("t", "s", "k" * 300).startswith("sha256/")


def test_the_source_profile_carries_strings_only_with_the_login_as_user_name() -> None:
    profile = {"login": "ann@example.com", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"}
    assert source_profile(profile) == {
        "userName": "ann@example.com",
        "email": "ann@example.com",
        "firstName": "Ann",
        "lastName": "Lee",
    }
    assert source_profile({**profile, "costCenter": 7}) is None  # Okta: string attributes only
    assert source_profile({**profile, "login": "x" * 96 + "@e.co"}) is None  # userName: 100 at most
    assert source_profile({**profile, "userName": "other"}) is None  # would clash with the login


def test_an_account_is_the_sessions_when_created_at_or_after_its_start() -> None:
    start = "2026-01-01T10:00:05.000Z"
    assert created_since("2026-01-01T10:00:05.000Z", start)  # whole seconds: the same second counts
    assert created_since("2026-01-01T10:07:00.000Z", start)
    assert not created_since("2026-01-01T10:00:04.000Z", start)
    assert not created_since(None, start) and not created_since("yesterday", start)


def test_the_latest_timestamp_is_compared_as_a_time_not_as_text() -> None:
    assert latest("2026-01-01T10:00:05.000Z", "2026-01-01T09:59:59.000Z") == "2026-01-01T10:00:05.000Z"
    # Another spelling of a later time wins, though it sorts first as text.
    assert latest("2026-01-01T10:00:05.000Z", "2026-01-01T09:00:00-02:00") == "2026-01-01T09:00:00-02:00"
    assert latest("", "2026-01-01T10:00:05.000Z", "not a time") == "2026-01-01T10:00:05.000Z"
    assert latest("", "") == ""
