"""Kafka control messages that steer an import: `{"control": "import_cancel" | "import_pause" |
"import_resume", "tenant": ..., "import_id": ...}` on the changes topic, applied in order with
the changes around them (docs/deployment.md, "Kafka"). Pure: a payload in, a value out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from idsync.domain.models import Identifier, ImportControl, Reason, describe_validation_error

__all__ = ["IMPORT_CONTROLS", "ImportControlRequest", "import_control"]

IMPORT_CONTROLS = {f"import_{c.value}": c for c in ImportControl}


class _ImportControlMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control: Literal["import_cancel", "import_pause", "import_resume"]
    tenant: Identifier
    import_id: Identifier


@dataclass(frozen=True)
class ImportControlRequest:
    """Cancel, pause or resume the tenant's import."""

    tenant: str
    import_id: str
    control: ImportControl


def import_control(payload: dict[str, Any]) -> ImportControlRequest | Reason:
    """The request, or why the message is not a valid one (it is dead-lettered)."""
    try:
        msg = _ImportControlMessage.model_validate(payload)
    except ValidationError as exc:
        text = "; ".join(f"{e.field}: {e.reason}" for e in describe_validation_error(exc))
        return Reason(code="invalid", message=text)
    return ImportControlRequest(msg.tenant, msg.import_id, IMPORT_CONTROLS[msg.control])
