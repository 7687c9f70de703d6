"""`idsync demo` (what `make demo` runs), small, on both IdPs: it finishes, every phase does what
it says, and nothing is left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("idp", ["okta", "scim"])
def test_demo_migrates_reruns_for_free_and_activates(tmp_path: Path, idp: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "idsync.cli", "demo", "--users", "300", "--idp", idp, "--workdir",
         str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"│ (phase 1: \w+|re-run: \w+|phase 2: \w+)\s*│[^│]*│([^│]*)│", out)
    }
    assert "created" in rows["phase 1: panelists"] and "skipped" in rows["phase 1: panelists"]
    assert "failed" in rows["phase 1: admins"]  # the invalid sample lines, each named below
    assert "unchanged" in rows["re-run: panelists"] and "created" not in rows["re-run: panelists"]
    assert re.search(r"re-run: panelists\s*│[^│]*│[^│]*│\s*0\s*│", out)  # no API call on a re-run
    assert "activated" in rows["phase 2: activation"]
    assert "user.email: is not a valid e-mail address" in out
    assert "nothing left running" in out
