"""The runtime install as users get it: a venv built from requirements.txt alone (as ``make run``
does, through scripts/ensure-venv.sh), a clean copy of the repository, and ``make demo`` started
there without a terminal, watched over the REST API.

The dev venv cannot catch a missing runtime dependency: a test or lint tool pulls it in (kombu's
Redis transport imports ``packaging``, which only pytest brought). So the venv here holds nothing
but requirements.txt. It is cached outside the clone, keyed by requirements.txt and the Python
version (``~/.cache/switchyard/runtime-venv-<key>``), so a fresh clone on the same machine reuses
it; a build that did not finish has no stamp and is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.helpers.clean_copy import copy_clone_files

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_PASSWORD = "runtime-smoke-password-9"
DEMO_WATCH_S = 90  # at most, for workers, tasks and a dead letter to show up over the API
DEMO_MIN_RUN_S = 45  # then keep the demo running this long in all, so periodic work gets a turn
# The demo's tasks that fail on purpose (messaging/demo/app.py): their tracebacks belong in the
# worker logs. Any other traceback through console/ or messaging/ is a Switchyard bug.
DELIBERATE_FAILURES = re.compile(
    r"^(ValueError: the demo's failing task|RuntimeError: the flaky service said no|celery\.exceptions\.Retry)"
)
# Settings of the environment running pytest that must not reach a user's fresh install.
INHERITED_SETTINGS = re.compile(
    r"^(SWITCHYARD_.*|DJANGO_.*|CELERY_.*|DATABASE_URL|REDIS_URL|SECRET_KEY(_FILE)?|DEBUG|ALLOWED_HOSTS"
    r"|CSRF_TRUSTED_ORIGINS|LOG_LEVEL|VIRTUAL_ENV|PYTHONPATH|PYTHONHOME|PYTEST_.*"
    r"|MAKEFLAGS|MFLAGS|MAKELEVEL|MAKEOVERRIDES)$"  # `make test`'s own variables and jobserver
)

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(1200)]


def fresh_environ(**settings: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not INHERITED_SETTINGS.match(key)}
    environ.update(settings)
    return environ


def run(command: list[str], cwd: Path, timeout: float = 120, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=fresh_environ(**settings), capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_python() -> str:
    """The interpreter ensure-venv.sh would pick."""
    found = shutil.which("python3.11") or shutil.which("python3")
    assert found, "neither python3.11 nor python3 on PATH"
    return found


def runtime_venv_path(python: str) -> Path:
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    key = hashlib.sha256((REPO / "requirements.txt").read_bytes() + version.stdout.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchyard"
    return cache / f"runtime-venv-{key}"


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    """The files a clone would have (tracked, or new and not ignored): no .venv, database, secret
    key or caches of this working tree."""
    copy = copy_clone_files(REPO, tmp_path_factory.mktemp("clean-copy"))
    return copy


@pytest.fixture(scope="module")
def runtime_venv(clean_copy) -> Path:
    """The copy's .venv: a link to the cached runtime venv, installed by ``make venv`` itself."""
    python = base_python()
    venv = runtime_venv_path(python)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run on this machine may be building it
        cached = (venv / ".requirements.sha256").exists() and subprocess.run(
            [venv / "bin" / "python", "-c", ""]
        ).returncode == 0
        if not cached:
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
        (clean_copy / ".venv").symlink_to(venv)
        made = run(["make", "--no-print-directory", "venv"], clean_copy, timeout=1200)
        assert made.returncode == 0, f"make venv failed:\n{made.stdout}\n{made.stderr}"
    print(f"\nruntime venv {'reused' if cached else 'built'} in {time.monotonic() - started:.1f}s: {venv}")
    return venv


def test_runtime_requirements_are_consistent(runtime_venv, clean_copy) -> None:
    checked = run([".venv/bin/python", "-m", "pip", "check"], clean_copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr


IMPORT_EVERYTHING = """
import importlib, pathlib, sys, traceback
import django
django.setup()
failures = []
modules = [
    ".".join(path.with_suffix("").parts[:-1] if path.name == "__init__.py" else path.with_suffix("").parts)
    for package in ("console", "messaging") for path in sorted(pathlib.Path(package).rglob("*.py"))
]
# Loaded by name at run time, never by an import statement: Kombu's transports, the channel layer,
# the PostgreSQL driver.
modules += ["kombu.transport.redis", "kombu.transport.pyamqp", "channels_redis.core", "psycopg"]
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        failures.append(name + ":\\n" + traceback.format_exc())
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_runtime_venv_imports_every_switchyard_module(runtime_venv, clean_copy) -> None:
    imported = run([".venv/bin/python", "-c", IMPORT_EVERYTHING], clean_copy, DJANGO_SETTINGS_MODULE="console.settings")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    checked = run([".venv/bin/python", "manage.py", "check"], clean_copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def switchyard_tracebacks(text: str, root: Path) -> list[str]:
    """Tracebacks in ``text`` with a frame in ``root``'s console/ or messaging/, except the demo's
    deliberate task failures."""
    found, block = [], None
    for line in text.splitlines():
        if block is None:
            if "Traceback (most recent call last):" in line:
                block = [line]
            continue
        block.append(line)
        if line[:1] in (" ", "\t"):
            continue
        frames = re.findall(r'File "([^"]+)"', "\n".join(block))
        ours = any(
            Path(frame).is_relative_to(root) and Path(frame).relative_to(root).parts[0] in ("console", "messaging")
            for frame in frames
        )
        if ours and not DELIBERATE_FAILURES.match(line):
            found.append("\n".join(block))
        block = None
    if block is not None:
        found.append("\n".join(block))  # cut off before its exception line
    return found


def own_processes(root: Path) -> list[int]:
    """Processes working in the clean copy: only this test starts any there."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def demo_broker(tmp_path) -> Iterator[tuple[Path, str]]:
    """A SWITCHYARD_CONFIG naming one Redis broker under a key prefix of its own."""
    prefix = f"syruntime-{uuid.uuid4().hex[:8]}:"
    config = tmp_path / "switchyard.toml"
    config.write_text(
        f'[brokers.smoke]\nurl = "{REDIS_URL}"\ntransport_options = {{ global_keyprefix = "{prefix}" }}\n'
    )
    yield config, prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def test_make_demo_comes_alive_without_tracebacks(runtime_venv, clean_copy, demo_broker) -> None:
    config, _ = demo_broker
    settings = {"SWITCHYARD_CONFIG": str(config), "SWITCHYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    migrated = run(["make", "--no-print-directory", "migrate"], clean_copy, **settings)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    issued = run([".venv/bin/python", "manage.py", "issuetoken", "smoke", "--role", "admin"], clean_copy, **settings)
    assert issued.returncode == 0, issued.stdout + issued.stderr
    headers = {"Authorization": f"Token {issued.stdout.strip().splitlines()[-1]}"}
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"

    terminal_path = clean_copy / "make-demo.out"
    started = time.monotonic()
    with open(terminal_path, "w") as terminal:
        demo = subprocess.Popen(
            ["make", "--no-print-directory", "demo", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=clean_copy,
            env=fresh_environ(**settings),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    seen: dict[str, object] = {}
    try:
        alive = False
        while time.monotonic() - started < DEMO_WATCH_S and demo.poll() is None:
            time.sleep(2)
            try:
                workers = requests.get(f"{api}/workers", headers=headers, timeout=5).json()
                tasks = requests.get(f"{api}/tasks?limit=5", headers=headers, timeout=5).json()
                dlqs = requests.get(f"{api}/queues?dlq=true", headers=headers, timeout=5).json()
            except (requests.ConnectionError, requests.Timeout, ValueError):
                continue  # the console is still starting
            seen = {
                "workers online": sorted(w["hostname"] for w in workers if w["status"] == "online"),
                "tasks": tasks.get("count"),
                "dead letters": {q["name"]: q["depth"] for q in dlqs if q["broker"] == "smoke"},
            }
            alive = (
                len(seen["workers online"]) >= 2
                and (seen["tasks"] or 0) >= 5
                and any((depth or 0) > 0 for depth in seen["dead letters"].values())
            )
            if alive:
                seen["alive after s"] = round(time.monotonic() - started, 1)
                break
        said = terminal_path.read_text()[-5000:]
        assert demo.poll() is None, f"make demo exited with {demo.returncode}:\n{said}"
        assert alive, f"after {DEMO_WATCH_S}s the API showed {seen}; make demo said:\n{said}"
        time.sleep(max(0.0, DEMO_MIN_RUN_S - (time.monotonic() - started)))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGTERM)  # make and the demo command; the demo stops its children
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while own_processes(clean_copy) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = own_processes(clean_copy)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    print(f"\nmake demo ran {time.monotonic() - started:.1f}s; the API showed {seen}")

    assert not leftovers, f"processes the demo started outlived it: {leftovers}"
    terminal = terminal_path.read_text()
    first = terminal.find("Traceback")
    assert first < 0, f"the terminal got a traceback:\n{terminal[max(0, first - 1000) : first + 4000]}"
    assert re.search(r"workers \d+/\d+ online", terminal), f"no status line on the terminal:\n{terminal[-3000:]}"
    logs = sorted((clean_copy / "logs" / "demo").glob("*.log"))
    assert logs, "the demo wrote no log files"
    assert str(clean_copy / "logs" / "demo") in terminal, "the demo did not say where its logs are"
    texts = {path.name: path.read_text(errors="replace") for path in logs}
    for name in ("demo-default.log", "demo-emails.log"):
        assert "task events: ON" in texts.get(name, ""), f"{name}: the worker does not send task events"
    assert any(DELIBERATE_FAILURES.search(line) for t in texts.values() for line in t.splitlines()), (
        "the deliberately failing tasks left nothing in the logs"
    )
    ours = {name: switchyard_tracebacks(text, clean_copy) for name, text in {"terminal": terminal, **texts}.items()}
    ours = {name: found for name, found in ours.items() if found}
    assert not ours, "tracebacks from Switchyard itself:\n" + "\n\n".join(
        f"--- {name}:\n" + "\n".join(found[:3]) for name, found in ours.items()
    )


def test_traceback_filter_keeps_switchyard_bugs_and_drops_deliberate_failures(tmp_path) -> None:
    ours = f'  File "{tmp_path}/messaging/demo/workload.py", line 40, in produce_forever\n    x()\n'
    theirs = '  File "/usr/lib/python3.11/site-packages/kombu/transport/redis.py", line 119, in <module>\n'
    text = (
        f"Traceback (most recent call last):\n{ours}{theirs}ModuleNotFoundError: No module named 'packaging'\n"
        f"[ERROR] Task demo.fail raised\nTraceback (most recent call last):\n"
        f'  File "{tmp_path}/messaging/demo/app.py", line 101, in fail\n'
        "ValueError: the demo's failing task: it lands in <queue>.dlq\n"
        f"Traceback (most recent call last):\n{theirs}KeyError: 'x'\n"
    )
    found = switchyard_tracebacks(text, tmp_path)
    assert len(found) == 1 and "packaging" in found[0]
