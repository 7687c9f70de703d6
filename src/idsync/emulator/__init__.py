"""Built-in emulators of identity providers (a real HTTP server per IdP; see docs/emulator.md)."""

from __future__ import annotations
