"""Bulk creates and updates through an IdP's import sessions (Okta identity sources).

`pipeline.py` takes users from the worker and drives the sessions; `fill.py` opens, fills and
starts them; `read.py` reads their users back and gives each its result; `model.py` holds what
they share. docs/migration.md ("Identity sources") says when to use it.
"""

from idsync.engine.sessions.model import Hooks, SessionOptions
from idsync.engine.sessions.pipeline import SessionPipeline

__all__ = ["Hooks", "SessionOptions", "SessionPipeline"]
