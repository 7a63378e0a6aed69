"""The public commands of docs/configuration.md ("Commands"), run as a user would run them (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def command_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHYARD_", "DJANGO_ALLOW"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'console.sqlite3'}", "SWITCHYARD_SAMPLE_INTERVAL": "0.5"})
    env.update(extra)
    return env


def test_migrate_issuetoken_serve_and_health(tmp_path):
    env = command_env(tmp_path, SWITCHYARD_BROKER_URL="redis://:broker-secret-pw@127.0.0.1:6379/0")
    assert run_manage("migrate", "--noinput", env=env).returncode == 0
    issued = run_manage("issuetoken", "ops-bot", "--role", "operator", env=env)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("swy_")
    # The same user again gets exactly the new role and a new, different token.
    again = run_manage("issuetoken", "ops-bot", "--role", "viewer", env=env)
    assert again.stdout.strip().splitlines()[-1] != token

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        brokers = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/api/v1/brokers", headers={"Authorization": f"Token {token}"}, timeout=2
                )
                brokers = response.json()
                if brokers and brokers[0]["status"] != "unknown":
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        assert brokers and brokers[0]["status"] == "up", brokers
        assert brokers[0]["url"] == "redis://:****@127.0.0.1:6379/0"
        health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"Authorization": f"Bearer {token}"})
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert server.returncode == 0, output
    assert "broker-secret-pw" not in output


def test_ensureadmin_prints_a_password_once(tmp_path):
    env = command_env(tmp_path)
    run_manage("migrate", "--noinput", env=env)
    first = run_manage("ensureadmin", env=env)
    assert "password:" in first.stdout
    assert run_manage("ensureadmin", env=env).stdout == ""
    env2 = command_env(tmp_path / "other", SWITCHYARD_ADMIN_PASSWORD="chosen-pass-123")
    (tmp_path / "other").mkdir()
    run_manage("migrate", "--noinput", env=env2)
    chosen = run_manage("ensureadmin", env=env2)
    assert "chosen-pass-123" not in chosen.stdout and "SWITCHYARD_ADMIN_PASSWORD" in chosen.stdout


def test_serve_refuses_a_malformed_config_naming_the_file(tmp_path):
    bad = tmp_path / "switchyard.toml"
    bad.write_text("[brokers.main\nurl = 'redis://x'")
    result = run_manage("serve", "--port", str(free_port()), env=command_env(tmp_path, SWITCHYARD_CONFIG=str(bad)))
    assert result.returncode != 0
    assert str(bad) in result.stderr and "malformed TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_an_unknown_url_scheme_naming_the_variable(tmp_path):
    env = command_env(tmp_path, SWITCHYARD_BROKER_URL="nats://127.0.0.1:4222")
    result = run_manage("serve", "--port", str(free_port()), env=env)
    assert result.returncode != 0
    assert "SWITCHYARD_BROKER_URL" in result.stderr and "nats" in result.stderr
