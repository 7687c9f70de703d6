"""idsync keeps application users and identity-provider accounts in step."""

__version__ = "0.1.0"
