"""`idsync emulator okta`: flags reach the settings, the URL and token are printed, SIGTERM stops."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from idsync.emulator.okta import EmulatorAdmin


def test_cli_flags_banner_and_clean_stop(tmp_path: Path) -> None:
    config = tmp_path / "limits.toml"
    config.write_text("[limits]\nusers = 40\napps = 7\n")
    idsync = Path(sys.executable).with_name("idsync")
    cmd = [
        str(idsync), "emulator", "okta", "--port", "0", "--token", "cli-token", "--extra-token", "other",
        "--time-scale", "0.01", "--token-share", "0.25", "--limits-file", str(config), "--limit", "users=20",
        "--concurrency-limit", "9", "--background-load", "0.1", "--seed", "4", "--error-rate", "0.0",
        "--storm-every-s", "0", "--latency-ms", "0", "--activation-url-style", "classic",
        "--no-identity-sources", "--identity-source-users-per-minute", "500", "--identity-source-activate",
        "--rate-limit-layout", "2020", "--count-rejected-429", "--search-lag-s", "0.5",
        "--lifecycle-delay-s", "0.25", "--exchange-log", str(tmp_path / "exchanges"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(2)]
        url = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
        assert url, banner
        assert banner[1].startswith("API token: cli-token")
        settings = httpx.get(f"{url.group(0)}/__emulator/settings").json()
        assert settings["limits"] == {"users": 20, "apps": 7}
        assert settings["token_share"] == 0.25
        assert settings["extra_tokens"] == ["other"]
        assert settings["concurrency_limit"] == 9
        assert settings["activation_url_style"] == "classic"
        assert settings["identity_sources"] is False and settings["identity_source_activate"] is True
        assert settings["identity_source_users_per_minute"] == 500
        assert settings["rate_limit_layout"] == "2020" and settings["count_rejected_429"] is True
        assert (settings["search_lag_s"], settings["lifecycle_delay_s"]) == (0.5, 0.25)
        assert settings["exchange_log"] == str(tmp_path / "exchanges")
        stats = EmulatorAdmin(url.group(0)).stats(windows=False)
        assert stats["rate_limit"]["token_limits"]["users"] == 5
        r = httpx.get(f"{url.group(0)}/api/v1/users", headers={"Authorization": "SSWS cli-token"})
        assert r.status_code == 200
        assert len(list((tmp_path / "exchanges").glob("*.jsonl"))) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_cli_rejects_bad_settings() -> None:
    idsync = Path(sys.executable).with_name("idsync")
    result = subprocess.run(
        [str(idsync), "emulator", "okta", "--token-share", "1.5"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "token_share" in result.stdout + result.stderr
