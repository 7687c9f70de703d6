"""Okta's user lifecycle: the transition table, and the same rules over HTTP."""

from __future__ import annotations

import httpx
import pytest

from idsync.emulator.okta import EmulatorAdmin
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.lifecycle import STATUSES, plan

from .conftest import new_user

# (operation, from-status) -> resulting status, or the (HTTP status, errorCode) Okta answers.
EXPECTED: dict[str, dict[str, str | tuple[int, str]]] = {
    "activate": {
        "STAGED": "ACTIVE*",  # ACTIVE with a password, PROVISIONED without
        "DEPROVISIONED": "ACTIVE*",
        "ACTIVE": (403, "E0000016"),
        **dict.fromkeys(
            ("PROVISIONED", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED", "SUSPENDED"), (403, "E0000038")
        ),
    },
    "reactivate": {
        "PROVISIONED": "PROVISIONED",
        "RECOVERY": "PROVISIONED",
        **{s: (403, "E0000038") for s in STATUSES if s not in ("PROVISIONED", "RECOVERY")},
    },
    "deactivate": {
        **{s: "DEPROVISIONED" for s in STATUSES if s != "DEPROVISIONED"},
        "DEPROVISIONED": (403, "E0000038"),
    },
    "suspend": {**dict.fromkeys(STATUSES, (400, "E0000001")), "ACTIVE": "SUSPENDED"},
    "unsuspend": {**dict.fromkeys(STATUSES, (400, "E0000001")), "SUSPENDED": "ACTIVE"},
    "unlock": {**dict.fromkeys(STATUSES, (403, "E0000032")), "LOCKED_OUT": "ACTIVE"},
}
CASES = [(op, status, expected) for op, table in EXPECTED.items() for status, expected in table.items()]


@pytest.mark.parametrize(("op", "status", "expected"), CASES)
@pytest.mark.parametrize("has_password", [True, False])
def test_transition_table(op: str, status: str, expected: str | tuple[int, str], has_password: bool) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(OktaError) as raised:
            plan(op, status, has_password)
        assert (raised.value.status, raised.value.code) == expected
    else:
        wanted = ("ACTIVE" if has_password else "PROVISIONED") if expected == "ACTIVE*" else expected
        assert plan(op, status, has_password).to == wanted


def test_every_status_and_operation_is_covered() -> None:
    for table in EXPECTED.values():
        assert set(table) == set(STATUSES)


def test_delete_is_deactivate_then_delete() -> None:
    for status in STATUSES:
        assert plan("delete", status, True).to == (
            "DELETED" if status == "DEPROVISIONED" else "DEPROVISIONED"
        )


def _create(client: httpx.Client, login: str, *, password: bool, activate: bool = False) -> str:
    r = client.post(
        f"/api/v1/users?activate={str(activate).lower()}", json=new_user(login, password=password)
    )
    return str(r.json()["id"])


def _status(client: httpx.Client, user_id: str) -> str:
    return str(client.get(f"/api/v1/users/{user_id}").json()["status"])


def test_activate_without_send_email_returns_the_link(client: httpx.Client, admin: EmulatorAdmin) -> None:
    uid = _create(client, "a@example.com", password=True)
    r = client.post(f"/api/v1/users/{uid}/lifecycle/activate?sendEmail=false")
    assert r.status_code == 200
    token = r.json()["activationToken"]
    assert r.json()["activationUrl"].endswith(f"/tokens/{token}/verify")  # Identity Engine format (CASS 2025)
    assert _status(client, uid) == "ACTIVE"
    assert admin.outbox() == []


def test_activate_with_send_email_fills_the_outbox(client: httpx.Client, admin: EmulatorAdmin) -> None:
    uid = _create(client, "b@example.com", password=False)
    r = client.post(f"/api/v1/users/{uid}/lifecycle/activate")  # sendEmail defaults to true
    assert (r.status_code, r.json()) == (200, {})
    assert _status(client, uid) == "PROVISIONED"
    [mail] = admin.outbox()
    assert mail["to"] == "b@example.com"
    assert mail["userId"] == uid
    assert mail["kind"] == "activation"
    assert mail["activationUrl"].endswith(f"/tokens/{mail['activationToken']}/verify")
    assert mail["sentAt"]
    assert admin.users()[0]["activation_emails"] == 1
    again = client.post(f"/api/v1/users/{uid}/lifecycle/activate")
    assert (again.status_code, again.json()["errorCode"]) == (403, "E0000038")
    re = client.post(f"/api/v1/users/{uid}/lifecycle/reactivate?sendEmail=true")
    assert (re.status_code, re.json()) == (200, {})
    assert len(admin.outbox(user_id=uid)) == 2
    admin.complete_activation(uid)
    assert _status(client, uid) == "ACTIVE"


def test_suspend_unsuspend_deactivate_reactivate_over_http(client: httpx.Client) -> None:
    uid = _create(client, "c@example.com", password=True, activate=True)
    wrong = client.post(f"/api/v1/users/{uid}/lifecycle/unsuspend")
    assert (wrong.status_code, wrong.json()["errorCode"]) == (400, "E0000001")
    assert client.post(f"/api/v1/users/{uid}/lifecycle/suspend").json() == {}
    assert _status(client, uid) == "SUSPENDED"
    assert client.post(f"/api/v1/users/{uid}/lifecycle/unsuspend").json() == {}
    assert client.post(f"/api/v1/users/{uid}/lifecycle/deactivate").json() == {}
    assert _status(client, uid) == "DEPROVISIONED"
    again = client.post(f"/api/v1/users/{uid}/lifecycle/deactivate")
    assert (again.status_code, again.json()["errorCode"]) == (403, "E0000038")
    staged = _create(client, "d@example.com", password=True)
    r = client.post(f"/api/v1/users/{staged}/lifecycle/reactivate?sendEmail=false")
    assert r.status_code == 403  # observed on a STAGED user (CASS test_reactivate_user)
    assert r.json() == {**r.json(), "errorCode": "E0000038", "errorCauses": []}
    assert client.post(f"/api/v1/users/{uid}/lifecycle/activate?sendEmail=false").status_code == 200
    assert _status(client, uid) == "ACTIVE"


def test_lifecycle_on_unknown_user_is_404(client: httpx.Client) -> None:
    r = client.post("/api/v1/users/00uMissing00000000000/lifecycle/suspend")
    assert (r.status_code, r.json()["errorCode"]) == (404, "E0000007")


def test_password_operations(client: httpx.Client) -> None:
    uid = _create(client, "e@example.com", password=True, activate=True)
    r = client.post(f"/api/v1/users/{uid}/lifecycle/expire_password_with_temp_password")
    assert r.status_code == 200
    assert r.json()["tempPassword"]
    assert _status(client, uid) == "PASSWORD_EXPIRED"
    r = client.post(f"/api/v1/users/{uid}/lifecycle/reset_password?sendEmail=false")
    assert "/reset_password/" in r.json()["resetPasswordUrl"]
    assert _status(client, uid) == "RECOVERY"
    r = client.post(f"/api/v1/users/{uid}/lifecycle/unlock")
    assert (r.status_code, r.json()["errorCode"]) == (403, "E0000032")
