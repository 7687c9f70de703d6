"""The ports the engine talks to. Adapters implement them; the engine knows nothing else.

- `ports.idp`: `IdentityProvider` (an IdP's users), `OidcAppRegistry` (its OIDC apps), `Pacing`
  (what the worker asks of an IdP's governor);
- `ports.store`: `LinkStore`, `ChangeQueue`, `ImportStore` (`Stores`): the engine's state;
- `ports.sessions`: identity-source import sessions and their state;
- `ports.inbound`: `Target`, an inbound sync's application side.
"""

from idsync.ports.idp import Activation, IdentityProvider, IdpUser, OidcApp, OidcAppRegistry, Pacing
from idsync.ports.inbound import Target
from idsync.ports.sessions import ImportSessions, ReadBack, SessionStore, SourceSession
from idsync.ports.store import ChangeQueue, ImportStore, Key, LinkStore, Stores

__all__ = [
    "Activation",
    "ChangeQueue",
    "IdentityProvider",
    "IdpUser",
    "ImportSessions",
    "ImportStore",
    "Key",
    "LinkStore",
    "OidcApp",
    "OidcAppRegistry",
    "Pacing",
    "ReadBack",
    "SessionStore",
    "SourceSession",
    "Stores",
    "Target",
]
