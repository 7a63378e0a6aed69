"""deploy/: the docker-compose file and the systemd unit parse, run `switchyard` commands that
exist, and set only variables Switchyard reads (no image can be built here: no registry)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from switchyard.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
# Commands the deploy files may run besides the ones `switchyard --help` lists.
OTHER_COMMANDS = {"ensureadmin"}
# Variables read by code outside Switchyard's settings: Python, XDG, the PostgreSQL image.
FOREIGN_VARIABLES = {"XDG_DATA_HOME", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def read_by_switchyard(variable: str) -> bool:
    sources = [REPO / "console" / "settings.py", REPO / "messaging" / "config.py", REPO / "console" / "env.py"]
    sources += (REPO / "console" / "management").rglob("*.py")
    return any(f'"{variable}"' in path.read_text() for path in sources)


def switchyard_commands(text: str) -> list[str]:
    """The subcommands ``text`` runs: ``bin/switchyard X``, ``["switchyard", "X"`` (exec form),
    ``"switchyard X`` and ``&& switchyard X`` (shell form)."""
    return re.findall(r'(?:bin/switchyard |\["switchyard", "|"switchyard |&& switchyard )(\w+)', text)


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_runs_switchyard_from_its_package_with_postgres_and_redis() -> None:
    services = compose()["services"]
    assert {"switchyard", "migrate", "postgres", "redis"} <= set(services)
    assert services["switchyard"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["switchyard"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert services["switchyard"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip wheel --no-deps" in dockerfile and "switchyard_console-*.whl" in dockerfile


def test_deploy_files_run_only_commands_that_exist() -> None:
    texts = [(DEPLOY / name).read_text() for name in ("docker-compose.yml", "Dockerfile", "switchyard.service")]
    used = {command for text in texts for command in switchyard_commands(text)}
    assert used and used <= set(COMMANDS) | OTHER_COMMANDS, used - set(COMMANDS) - OTHER_COMMANDS


def test_deploy_files_set_only_variables_switchyard_reads() -> None:
    variables = set(compose()["x-switchyard"]["environment"])
    env_file = (DEPLOY / "switchyard.env").read_text()
    variables |= set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", env_file, re.MULTILINE))
    variables |= set(re.findall(r"^Environment=([A-Z_]+)=", (DEPLOY / "switchyard.service").read_text(), re.MULTILINE))
    unknown = {v for v in variables - FOREIGN_VARIABLES if not read_by_switchyard(v)}
    assert not unknown, f"variables Switchyard never reads: {unknown}"


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path) -> None:
    # verify insists the ExecStart binaries exist: stand one in for /opt/switchyard/bin/switchyard.
    stand_in = tmp_path / "bin" / "switchyard"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "switchyard.service"
    unit.write_text(
        (DEPLOY / "switchyard.service").read_text().replace("/opt/switchyard/bin/switchyard", str(stand_in))
    )
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not verified.stderr.strip(), verified.stderr
