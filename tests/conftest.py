"""Shared fixtures: users with roles and tokens, unique broker names, and a live console server
(uvicorn + the monitor in a background thread, against the test database)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests

from messaging.brokers.http import HttpClient, path_segment
from tests.waiting import wait_for

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")
# A PostgreSQL server where tests may create and drop databases (trust auth on this project's machines).
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


#: Where the tests that may share the machine with another pytest worker live (``--tier parallel``):
#: they talk to the brokers and the database under names of their own and assert no timings.
PARALLEL_DIRS = ("tests/console/", "tests/messaging/", "tests/security/")
#: ... except these: brokers run as one process each for the whole suite (moto, Tansu), and the
#: marks below start workers, browsers, processes or faults whose timings a neighbour would upset.
SERIAL_DIRS = ("tests/messaging/kafka/", "tests/messaging/sqs/")
SERIAL_MARKS = ("browser", "celery", "scale", "faults", "runtime", "scenarios", "packaging")


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--tier",
        choices=("parallel", "serial"),
        help="only the tests that may run beside another worker (parallel: run them with -n 2), or only the others",
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the test thread for
    the rest of the session, where async tests and ``async_to_sync`` cannot run."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    _deselect_postgres_database_tests_on_sqlite(config, items)
    _keep_tier(config, items)


def runs_in_parallel_tier(item) -> bool:
    path = item.nodeid.split("::", 1)[0]
    return (
        path.startswith(PARALLEL_DIRS)
        and not path.startswith(SERIAL_DIRS)
        and not any(item.get_closest_marker(mark) for mark in SERIAL_MARKS)
    )


def _keep_tier(config, items) -> None:
    tier = config.getoption("--tier")
    if tier is None:
        return
    kept = [item for item in items if runs_in_parallel_tier(item) == (tier == "parallel")]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def _deselect_postgres_database_tests_on_sqlite(config, items) -> None:
    """Tests marked ``postgres_database`` pin down behaviour of the test database itself on
    PostgreSQL; ``make test`` runs them in its PostgreSQL pass, and the SQLite pass leaves them out
    (deselected, not skipped)."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    kept = [item for item in items if item.get_closest_marker("postgres_database") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


EXIT_WATCHDOG_S = 60


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config._switchyard_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Interpreter exit joins every executor and non-daemon thread: one stuck in a broker call
    (an endless reconnect loop, a read without a timeout) would keep pytest from exiting long after
    the summary, and CI from finishing. A daemon watchdog dumps every thread's stack after
    EXIT_WATCHDOG_S and ends the process with the suite's own exit status."""
    import faulthandler
    import sys

    status = getattr(config, "_switchyard_exitstatus", 1)

    def watchdog() -> None:
        time.sleep(EXIT_WATCHDOG_S)
        print(f"\nWARNING: pytest still not exited {EXIT_WATCHDOG_S}s after the run; threads:", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(status)

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory) -> None:
    """The test database: a file for SQLite (an in-memory shared-cache database reports "table is
    locked" at once when the live server's threads meet, where a file waits out the lock), and a
    name of its own on PostgreSQL (``DATABASE_URL=postgres://...``) so concurrent runs on one server
    never meet. pytest-django creates it and drops it at the end of the session."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"] == "django.db.backends.sqlite3":
        test["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    else:
        test["NAME"] = f"test_switchyard_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        # The live server's threads must not keep connections open past a request, or the test
        # database's flush and drop would wait for them.
        database["CONN_MAX_AGE"] = 0


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    from console.models import ApiToken
    from console.roles import set_role

    def make(role: str | None, username: str | None = None, password: str = "correct-horse-9") -> tuple[Any, str]:
        user = get_user_model().objects.create_user(username=username or unique(role or "norole"), password=password)
        if role:
            set_role(user, role)
        _, token = ApiToken.issue(user)
        return user, token

    return make


@pytest.fixture
def tokens(make_user) -> dict[str, str]:
    return {role: make_user(role)[1] for role in ("viewer", "operator", "admin")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveConsole:
    """A console (uvicorn + optionally the monitor) in a background thread, against the test DB."""

    def __init__(self, config, monitor: bool, interval: float, port: int | None = None) -> None:
        self.config = config
        self.with_monitor = monitor
        self.interval = interval
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.errors: list[BaseException] = []
        self.monitor = None
        self.server = None
        self.thread: threading.Thread | None = None

    def start(self) -> LiveConsole:
        import uvicorn

        from console.stream.protocol import uvicorn_websocket_options
        from messaging.monitor_process import build_monitor
        from messaging.stream import set_home_loop

        self.monitor = None
        if self.with_monitor:
            self.monitor = build_monitor(self.config)
            self.monitor.interval = self.interval
        server = uvicorn.Server(
            uvicorn.Config(
                "console.asgi:application",
                host="127.0.0.1",
                port=self.port,
                lifespan="off",
                log_level="warning",
                timeout_graceful_shutdown=2,
                **uvicorn_websocket_options(),
            )
        )
        self.server = server
        monitor = self.monitor

        async def main() -> None:
            set_home_loop(asyncio.get_running_loop())
            stop = asyncio.Event()
            monitor_task = asyncio.create_task(monitor.run(stop)) if monitor else None
            try:
                await server.serve()
            finally:
                stop.set()
                if monitor_task:
                    await asyncio.gather(monitor_task, return_exceptions=True)

        def run() -> None:
            try:
                asyncio.run(main())
            except Exception as exc:  # surfaced by the fixture's teardown
                self.errors.append(exc)

        self.thread = threading.Thread(target=run, name=f"console-{self.port}", daemon=True)
        self.thread.start()
        wait_for(lambda: server.started, timeout=15, message="the console to start")
        return self

    def stop(self) -> None:
        from messaging.stream import set_home_loop

        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=15)
        set_home_loop(None)

    def api(self, path: str, token: str, method: str = "GET", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"Token {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=15, **kwargs)


@pytest.fixture
def live_console(transactional_db, settings):
    """``start(config=SwitchyardConfig(...), monitor=True, interval=0.5)`` -> a running
    :class:`LiveConsole` on a free port; ``.stop()`` and ``.start()`` restart it on the same port."""
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    started: list[LiveConsole] = []

    def start(config=None, monitor: bool = True, interval: float = 0.5) -> LiveConsole:
        console = LiveConsole(config, monitor, interval)
        started.append(console)
        return console.start()

    yield start
    for console in started:
        console.stop()
        assert not console.errors, console.errors


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, through Playwright (``playwright install`` cannot run here)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread; the ORM calls the
    # tests make there are still synchronous (Playwright's documented Django workaround).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def logged_in_page(browser, make_user):
    """``login(console, role)`` -> a Playwright page logged in as a new user with that role. The
    page records console errors and dialogs in ``page.problems``."""
    contexts = []

    def login(console: LiveConsole, role: str = "admin"):
        user, _ = make_user(role, password="browser-pass-1")
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
        page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.goto(console.url + "/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "browser-pass-1")
        page.click("button[type=submit]")
        page.wait_for_url(console.url + "/", wait_until="domcontentloaded")
        return page

    yield login
    for context in contexts:
        context.close()


@dataclass
class RedisSpace:
    """A test's own corner of the shared Redis: names and a key prefix carrying ``token``."""

    token: str
    url: str
    client: redis.Redis

    @property
    def prefix(self) -> str:
        return f"swtest:{self.token}:"

    def name(self, base: str) -> str:
        return f"{base}-{self.token}"


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    token = uuid.uuid4().hex[:12]
    client = redis.Redis.from_url(REDIS_URL)
    space = RedisSpace(token=token, url=REDIS_URL, client=client)
    try:
        yield space
    finally:
        # Every key this test made has its token in the name: its prefix, queue or exchange.
        keys = list(client.scan_iter(match=f"*{token}*", count=10_000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
        client.close()


@dataclass
class Vhost:
    """A RabbitMQ vhost made for one test, guest having every permission on it."""

    name: str
    http: HttpClient

    @property
    def amqp_url(self) -> str:
        return AMQP_URL.rstrip("/") + "/" + quote(self.name, safe="")

    @property
    def management_url(self) -> str:
        return MANAGEMENT_URL

    def api(self, path: str) -> str:
        return path.replace("{vhost}", path_segment(self.name))


@pytest.fixture
def rabbit_vhost() -> Iterator[Vhost]:
    http = HttpClient(MANAGEMENT_URL)
    name = f"swtest-{uuid.uuid4().hex[:12]}"
    http.put_json(f"/api/vhosts/{path_segment(name)}")
    user = http.session.auth[0]  # type: ignore[index]
    http.put_json(
        f"/api/permissions/{path_segment(name)}/{path_segment(user)}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    try:
        yield Vhost(name=name, http=http)
    finally:
        http.delete(f"/api/vhosts/{path_segment(name)}")
        http.close()


@pytest.fixture(autouse=True)
def _fresh_process_config():
    """Each test starts with no process-wide broker configuration left by an earlier one."""
    from messaging.process_config import set_config

    set_config(None)
    yield
    set_config(None)
