"""A scaled-out Switchyard made of real processes: ``serve --no-monitor`` web processes and
``monitor`` processes sharing one PostgreSQL database (created for the purpose and dropped after)
and the real Redis (channel layer and leader lock, under names of their own).

Used by tests/scale and bench/fanout.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from tests.conftest import POSTGRES_URL, REDIS_URL, free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class PostgresDatabase:
    """A database of its own on the test PostgreSQL server, dropped (even while in use) on close."""

    def __init__(self, server_url: str = POSTGRES_URL) -> None:
        self.server_url = server_url
        self.name = f"sy_scale_{uuid.uuid4().hex[:12]}"
        self.url = _with_database(server_url, self.name)

    def create(self) -> PostgresDatabase:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


class Cluster:
    """Web and monitor processes of one Switchyard deployment, all killed by :meth:`close`."""

    def __init__(self, workdir: Path, database: PostgresDatabase, redis_prefix: str, **settings: str) -> None:
        self.workdir = workdir
        self.database = database
        self.redis_prefix = redis_prefix
        unique = uuid.uuid4().hex[:10]
        config = workdir / "switchyard.toml"
        config.write_text(
            f'[brokers.main]\nurl = "{REDIS_URL}"\ntransport_options = {{ global_keyprefix = "{redis_prefix}" }}\n'
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SWITCHYARD_", "DJANGO_ALLOW", "DATABASE"))
        }
        self.env.update(
            {
                "DATABASE_URL": database.url,
                "REDIS_URL": REDIS_URL,
                "SWITCHYARD_CONFIG": str(config),
                "SWITCHYARD_CHANNEL_PREFIX": f"sy-test-{unique}",
                "SWITCHYARD_LEADER_KEY": f"sy-test-leader-{unique}",
                "SWITCHYARD_LEADER_TTL": "2",
                "SWITCHYARD_SAMPLE_INTERVAL": "0.5",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.update(settings)
        self.web: list[tuple[subprocess.Popen, int]] = []
        self.monitors: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self._logs: list[tuple[str, Path]] = []
        self.token = ""

    @property
    def ttl(self) -> float:
        return float(self.env["SWITCHYARD_LEADER_TTL"])

    @property
    def interval(self) -> float:
        return float(self.env["SWITCHYARD_SAMPLE_INTERVAL"])

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def prepare(self) -> Cluster:
        self.manage("migrate", "--noinput")
        self.token = self.manage("issuetoken", "scale-viewer", "--role", "viewer").strip().splitlines()[-1]
        return self

    def _spawn(self, label: str, *args: str) -> subprocess.Popen:
        log_path = self.workdir / f"{label}.log"
        self._logs.append((label, log_path))
        with open(log_path, "w") as log:
            return subprocess.Popen(
                [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def start_web(self) -> str:
        port = free_port()
        process = self._spawn(
            f"web-{len(self.web)}", "serve", "--no-monitor", "--host", "127.0.0.1", "--port", str(port)
        )
        self.web.append((process, port))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: self._answers(url), timeout=30, message=f"web process on {port}")
        return url

    def start_monitor(self) -> subprocess.Popen:
        process = self._spawn(f"monitor-{len(self.monitors)}", "monitor")
        self.monitors.append(process)
        return process

    def start_worker(self) -> subprocess.Popen:
        """``manage.py worker``: Switchyard's own Celery worker (operator actions)."""
        process = self._spawn(f"worker-{len(self.workers)}", "worker", "--loglevel", "INFO")
        self.workers.append(process)
        return process

    def _answers(self, url: str) -> bool:
        try:
            return self.api(url, "/api/v1/health").status_code == 200
        except requests.ConnectionError:
            return False

    def api(self, url: str, path: str) -> requests.Response:
        return requests.get(url + path, headers={"Authorization": f"Token {self.token}"}, timeout=10)

    def health_monitor(self, url: str) -> dict:
        return self.api(url, "/api/v1/health").json()["monitor"]

    def active_monitor(self, url: str) -> subprocess.Popen | None:
        """The monitor process the lease names, if its rounds are current."""
        state = self.health_monitor(url)
        if not state["active"] or state.get("last_round_age_s", 1e9) > self.ttl:
            return None
        pid = int(state["active"].split(":")[1])
        return next((p for p in self.monitors if p.pid == pid), None)

    def sample_times(self, queue_name: str) -> list[float]:
        """Epoch seconds of every raw history point of a queue, oldest first."""
        rows = self.database.query(
            "SELECT extract(epoch FROM s.at) FROM messaging_queuesample s JOIN messaging_queue q ON q.id = s.queue_id"
            " WHERE q.name = %s AND s.span_s = 0 ORDER BY s.at",
            (queue_name,),
        )
        return [float(row[0]) for row in rows]

    def lease(self) -> dict:
        rows = self.database.query(
            "SELECT holder, token, rounds FROM messaging_monitorlease WHERE name = %s",
            (self.env["SWITCHYARD_LEADER_KEY"],),
        )
        return {"holder": rows[0][0], "token": rows[0][1], "rounds": rows[0][2]} if rows else {}

    def logs(self) -> str:
        parts = []
        for label, path in self._logs:
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"----- {label} -----\n" + "\n".join(text.splitlines()[-40:]))
        return "\n".join(parts)

    def log_of(self, process: subprocess.Popen) -> str:
        index = self.monitors.index(process)
        return (self.workdir / f"monitor-{index}.log").read_text(errors="replace")

    def close(self) -> None:
        processes = [p for p, _ in self.web] + self.monitors + self.workers
        for process in processes:
            if process.poll() is None:
                try:
                    process.send_signal(signal.SIGCONT)
                    process.terminate()
                except ProcessLookupError:
                    pass
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def ws_url(http_url: str, token: str) -> str:
    return http_url.replace("http://", "ws://") + f"/ws/stream?token={token}"


def subscribe(connection, topics: list[str]) -> None:
    connection.send(json.dumps({"subscribe": topics}))
    while True:
        message = json.loads(connection.recv(timeout=10))
        if message["type"] == "stream.subscribed":
            return
