"""Helpers to put real messages in real brokers for tests (Kombu, as Celery would)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

from kombu import Connection, Exchange, Producer, Queue

from tests.conftest import REDIS_URL, free_port


def redis_connection(prefix: str, url: str = REDIS_URL) -> Connection:
    return Connection(url, transport_options={"global_keyprefix": prefix})


def publish(
    connection: Connection, queue_name: str, bodies: list, priority: int | None = None, max_priority: int | None = None
) -> None:
    """Declare ``queue_name`` bound to a direct exchange of the same name, and publish each body."""
    arguments = {"x-max-priority": max_priority} if max_priority else None
    exchange = Exchange(queue_name, type="direct")
    queue = Queue(queue_name, exchange, routing_key=queue_name, queue_arguments=arguments)
    with connection.channel() as channel:
        producer = Producer(channel)
        for body in bodies:
            producer.publish(
                body, exchange=exchange, routing_key=queue_name, declare=[queue], priority=priority, serializer="json"
            )


def delete_prefixed_keys(prefix: str, url: str = REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start at will. With ``directory``
    it persists (AOF, fsync on every write) there, so a restart on the same port finds its data."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.directory is not None:
            command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)]
        else:
            command += ["--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("private redis-server did not start")
        # Listening is not ready: a persistent server answers LOADING while it replays its AOF.
        import redis

        client = redis.Redis(port=self.port)
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("private redis-server did not load its data")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class PrivateRabbit:
    """A RabbitMQ node of the test's own (management plugin on), on free ports, with its data in a
    temporary directory of its own: ``kill()`` SIGKILLs the Erlang VM, ``start()`` boots it again
    on the same data, ``stop()`` kills it and removes the data. The shared node is never touched.
    ``rabbitmq-server`` drops to the ``rabbitmq`` user, so the directory is handed to that user
    when running as root (pytest's own temporary directories are private to root)."""

    def __init__(self) -> None:
        import tempfile
        import uuid

        self.directory = tempfile.mkdtemp(prefix="swtest-rabbit-")
        self.port, self.management_port, self.dist_port = free_port(), free_port(), free_port()
        self.node = f"swtest-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen | None = None
        self.boot_seconds: list[float] = []
        os.makedirs(os.path.join(self.directory, "mnesia"), exist_ok=True)
        os.makedirs(os.path.join(self.directory, "log"), exist_ok=True)
        with open(os.path.join(self.directory, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_management].\n")
        with open(os.path.join(self.directory, "rabbitmq.conf"), "w") as f:
            f.write(
                f"listeners.tcp.default = {self.port}\n"
                f"management.tcp.port = {self.management_port}\n"
                "management.tcp.ip = 127.0.0.1\n"
                "loopback_users = none\n"
                # Stats every second, so the management API sees connections quickly.
                "collect_statistics_interval = 1000\n"
            )
        if os.geteuid() == 0:
            shutil.chown(self.directory, "rabbitmq", "rabbitmq")
            for root, dirs, files in os.walk(self.directory):
                for name in dirs + files:
                    shutil.chown(os.path.join(root, name), "rabbitmq", "rabbitmq")

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    def start(self, timeout: float = 60.0) -> float:
        """Boot the node; the seconds it took until AMQP and the management API answered."""
        import requests

        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.directory, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.directory, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.directory, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.directory, "rabbitmq"),
        }
        started = time.monotonic()
        self.process = subprocess.Popen(
            [shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"],
            env=env,
            stdout=open(os.path.join(self.directory, "log", "console.txt"), "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"private RabbitMQ node exited ({self.directory}/log)")
            try:
                response = requests.get(
                    f"http://127.0.0.1:{self.management_port}/api/aliveness-test/%2F",
                    auth=("guest", "guest"),
                    timeout=2,
                )
                if response.status_code == 200:
                    self.boot_seconds.append(time.monotonic() - started)
                    return self.boot_seconds[-1]
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"private RabbitMQ node did not boot in {timeout}s")

    def _beam_pids(self) -> list[int]:
        """The node's processes (the wrapper shells, su, the Erlang VM and its helpers)."""
        if self.process is None:
            return []
        pids, frontier = [], [self.process.pid]
        while frontier:
            pid = frontier.pop()
            pids.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    frontier += [int(c) for c in f.read().split()]
            except OSError:
                pass
        return pids

    def kill(self) -> None:
        """SIGKILL the whole node (the Erlang VM first): a crash, not a shutdown."""
        if self.process is None:
            return
        for pid in reversed(self._beam_pids()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.process.wait(timeout=20)
        self.process = None

    def shutdown(self, timeout: float = 30.0) -> None:
        """A clean stop (SIGTERM to the Erlang VM: ``init:stop()``, as ``rabbitmqctl stop`` does):
        the node closes its clients' connections and writes its queues' state before exiting."""
        if self.process is None:
            return
        beam = [pid for pid in self._beam_pids() if _command(pid).startswith("beam")]
        for pid in beam:
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
