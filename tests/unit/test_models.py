"""The change message names the field and the reason for every kind of bad input."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from idsync.domain.models import ChangeMessage, ImportProgress, ImportState, Lane, Op, validation_reason

GOOD = {
    "tenant": "efs-prod",
    "op": "upsert",
    "source": "efs-admin",
    "key": "4711",
    "user": {"login": "ann@example.com", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"},
    "version": 17,
    "import_id": "imp-42",
}


def reason_for(data: object) -> str:
    raw = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ValidationError) as info:
        ChangeMessage.model_validate_json(raw)
    return validation_reason(info.value).message


def with_user(**changes: object) -> dict[str, object]:
    user = dict(GOOD["user"])  # type: ignore[arg-type]
    for k, v in changes.items():
        if v is None:
            user.pop(k, None)
        else:
            user[k] = v
    return {**GOOD, "user": user}


def test_the_design_example_is_valid() -> None:
    change = ChangeMessage.model_validate(GOOD)
    assert change.op is Op.UPSERT
    assert change.lane is Lane.BULK
    assert change.user is not None and change.user.lastName == "Lee"
    assert ChangeMessage.model_validate({**GOOD, "import_id": None}).lane is Lane.INTERACTIVE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_user(email="not-an-email"), "user.email: is not a valid e-mail address"),
        (with_user(lastName=None), "user.lastName: is required"),
        (with_user(lastName=""), "user.lastName: is empty"),
        (with_user(firstName="x" * 51), "user.firstName: is longer than 50 characters"),
        (with_user(login="a" * 95 + "@example.com"), "user.login: is longer than 100 characters"),
        (with_user(firstName="Ann\x00"), "user.firstName: contains a control character U+0000"),
        (with_user(lastName="Lee\u202e"), "user.lastName: contains a bidirectional control character U+202E"),
        (with_user(firstName="A\u200bnn"), "user.firstName: contains an invisible character U+200B"),
        ({**GOOD, "op": "zap"}, "op: unknown op 'zap'"),
        ({**GOOD, "version": "17"}, "version: Input should be a valid integer"),
        ({**GOOD, "version": -1}, "version: Input should be greater than or equal to 0"),
        ({**GOOD, "tenant": ""}, "tenant: is empty"),
        ({**GOOD, "tenant": "a b"}, "tenant: must be 1-100 characters"),
        ({**GOOD, "key": ""}, "key: is empty"),
        ({**GOOD, "surprise": 1}, "surprise: is not a field of the change message"),
        ({k: v for k, v in GOOD.items() if k != "user"}, "user is required when op is upsert"),
        ({**GOOD, "user": "ann"}, "user: Input should be an object"),
        ("{not json", "message: is not valid JSON"),
        (with_user(title={"nested": 1}), "attribute 'title' must be a string"),
        (with_user(**{"bad name": "x"}), "attribute name 'bad name'"),
    ],
)
def test_bad_input_names_field_and_reason(data: object, expected: str) -> None:
    assert expected in reason_for(data)


def test_several_problems_are_all_named() -> None:
    message = reason_for(with_user(email="nope", lastName=None))
    assert "user.email" in message
    assert "user.lastName" in message


def test_delete_needs_no_user_and_extra_attributes_pass() -> None:
    change = ChangeMessage.model_validate({"tenant": "t", "op": "delete", "source": "s", "key": "1"})
    assert change.user is None
    upsert = ChangeMessage.model_validate(with_user(title="Dr", mobilePhone="+49 1"))
    assert upsert.user is not None and upsert.user.attributes()["title"] == "Dr"


def test_login_with_quote_is_valid_data() -> None:
    change = ChangeMessage.model_validate(with_user(login="o'brien@example.com"))
    assert change.user is not None and change.user.login == "o'brien@example.com"


def test_progress_derives_done_and_pending() -> None:
    p = ImportProgress(
        import_id="i", tenant="t", state=ImportState.RUNNING, received=10, created=3, unchanged=2, failed=1
    )
    assert (p.done, p.pending) == (6, 4)
