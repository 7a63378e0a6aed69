"""The install of people who never clone the repository: the wheel built from a clean copy of the
tracked files (``pip wheel . --no-deps``), installed into a venv that holds nothing else of the
repository, and run as ``switchyard`` from an empty directory against the real Redis.

The venv's dependencies are installed once from the wheel's own metadata, constrained to the pins
of requirements.txt, and cached outside the clone keyed by the dependency list, requirements.txt
and the Python version (``~/.cache/switchyard/wheel-venv-<key>``), as tests/runtime does; each run
then reinstalls only the freshly built wheel. ``pip check`` proves the wheel's declared
dependencies are what the venv holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from kombu import Connection

from tests.helpers.clean_copy import copy_clone_files
from tests.runtime.test_runtime_install import base_python, free_port, fresh_environ

REPO = Path(__file__).resolve().parents[2]
# A Redis database no other test uses, so the console started here watches only this test's queues.
REDIS_URL = os.environ.get("TEST_PACKAGING_REDIS_URL", "redis://127.0.0.1:6379/12")
SERVE_START_S = 60  # at most, for the first answer of a fresh `switchyard serve`
QUEUE_SEEN_S = 30  # at most, for the monitor to list the test's queue over the API

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1200)]


def source_version() -> str:
    text = (REPO / "switchyard" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert found, "switchyard/__init__.py has no __version__"
    return found.group(1)


def timed(label: str, started: float) -> None:
    print(f"\n{label}: {time.monotonic() - started:.1f}s")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip wheel . --no-deps`` builds from the files a clone would have (tracked, or new
    and not ignored): no .venv, database, secret key or caches of this working tree."""
    copy = copy_clone_files(REPO, tmp_path_factory.mktemp("clean-copy"))
    out = tmp_path_factory.mktemp("wheelhouse")
    started = time.monotonic()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(copy), "--no-deps", "-w", str(out)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    timed("wheel built", started)
    (found,) = out.glob("switchyard_console-*.whl")
    return found


def dependency_key(python: str) -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    material = "\n".join([project["name"], *project["dependencies"]])
    material += (REPO / "requirements.txt").read_text() + version.stdout
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def pins_as_constraints(destination: Path) -> Path:
    """requirements.txt as a pip constraints file (constraints may not name extras)."""
    lines = []
    for line in (REPO / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement and not requirement.startswith("-"):
            lines.append(re.sub(r"\[[^]]*\]", "", requirement))
    destination.write_text("\n".join(lines) + "\n")
    return destination


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A venv holding the wheel and its dependencies, nothing else of the repository."""
    python = base_python()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchyard"
    venv = cache / f"wheel-venv-{dependency_key(python)}"
    cache.mkdir(parents=True, exist_ok=True)
    constraints = pins_as_constraints(tmp_path_factory.mktemp("constraints") / "pins.txt")
    started = time.monotonic()
    with open(cache / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run on this machine may be building it
        stamp = venv / ".dependencies.sha256"
        cached = stamp.exists() and subprocess.run([venv / "bin" / "python", "-c", ""]).returncode == 0
        if not cached:
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
            installed = subprocess.run(
                [venv / "bin" / "python", "-m", "pip", "install", "-q", "-c", str(constraints), str(wheel)],
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert installed.returncode == 0, installed.stdout + installed.stderr
            stamp.write_text(venv.name)
        else:
            reinstalled = subprocess.run(
                [venv / "bin" / "python", "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheel)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert reinstalled.returncode == 0, reinstalled.stdout + reinstalled.stderr
    timed(f"wheel installed ({'dependencies cached' if cached else 'cold, with dependencies'}) in {venv}", started)
    checked = subprocess.run([venv / "bin" / "python", "-m", "pip", "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return venv


@dataclass
class Install:
    """One user's view of the installed package: an empty working directory and a data home."""

    venv: Path
    cwd: Path
    data_home: Path

    @property
    def data_dir(self) -> Path:
        return self.data_home / "switchyard"

    def environ(self, **settings: str) -> dict[str, str]:
        return fresh_environ(XDG_DATA_HOME=str(self.data_home), SWITCHYARD_SAMPLE_INTERVAL="0.5", **settings)

    def run(self, *arguments: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv / "bin" / "switchyard"), *arguments],
            cwd=self.cwd,
            env=self.environ(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def new_install(venv: Path, root: Path) -> Install:
    install = Install(venv=venv, cwd=root / "cwd", data_home=root / "data-home")
    install.cwd.mkdir()
    return install


@pytest.fixture
def install(venv, tmp_path) -> Install:
    return new_install(venv, tmp_path)


@pytest.fixture(scope="module")
def migrated(venv, tmp_path_factory) -> Install:
    """An install whose database `switchyard migrate` created."""
    install = new_install(venv, tmp_path_factory.mktemp("migrated"))
    migrated = install.run("migrate", "--noinput", timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return install


@dataclass
class WatchedQueue:
    broker_url: str
    name: str


@pytest.fixture
def watched_queue() -> Iterator[WatchedQueue]:
    """A queue with one message, published by Kombu as a Celery app would (so it is bound and
    discoverable), under a name of this test's own."""
    token = uuid.uuid4().hex[:12]
    queue = WatchedQueue(broker_url=REDIS_URL, name=f"pkgtest-{token}")
    with Connection(REDIS_URL) as connection:
        simple = connection.SimpleQueue(queue.name)
        simple.put({"packaging": token})
        simple.close()
    try:
        yield queue
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{token}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def test_wheel_carries_templates_static_files_and_every_migration(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "switchyard/templates/base.html",
        "switchyard/templates/registration/login.html",
        "switchyard/static/switchyard/app.css",
        "switchyard/static/vendor/htmx/htmx.min.js",
        "switchyard/static/vendor/uplot/uPlot.iife.min.js",
        "console/migrations/__init__.py",
        "messaging/migrations/__init__.py",
    ):
        assert required in names, f"{required} is missing from {wheel.name}"
    tracked = subprocess.run(
        ["git", "ls-files", "console/*/migrations/*.py", "console/migrations", "messaging/migrations"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked and not set(tracked) - names, f"migrations missing from the wheel: {set(tracked) - names}"
    stray = sorted(n for n in names if re.search(r"(^tests/|__pycache__|\.sqlite3|\.secret_key|^bench/|manage\.py)", n))
    assert not stray, f"the wheel carries files of the checkout: {stray}"
    metadata = zipfile.ZipFile(wheel).read(f"switchyard_console-{source_version()}.dist-info/entry_points.txt").decode()
    assert "switchyard = switchyard.cli:main" in metadata


def test_installed_package_runs_from_the_venv_alone(venv, install) -> None:
    """Nothing of the checkout is importable: every package comes from the venv's site-packages."""
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import console, messaging, switchyard, sys; "
            "print(console.__file__, messaging.__file__, switchyard.__file__, sep='\\n')",
        ],
        cwd=install.cwd,
        env=install.environ(),
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(venv) and "site-packages" in path, path


def test_version_is_the_source_version(install) -> None:
    shown = install.run("--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"switchyard {source_version()}"


def test_check_reaches_the_broker_and_lists_its_queues(install, watched_queue) -> None:
    checked = install.run("check", "--broker", watched_queue.broker_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    print(checked.stdout)
    assert re.search(rf"broker default \({re.escape(REDIS_URL)}\): reachable \(redis\)", checked.stdout), checked.stdout
    assert f"{watched_queue.name} (1)" in checked.stdout, checked.stdout
    assert "migration(s) to apply" in checked.stdout  # a fresh install: told what to do next


def test_check_fails_with_the_reason_for_an_unreachable_broker(install) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    checked = install.run("check", "--broker", closed)
    assert checked.returncode != 0, checked.stdout
    assert re.search(rf"broker default \({re.escape(closed)}\): unreachable: .*(refused|Connection)", checked.stderr)
    assert "1 of 1 broker(s) could not be reached: default" in checked.stderr
    assert "Traceback" not in checked.stderr, checked.stderr


def test_migrate_keeps_database_and_secret_key_in_the_user_data_dir(migrated) -> None:
    database = migrated.data_dir / "db.sqlite3"
    key = migrated.data_dir / ".secret_key"
    assert database.is_file() and database.stat().st_size > 0
    assert key.is_file() and len(key.read_text().strip()) >= 50
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(migrated.data_dir.stat().st_mode) == 0o700
    assert not list(migrated.cwd.iterdir()), "migrate wrote into the working directory"


@contextlib.contextmanager
def serving(install: Install, log: Path, *arguments: str) -> Iterator[str]:
    """``switchyard serve`` on a free port until the block ends, then SIGTERM: it must exit 0
    within 20 s and say nothing of a traceback. Yields the base URL once the login page answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [str(install.venv / "bin" / "switchyard"), "serve", "--port", str(port), *arguments],
            cwd=install.cwd,
            env=install.environ(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while True:
            assert server.poll() is None, f"serve exited with {server.returncode}:\n{log.read_text()}"
            try:
                if requests.get(f"{base}/login/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() - started < SERVE_START_S, f"serve did not answer:\n{log.read_text()}"
            time.sleep(0.3)
        timed("serve answered", started)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.send_signal(signal.SIGTERM)
        try:
            exit_code = server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            raise AssertionError(f"serve did not stop within 20 s of SIGTERM:\n{log.read_text()}") from None
    said = log.read_text()
    assert exit_code == 0, f"serve exited with {exit_code} after SIGTERM:\n{said}"
    assert "Traceback" not in said, said


def test_serve_answers_and_watches_the_broker(migrated, watched_queue, tmp_path) -> None:
    created = migrated.run("createuser", "ops", "--role", "operator", "--password-stdin", stdin="pk-operator-pass-9\n")
    assert created.returncode == 0, created.stdout + created.stderr
    issued = migrated.run("issuetoken", "monitoring", "--role", "viewer")
    assert issued.returncode == 0, issued.stdout + issued.stderr
    headers = {"Authorization": f"Token {issued.stdout.strip().splitlines()[-1]}"}

    with serving(migrated, tmp_path / "serve.log", "--broker", watched_queue.broker_url) as base:
        login_page = requests.get(f"{base}/login/", timeout=5)
        assert login_page.status_code == 200 and 'name="password"' in login_page.text
        for asset in ("static/switchyard/app.css", "static/vendor/htmx/htmx.min.js"):
            served = requests.get(f"{base}/{asset}", timeout=5)
            assert served.status_code == 200 and served.content, asset
        health = requests.get(f"{base}/api/v1/health", headers=headers, timeout=5)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"

        started, listed = time.monotonic(), []
        while time.monotonic() - started < QUEUE_SEEN_S:
            listed = requests.get(f"{base}/api/v1/queues", headers=headers, timeout=5).json()
            ours = [q for q in listed if q["name"] == watched_queue.name]
            if ours and ours[0]["depth"] == 1:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"{watched_queue.name} with 1 message never listed; the API said {listed}")
        assert ours[0]["broker"] == "default"
        assert requests.get(f"{base}/api/v1/health", headers=headers, timeout=5).json()["brokers"] == {"default": "up"}

        session = requests.Session()
        session.get(f"{base}/login/", timeout=5)
        logged_in = session.post(
            f"{base}/login/",
            data={
                "username": "ops",
                "password": "pk-operator-pass-9",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            timeout=5,
        )
        assert logged_in.status_code == 200 and logged_in.url.rstrip("/") == base, logged_in.url
        assert f"Switchyard {source_version()}</footer>" in logged_in.text
    assert not list(migrated.cwd.iterdir()), "serve wrote into the working directory"


def test_first_serve_creates_the_database_and_admin_by_itself(install, tmp_path) -> None:
    """`pip install switchyard-console` then one command: no migrate, no user created beforehand."""
    log = tmp_path / "serve.log"
    with serving(install, log, "--broker", REDIS_URL) as base:
        assert requests.get(f"{base}/login/", timeout=5).status_code == 200
    said = log.read_text()
    assert re.search(r"Created user 'admin' with password: \S+", said), said
    assert (install.data_dir / "db.sqlite3").is_file()
