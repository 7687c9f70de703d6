"""The contracts several parts share (DESIGN.md): change message, result, import progress, link.

A change message arrives as a Kafka value, an HTTP body or one line of a JSONL import. Validation
errors must name the field and the reason, so every constraint here carries its own message.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from idsync.domain.text import EMAIL_PATTERN, SAFE_TEXT_PATTERN, unsafe_character

# Okta's profile limits (okta/FACTS.md §1): login and email 5-100 characters, names 1-50.
LOGIN_MAX = 100
NAME_MAX = 50
ATTRIBUTE_MAX = 1024
KEY_MAX = 200
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")
VERSION_MAX = 2**63 - 1  # the store keeps versions in a signed 64-bit column


class Op(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"


class Status(enum.StrEnum):
    """Outcome of one change. `deleted` extends DESIGN.md's list for the `delete` delete policy;
    `cancelled`: the change's import was cancelled before the change was sent."""

    CREATED = "created"
    UPDATED = "updated"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Lane(enum.IntEnum):
    """Queue lanes; a lower value is served first."""

    INTERACTIVE = 0
    BULK = 1


# Constraints run in pydantic-core (Rust) on the hot path of a million-row import; the messages
# people read are rebuilt from the error type in `describe_validation_error`.
SafeStr = Annotated[str, Field(pattern=SAFE_TEXT_PATTERN)]
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=_IDENT.pattern)]
Email = Annotated[str, Field(min_length=5, max_length=LOGIN_MAX, pattern=EMAIL_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=SAFE_TEXT_PATTERN)]
AttributeValue = str | bool | int | float | None


class UserFields(BaseModel):
    """The application's view of a user. Extra attributes are allowed and mapped by name."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    login: Email
    email: Email
    firstName: Name
    lastName: Name

    @model_validator(mode="after")
    def _check_extras(self) -> UserFields:
        for name, value in (self.model_extra or {}).items():
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", name):
                raise ValueError(f"attribute name {name!r} must be letters, digits and _ (max 64)")
            if isinstance(value, str):
                if len(value) > ATTRIBUTE_MAX:
                    raise ValueError(f"attribute {name!r} is longer than {ATTRIBUTE_MAX} characters")
                problem = unsafe_character(value, line_breaks=True)
                if problem:
                    raise ValueError(f"attribute {name!r} contains {problem}")
            elif value is not None and not isinstance(value, bool | int | float):
                raise ValueError(f"attribute {name!r} must be a string, number, boolean or null")
        return self

    def attributes(self) -> dict[str, Any]:
        """All fields, the four named ones first, as plain values."""
        return self.model_dump()


class ChangeMessage(BaseModel):
    """One change of one user, keyed by tenant + source + key (never by e-mail)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: Identifier
    op: Op
    source: Identifier
    key: Annotated[str, Field(min_length=1, max_length=KEY_MAX, pattern=SAFE_TEXT_PATTERN)]
    user: UserFields | None = None
    version: Annotated[StrictInt, Field(ge=0, le=VERSION_MAX)] | None = None
    import_id: Identifier | None = None
    message_id: Annotated[str, Field(max_length=KEY_MAX, pattern=SAFE_TEXT_PATTERN)] | None = None

    @field_validator("op", mode="before")
    @classmethod
    def _op_name(cls, value: object) -> object:
        if isinstance(value, str) and value not in Op._value2member_map_:
            raise ValueError(
                f"unknown op {value[:40]!r}; expected one of upsert, delete, activate, deactivate"
            )
        return value

    @model_validator(mode="after")
    def _user_for_upsert(self) -> ChangeMessage:
        if self.op is Op.UPSERT and self.user is None:
            raise ValueError("user is required when op is upsert")
        return self

    @property
    def lane(self) -> Lane:
        return Lane.BULK if self.import_id else Lane.INTERACTIVE

    @property
    def user_key(self) -> str:
        return user_key(self.tenant, self.source, self.key)


def user_key(tenant: str, source: str, key: str) -> str:
    """One string that names a user across the store (tenant + source + key)."""
    return f"{tenant}\x1f{source}\x1f{key}"


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Result(BaseModel):
    """What became of one change; sent back on the channel the change came in on."""

    model_config = ConfigDict(frozen=True)

    status: Status
    idp_id: str | None = None
    reason: Reason | None = None
    tenant: str | None = None
    source: str | None = None
    key: str | None = None
    version: int | None = None
    import_id: str | None = None
    message_id: str | None = None
    # Only when the tenant sends no activation e-mail: the link the application gives the user to
    # set a password (a one-time credential; idsync never logs it).
    activation_url: str | None = None


class ImportState(enum.StrEnum):
    """An import's life: `paused` keeps its changes stored but unclaimed (across restarts) until
    it is resumed; `cancelled` ended its unsent changes as `cancelled` (docs/migration.md)."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ImportControl(enum.StrEnum):
    """What a support engineer may do to an import that runs."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"

    @property
    def allowed_from(self) -> tuple[ImportState, ...]:
        return _CONTROL_FROM[self]

    @property
    def leads_to(self) -> ImportState:
        return _CONTROL_TO[self]

    def refusal(self, state: ImportState) -> str | None:
        """Why this control does not apply to an import in `state` (None: it does)."""
        if state in self.allowed_from:
            return None
        if state is self.leads_to:
            return f"the import is already {state.value}"
        which = " or ".join(s.value for s in self.allowed_from)
        return f"the import is {state.value}; only a {which} import can be {self.done}"

    @property
    def done(self) -> str:
        return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[self.value]


_CONTROL_FROM = {
    ImportControl.PAUSE: (ImportState.RUNNING,),
    ImportControl.RESUME: (ImportState.PAUSED,),
    ImportControl.CANCEL: (ImportState.RUNNING, ImportState.PAUSED),
}
_CONTROL_TO = {
    ImportControl.PAUSE: ImportState.PAUSED,
    ImportControl.RESUME: ImportState.RUNNING,
    ImportControl.CANCEL: ImportState.CANCELLED,
}


class ImportProgress(BaseModel):
    """Counts of one import; `done` and `pending` are derived for convenience."""

    import_id: str
    tenant: str
    state: ImportState
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    activated: int = 0
    deactivated: int = 0
    deleted: int = 0
    cancelled: int = 0
    rate: float = 0.0  # users finished per second: recent while running, the average once finished
    eta_s: float | None = None
    total: int | None = None  # expected users, when the input size is known
    api_calls: int = 0  # IdP calls made for the import

    @property
    def done(self) -> int:
        return (
            self.created
            + self.updated
            + self.unchanged
            + self.skipped
            + self.failed
            + self.activated
            + self.deactivated
            + self.deleted
            + self.cancelled
        )

    @property
    def pending(self) -> int:
        return max(self.received - self.done, 0)


class FieldError(BaseModel):
    field: str
    reason: str


def describe_validation_error(exc: ValidationError) -> list[FieldError]:
    """Turn pydantic's errors into (field, reason) pairs a person can act on."""
    return describe_errors(exc.errors(include_url=False, include_input=True))


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """The same for error dicts in pydantic's shape (e.g. FastAPI's, without its `body` prefix)."""
    out: list[FieldError] = []
    for err in errors:
        field = ".".join(str(p) for p in err["loc"]) or "message"
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a field of the change message"
        elif err["type"] == "string_too_long":
            msg = f"is longer than {err.get('ctx', {}).get('max_length')} characters"
        elif err["type"] == "string_too_short":
            least = err.get("ctx", {}).get("min_length")
            msg = (
                "is empty" if least == 1 or err.get("input") == "" else f"is shorter than {least} characters"
            )
        elif err["type"] == "string_pattern_mismatch":
            msg = _pattern_reason(str(err.get("ctx", {}).get("pattern", "")), err.get("input"))
        elif err["type"] in ("json_invalid", "json_type"):
            field = "message"
            msg = f"is not valid JSON ({err.get('ctx', {}).get('error', msg)})"
        out.append(FieldError(field=field, reason=msg))
    return out


def _pattern_reason(pattern: str, value: object) -> str:
    problem = unsafe_character(value) if isinstance(value, str) else None
    if pattern == EMAIL_PATTERN:
        return f"contains {problem}" if problem else "is not a valid e-mail address"
    if pattern == SAFE_TEXT_PATTERN:
        return f"contains {problem or 'a control or bidirectional character'}"
    if pattern == _IDENT.pattern:
        return "must be 1-100 characters of letters, digits and . _ : @ -, starting with a letter or digit"
    return "has an invalid format"


def validation_reason(exc: ValidationError) -> Reason:
    """A single Reason (code `invalid`) naming every bad field."""
    errors = describe_validation_error(exc)
    return Reason(code="invalid", message="; ".join(f"{e.field}: {e.reason}" for e in errors))


def stored_change(payload: str) -> ChangeMessage:
    """A change read back from the queue. It was validated once, when it was received (ingest),
    and stored as `model_dump_json` wrote it; so it is rebuilt here without validating again.
    A payload that is not such a dump (a damaged row) is validated, to say what is wrong."""
    try:
        data = json.loads(payload)
        user = data.get("user")
        return ChangeMessage.model_construct(
            tenant=data["tenant"],
            op=Op(data["op"]),
            source=data["source"],
            key=data["key"],
            user=UserFields.model_construct(**user) if user else None,
            version=data.get("version"),
            import_id=data.get("import_id"),
            message_id=data.get("message_id"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return ChangeMessage.model_validate_json(payload)
