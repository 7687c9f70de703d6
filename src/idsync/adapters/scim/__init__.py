"""The SCIM 2.0 connector (RFC 7643/7644): the `IdentityProvider` port over any SCIM server,
built on scim2-client's protocol core and scim2-models, sending through the governor."""

from idsync.adapters.scim.connector import Capabilities, ScimConnector

__all__ = ["Capabilities", "ScimConnector"]
