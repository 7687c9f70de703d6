"""Login access once an installation uses Okta: routing (where a user logs in) and the seed's
table of login flows. Pure: `routing` and `flows` do no I/O; `service` reads the settings."""

from __future__ import annotations

from idsync.access.flows import Conditions, Flow, Outcome, all_flows, flow
from idsync.access.routing import InvalidEmail, LoginRoute, route

__all__ = ["Conditions", "Flow", "InvalidEmail", "LoginRoute", "Outcome", "all_flows", "flow", "route"]
