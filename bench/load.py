"""Load: many WebSocket clients and a steady API request rate against one console process while
events flow; reports errors, the server's memory, and what slow clients were told.

    .venv/bin/python bench/load.py [--clients 200] [--rate 50] [--duration 60] [--slow 3]

Starts its own redis-server (a private port) and a ``manage.py serve`` process (SQLite in a
temporary directory, in-memory channel layer, monitor in-process, sampling every second). Events:
a Redis queue with churn (published and consumed all the time, so ``queue.sample`` events flow
every interval) plus synthetic Celery task events (bench/celery_events.py's producer, 4 events
per task). Clients subscribe to queues, tasks and alerts and read everything; ``--slow`` of them
stop reading after subscribing (tiny receive buffers, so the server's socket fills) and read again
after 34 s, before the server's keepalive would close them: they must be told ``stream.dropped``
and the server's memory must not grow with their backlog. The API load is a mix of
list/detail/health requests. Prints one JSON object; exits 1 if there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOPICS = ["queues", "tasks", "alerts"]
SLOW_PAUSE_S = 34.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles_ms(seconds: list[float]) -> list[int] | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return [round(ordered[int(len(ordered) * q)] * 1000) for q in (0.5, 0.95)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Figures:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.api_requests = 0
        self.api_statuses: dict[int, int] = {}
        self.api_latency: dict[str, list[float]] = {}
        self.ws_messages = 0
        self.ws_connected = 0
        self.slow_dropped: list[int] = []
        self.slow_messages: list[int] = []

    def error(self, text: str) -> None:
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(text)


def churn(url: str, stop: threading.Event, per_second: int = 50) -> None:
    """Publish and consume on one queue so its figures change every interval."""
    from kombu import Connection

    with Connection(url) as connection:
        queue = connection.SimpleQueue("load-churn")
        n = 0
        while not stop.is_set():
            for _ in range(per_second // 10):
                queue.put({"n": n})
                n += 1
            for _ in range(per_second // 12):  # a little slower than published: the depth moves
                try:
                    queue.get(block=False).ack()
                except queue.Empty:
                    break
            stop.wait(0.1)
        queue.close()


def task_events(url: str, stop: threading.Event, tasks_per_second: int) -> None:
    """Synthetic Celery task events, as workers send them (bench/celery_events.py's shape)."""
    import uuid

    from celery.events.event import get_exchange
    from kombu import Connection

    with Connection(url) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)
        exchange(connection.default_channel).declare()
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            for _ in range(max(1, tasks_per_second // 10)):
                task_id = f"load-{i}-{uuid.uuid4().hex[:8]}"
                i += 1
                now = time.time()
                batch = [
                    {"type": "task-sent", "uuid": task_id, "name": "load.add", "args": "[1, 2]", "kwargs": "{}",
                     "queue": "load-churn", "timestamp": now, "utcoffset": 0, "clock": 1, "hostname": "producer"},
                    {"type": "task-received", "uuid": task_id, "name": "load.add", "args": "[1, 2]",
                     "kwargs": "{}", "timestamp": now, "utcoffset": 0, "clock": 2, "hostname": "w@load"},
                    {"type": "task-started", "uuid": task_id, "timestamp": now, "utcoffset": 0, "hostname": "w@load"},
                    {"type": "task-succeeded", "uuid": task_id, "result": "3", "runtime": 0.001, "timestamp": now,
                     "utcoffset": 0, "hostname": "w@load"},
                ]  # fmt: skip
                producer.publish(
                    json.dumps(batch).encode(),
                    exchange=exchange,
                    routing_key="task.multi",
                    content_type="application/json",
                    content_encoding="utf-8",
                )
            stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))


def api_process(base: str, token: str, rate: float, duration: float, out) -> None:
    """The API clients in a process of their own (the WebSocket clients' event loop would slow
    them through the GIL): run for ``duration`` and put the figures on ``out``."""
    figures, stop = Figures(), threading.Event()
    threading.Timer(duration, stop.set).start()
    started = time.monotonic()
    api_load(base, token, rate, stop, figures)
    out.put(
        {
            "requests": figures.api_requests,
            "elapsed": time.monotonic() - started,
            "statuses": figures.api_statuses,
            "latency": figures.api_latency,
            "errors": figures.errors,
        }
    )


def api_load(base: str, token: str, rate: float, stop: threading.Event, figures: Figures, workers: int = 25) -> None:
    paths = ["/api/v1/queues", "/api/v1/brokers", "/api/v1/health", "/api/v1/tasks?limit=50", "/api/v1/alerts"]
    per_worker = rate / workers

    def work(offset: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        n = offset
        next_at = time.monotonic() + offset / rate
        while not stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            next_at += 1 / per_worker
            path = paths[n % len(paths)]
            n += 1
            try:
                sent = time.monotonic()
                response = session.get(base + path, timeout=10)
                status = response.status_code
                with figures.lock:
                    figures.api_latency.setdefault(path.split("?")[0], []).append(time.monotonic() - sent)
            except requests.RequestException as exc:
                figures.error(f"API {path}: {type(exc).__name__}")
                continue
            with figures.lock:
                figures.api_requests += 1
                figures.api_statuses[status] = figures.api_statuses.get(status, 0) + 1
            if status != 200:
                figures.error(f"API {path}: {status}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def ws_clients(
    ws_url: str, clients: int, slow: int, duration: float, warmup: float, figures: Figures, stop_at: float
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async def subscribe(ws) -> None:
        await ws.send(json.dumps({"subscribe": TOPICS}))

    async def reader(index: int) -> None:
        try:
            async with connect(ws_url, open_timeout=20, close_timeout=2, max_size=2**22, ping_interval=None) as ws:
                await subscribe(ws)
                with figures.lock:
                    figures.ws_connected += 1
                while time.monotonic() < stop_at:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, stop_at - time.monotonic()))
                    except TimeoutError:
                        break
                    event = json.loads(raw)
                    with figures.lock:
                        figures.ws_messages += 1
                    if event.get("type") == "stream.error":
                        figures.error(f"ws client {index}: {event}")
        except ConnectionClosed as exc:
            figures.error(f"ws client {index} disconnected: {exc}")
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            figures.error(f"ws client {index}: {type(exc).__name__}: {exc}")

    async def slow_reader(index: int) -> None:
        """Reads nothing for ``SLOW_PAUSE_S`` (or until the last 4 s of a shorter run), then reads
        to the end; a 4 KiB receive buffer and a one-message client queue, so the server's socket
        fills and its per-client buffer is used. The pause stays under the server's keepalive
        (uvicorn pings every 20 s and closes a connection whose pong is 20 s late: a client that
        reads nothing for 40 s is closed, with 1011 "keepalive ping timeout")."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(ws_url.split(":")[2].split("/")[0])))
        sock.setblocking(False)
        dropped = messages = 0
        try:
            async with connect(
                ws_url, sock=sock, open_timeout=20, close_timeout=2, max_size=2**22, max_queue=1, ping_interval=None
            ) as ws:
                await subscribe(ws)
                resume_at = min(stop_at - 4.0, time.monotonic() + SLOW_PAUSE_S)
                await asyncio.sleep(max(0.0, resume_at - time.monotonic()))  # not reading
                while time.monotonic() < stop_at:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, stop_at - time.monotonic()))
                    except TimeoutError:
                        break
                    event = json.loads(raw)
                    messages += 1
                    if event.get("type") == "stream.dropped":
                        dropped += event["data"]["count"]
        except Exception as exc:  # noqa: BLE001
            figures.error(f"slow client {index}: {type(exc).__name__}: {exc}")
        with figures.lock:
            figures.slow_dropped.append(dropped)
            figures.slow_messages.append(messages)

    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(reader(i)))
        if i % 20 == 19:
            await asyncio.sleep(0.05)  # connect in waves, as browsers would
    tasks += [asyncio.create_task(slow_reader(i)) for i in range(slow)]
    await asyncio.gather(*tasks)


def run(
    clients: int = 200,
    rate: float = 50,
    duration: float = 60,
    slow: int = 3,
    tasks_per_second: int = 300,
    client_buffer: int | None = None,
) -> dict:
    from tests.brokers import PrivateRedis

    workdir = tempfile.mkdtemp(prefix="switchyard-load-")
    redis_server = PrivateRedis()
    redis_server.start()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{workdir}/load.sqlite3",
        "SWITCHYARD_BROKER_URL": redis_server.url,
        "SWITCHYARD_SAMPLE_INTERVAL": "1",
        "SWITCHYARD_ACTION_RUNNER": "false",
    }
    for variable in ("SWITCHYARD_CONFIG", "CHANNEL_REDIS_URL", "SWITCHYARD_CHANNEL_LAYER_URL"):
        env.pop(variable, None)
    if client_buffer:
        env["SWITCHYARD_STREAM_CLIENT_BUFFER"] = str(client_buffer)
    # Every client uses the one load token: lift the per-user connection cap above their number.
    env["SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER"] = str(clients + slow + 10)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(
        [python, "manage.py", "issuetoken", "load", "--role", "viewer"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    log = open(f"{workdir}/serve.log", "wb")
    server = subprocess.Popen(
        [python, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/stream?token={token}"
    stop = threading.Event()
    figures = Figures()
    background: list[threading.Thread] = []
    result: dict = {}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/api/v1/health", headers={"Authorization": f"Token {token}"}, timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start; see {workdir}/serve.log")
            time.sleep(0.2)
        background = [
            threading.Thread(target=churn, args=(redis_server.url, stop), daemon=True),
            threading.Thread(target=task_events, args=(redis_server.url, stop, tasks_per_second), daemon=True),
        ]
        for thread in background:
            thread.start()
        time.sleep(2)  # events flowing
        rss_start = rss_mb(server.pid)
        started = time.monotonic()
        stop_at = started + duration
        import multiprocessing

        api_out = multiprocessing.get_context("spawn").Queue()
        api = multiprocessing.get_context("spawn").Process(
            target=api_process, args=(base, token, rate, duration, api_out), daemon=True
        )
        api.start()
        cpu_start = cpu_seconds(server.pid)
        rss_samples: list[float] = []

        def watch_memory() -> None:
            while not stop.is_set():
                rss_samples.append(rss_mb(server.pid))
                stop.wait(1.0)

        watcher = threading.Thread(target=watch_memory, daemon=True)
        watcher.start()
        asyncio.run(ws_clients(ws_url, clients, slow, duration, 2.0, figures, stop_at))
        elapsed = time.monotonic() - started
        stop.set()
        api_figures = api_out.get(timeout=60)
        api.join(15)
        cpu_used = cpu_seconds(server.pid) - cpu_start
        figures.api_requests, figures.api_statuses = api_figures["requests"], api_figures["statuses"]
        figures.api_latency = api_figures["latency"]
        figures.errors += api_figures["errors"]
        api_elapsed = api_figures["elapsed"]
        rss_end = rss_mb(server.pid)
        if server.poll() is not None:
            figures.error(f"the console exited with {server.returncode}")
        result = {
            "clients": clients,
            "ws_connected": figures.ws_connected,
            "ws_messages": figures.ws_messages,
            "ws_messages_per_client_per_s": round(figures.ws_messages / max(clients, 1) / elapsed, 1),
            "api_rate_asked": rate,
            "api_requests": figures.api_requests,
            "api_rate_achieved": round(figures.api_requests / api_elapsed, 1),
            "api_statuses": figures.api_statuses,
            "api_latency_ms_p50_p95": percentiles_ms(sum(figures.api_latency.values(), [])),
            "api_latency_ms_median_max": {
                path: [round(sorted(v)[len(v) // 2] * 1000), round(max(v) * 1000)]
                for path, v in figures.api_latency.items()
            },
            "duration_s": round(elapsed, 1),
            "server_cpu_percent": round(100 * cpu_used / elapsed),
            "rss_mb_start": round(rss_start, 1),
            # Once every client is connected and subscribed (5 s in): growth after that is load, not setup.
            "rss_mb_at_5s": round(rss_samples[min(5, len(rss_samples) - 1)], 1) if rss_samples else None,
            "rss_mb_every_10s": [round(mb, 1) for mb in rss_samples[::10]],
            "rss_mb_end": round(rss_end, 1),
            "rss_mb_peak": round(max(rss_samples + [rss_end]), 1),
            "slow_clients_dropped": figures.slow_dropped,
            "slow_clients_messages_after_resuming": figures.slow_messages,
            "errors": figures.errors,
        }
    finally:
        stop.set()
        for thread in background:
            thread.join(10)
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
        redis_server.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50, help="API requests per second")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--slow", type=int, default=3, help="clients that stop reading")
    parser.add_argument("--tasks-per-second", type=int, default=50, help="synthetic Celery tasks (4 events each)")
    parser.add_argument("--client-buffer", type=int, help="SWITCHYARD_STREAM_CLIENT_BUFFER (default: the server's)")
    args = parser.parse_args()
    result = run(args.clients, args.rate, args.duration, args.slow, args.tasks_per_second, args.client_buffer)
    print(json.dumps(result, indent=2))
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
