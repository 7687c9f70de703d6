"""`idsync doctor` as a user runs it: a subprocess against the emulator (API token and service app),
a broken set-up that it explains, and a configuration it cannot read."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idsync.emulator.okta import EmulatorSettings, EmulatorThread
from tests.common import run_idsync
from tests.oauth_support import ServiceKey, new_key, register_service_app
from tests.reliability.scan import SCAN

TOKEN = "doctor-api-token"
USERS = ["okta.users.read", "okta.users.manage"]
PORTALS = ["okta.apps.read", "okta.apps.manage", "okta.groups.read"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=TOKEN)) as emu:
        yield emu


@pytest.fixture
def key() -> ServiceKey:
    k = new_key("doctor-key")
    SCAN.add_secret(*[line for line in k.pem.splitlines() if len(line) > 40])
    return k


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, idp: str, extra: str = "") -> Path:
    path = tmp_path / "idsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "idsync.db"}"\n\n[idps.okta]\n{idp}\n\n'
        f'[tenants.acme]\nidp = "okta"\n{extra}'
    )
    return path


def oauth_idp(url: str, client_id: str, scopes: list[str]) -> str:
    listed = ", ".join(f'"{s}"' for s in scopes)
    oauth = f'{{ client_id = "{client_id}", private_key_env = "DOCTOR_KEY", scopes = [{listed}] }}'
    return f'type = "okta"\nurl = "{url}"\noauth = {oauth}'


def doctor(tmp_path: Path, config: Path, **env: str) -> tuple[int, str]:
    done = run_idsync(tmp_path, "doctor", "--config", str(config), env={"COLUMNS": "250", **env})
    out = done.stdout + done.stderr
    SCAN.add_text(f"idsync doctor --config {config}", out)  # the secret scan reads what it printed
    assert "Traceback" not in out, out
    return done.returncode, out


def test_an_api_token_set_up_passes(emulator: EmulatorThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, f'type = "okta"\nurl = "{emulator.url}"\ntoken_env = "DOCTOR_TOKEN"')
    code, out = doctor(tmp_path, config, DOCTOR_TOKEN=TOKEN)
    assert code == 0, out
    assert (
        "reachable:" in out
        and "auth: API token (SSWS) from environment variable DOCTOR_TOKEN: accepted" in out
    )
    assert "bucket users: limit 300/min for this token" in out  # the emulator's default 50% share of 600
    assert "50% of Okta's documented 600/min" in out and "idsync spends up to 240/min" in out
    assert "sqlite: schema up to date" in out and "Kafka" in out and "nothing to fix" in out


def test_a_dpop_service_app_set_up_passes(emulator: EmulatorThread, tmp_path: Path, key: ServiceKey) -> None:
    client_id = register_service_app(emulator.url, TOKEN, [key], USERS + PORTALS, dpop=True)
    config = write_config(tmp_path, oauth_idp(emulator.url, client_id, USERS + PORTALS))
    code, out = doctor(tmp_path, config, DOCTOR_KEY=key.pem)
    assert code == 0, out
    assert f"auth: OAuth 2.0 service app {client_id} (private_key_jwt); DPoP-bound token for 1 h" in out
    assert "scopes granted: okta.apps.manage, okta.apps.read, okta.groups.read, okta.users.manage" in out
    assert "bucket users: limit 300/min for this app" in out and "bucket apps:" in out


def test_a_broken_set_up_is_explained(emulator: EmulatorThread, tmp_path: Path, key: ServiceKey) -> None:
    client_id = register_service_app(emulator.url, TOKEN, [key], ["okta.users.read"])
    kafka = f'\n[kafka]\nbootstrap_servers = "127.0.0.1:{closed_port()}"\n'
    config = write_config(tmp_path, oauth_idp(emulator.url, client_id, USERS) + "\n", kafka)
    code, out = doctor(tmp_path, config, DOCTOR_KEY=key.pem)
    assert code == 1, out
    assert "✗ scopes not granted: okta.users.manage" in out
    assert f"fix: grant them to service app {client_id}" in out
    assert "portals (idsync portals) would need okta.apps.manage, okta.apps.read, okta.groups.read" in out
    assert "✗ cannot reach the brokers" in out and "fix: check kafka.bootstrap_servers" in out
    assert "problems: see the 'fix:' lines above" in out


def test_a_wrong_key_and_a_wrong_token_are_named(
    emulator: EmulatorThread, tmp_path: Path, key: ServiceKey
) -> None:
    client_id = register_service_app(emulator.url, TOKEN, [key], USERS)
    config = write_config(tmp_path, oauth_idp(emulator.url, client_id, USERS))
    code, out = doctor(tmp_path, config, DOCTOR_KEY=new_key().pem)
    assert code == 1, out
    assert "The client_assertion signature is invalid." in out
    assert "the private key in environment variable DOCTOR_KEY (idps.okta.oauth.private_key_env)" in out
    ssws = write_config(tmp_path, f'type = "okta"\nurl = "{emulator.url}"\ntoken_env = "DOCTOR_TOKEN"')
    code, out = doctor(tmp_path, ssws, DOCTOR_TOKEN="not-the-token")
    assert code == 1, out
    assert "auth: the API token in DOCTOR_TOKEN was refused: Okta 401 E0000011: Invalid token provided" in out


def test_an_unreachable_idp_and_a_key_that_is_none(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, oauth_idp(url, "0oa1", USERS))
    code, out = doctor(tmp_path, config, DOCTOR_KEY="not a key")
    assert code == 1, out
    assert f"cannot reach {url} (ConnectError)" in out
    assert "environment variable DOCTOR_KEY (idps.okta.oauth.private_key_env) does not hold" in out


def test_a_configuration_it_cannot_read(emulator: EmulatorThread, tmp_path: Path) -> None:
    config = write_config(tmp_path, oauth_idp(emulator.url, "0oa1", USERS))
    code, out = doctor(tmp_path, config)  # DOCTOR_KEY is not set
    assert code == 2, out
    assert "idps.okta.oauth.private_key_env: environment variable DOCTOR_KEY is not set" in out
    both = write_config(tmp_path, oauth_idp(emulator.url, "0oa1", USERS) + '\ntoken_env = "X"')
    code, out = doctor(tmp_path, both, DOCTOR_KEY="x")
    assert code == 2 and "token_env and oauth exclude each other" in out, out


@pytest.mark.kafka
def test_kafka_topics_are_checked(
    emulator: EmulatorThread, tmp_path: Path, kafka_bootstrap: str, kafka_topics: Callable[..., list[str]]
) -> None:
    (changes,) = kafka_topics("doctor-changes")
    kafka = (
        f'\n[kafka]\nbootstrap_servers = "{kafka_bootstrap}"\n'
        f'topics = {{ changes = "{changes}", results = "doctor-results-missing" }}\n'
    )
    config = write_config(
        tmp_path, f'type = "okta"\nurl = "{emulator.url}"\ntoken_env = "DOCTOR_TOKEN"', kafka
    )
    code, out = doctor(tmp_path, config, DOCTOR_TOKEN=TOKEN)
    assert code == 0, out  # topics idsync writes may be created on first write: a warning only
    assert (
        "brokers reachable" in out
        and "! topic doctor-results-missing (written by idsync) does not exist" in out
    )
    assert f"topic {changes}" not in out
