"""The one place a portal's client secret is written: a file only its owner can read.

Okta returns an OIDC client's secret once, in the answer to the create (FACTS §5), so it is
either kept now or generated again by an admin later. idsync never prints or logs it and never
stores it in its database. When asked (`--secrets-file`), it appends one JSON line per created
app to a file that is created with mode 0600 (O_CREAT|O_EXCL, so never through someone else's
file) or, if it exists, must already be a regular file of ours that nobody else can read.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from pydantic import SecretStr

from idsync.errors import ConfigError

__all__ = ["SecretsFile"]

_FLAGS = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class SecretsFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0

    def check(self) -> None:
        """Fail before any app is created if the file could not be written safely."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            parent = self.path.parent if str(self.path.parent) else Path(".")
            if not parent.is_dir():
                raise ConfigError(f"--secrets-file: directory {parent} does not exist") from None
            return
        self._check_existing(info)

    def _check_existing(self, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"--secrets-file: {self.path} exists and is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"--secrets-file: {self.path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
                "use a new file or chmod 600 it"
            )
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise ConfigError(f"--secrets-file: {self.path} belongs to another user")

    def _open(self) -> int:
        try:
            return os.open(self.path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            fd = os.open(self.path, _FLAGS)
            try:
                self._check_existing(os.fstat(fd))
            except BaseException:
                os.close(fd)
                raise
            return fd

    def write(
        self, *, tenant: str, portal: str, app_id: str, client_id: str, client_secret: SecretStr
    ) -> None:
        self.append(
            {
                "tenant": tenant,
                "portal": portal,
                "app_id": app_id,
                "client_id": client_id,
                "client_secret": client_secret.get_secret_value(),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )

    def append(self, record: dict[str, object]) -> None:
        """One JSON line, written and synced to the owner-only file."""
        fd = self._open()
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.written += 1
