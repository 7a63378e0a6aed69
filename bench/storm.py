"""Fleet scale end to end: one console process (monitor in-process) over 10,000 Redis queues that
all change every round, 200 WebSocket clients reading the ``queue.sample`` storm, and the overview
page and a queue API page timed while it runs (issue 18 items 4, 5, 6).

    .venv/bin/python -m bench.storm [--queues 10000] [--clients 200] [--seconds 60]

Starts its own redis-server (a private port) holding ``--queues`` Celery-bound queues with one
message each (the head's age grows, so every queue's figures change every round: 10,000
``queue.sample`` events per round) and a ``manage.py serve`` process (SQLite in a temporary
directory, in-memory channel layer, sampling every 2 s; the default alert rules, so "no consumers
while messages wait" fires for every queue: 10,000 open alerts). Clients ask for batched frames
(``{"batch": true}``) unless ``--frames``. With ``--watch N`` each client watches only N queues
(``{"queues": [ids]}``, a page of the overview: client i the i-th page), and ``--compare`` runs
the storm twice on the same server, clients watching every queue and then a page each, so the
fan-out cost of both is measured side by side. Reports: what each client received
(messages, distinct queues, ``stream.dropped`` counts), the server's CPU and RSS over the run,
the overview page (logged in over HTTP) and ``GET /api/v1/queues?limit=100`` before and during
the storm. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import cpu_seconds, free_port, rss_mb  # noqa: E402
from bench.sampling import p95  # noqa: E402

PASSWORD = "storm-bench-Pa55word!"


def fill_queues(url: str, count: int) -> None:
    import redis

    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        name = f"q{n:05d}"
        pipe.sadd(f"_kombu.binding.{name}", f"{name}\x06\x16\x06\x16{name}")
        pipe.lpush(name, json.dumps({"body": "e30=", "headers": {}, "properties": {}}))
    pipe.execute()


def timed_gets(session: requests.Session, url: str, times: int, **kwargs) -> dict:
    took, sizes = [], []
    for _ in range(times):
        started = time.perf_counter()
        response = session.get(url, timeout=60, **kwargs)
        took.append(time.perf_counter() - started)
        response.raise_for_status()
        sizes.append(len(response.content))
    return {
        "p50_ms": round(statistics.median(took) * 1000, 1),
        "p95_ms": round(p95(took) * 1000, 1),
        "bytes": sizes[-1],
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def page_figures(base: str, token: str, session: requests.Session, times: int) -> dict:
    api = {"Authorization": f"Token {token}"}
    return {
        "overview": timed_gets(session, base + "/", times),
        "overview_worst_first": timed_gets(session, base + "/?sort=-oldest_age_s", times),
        "api_page_100_mid": timed_gets(session, base + "/api/v1/queues?limit=100&offset=5000", times * 3, headers=api),
        "api_page_100_deepest": timed_gets(
            session, base + "/api/v1/queues?limit=100&ordering=-depth", times * 3, headers=api
        ),
    }


def login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(base + "/login/", timeout=30)
    answer = session.post(
        base + "/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": base + "/login/"},
        timeout=30,
    )
    answer.raise_for_status()
    if "sessionid" not in session.cookies:
        raise RuntimeError("could not log in")
    return session


def client_pages(base: str, token: str, clients: int, rows: int) -> list[list[str]]:
    """Client i's page of ``rows`` queue ids (the i-th page of the fleet, wrapping round)."""
    listed = requests.get(base + "/api/v1/queues", headers={"Authorization": f"Token {token}"}, timeout=120).json()
    ids = [row["id"] for row in listed]
    pages = max(1, len(ids) // rows)
    return [ids[(i % pages) * rows : (i % pages + 1) * rows] for i in range(clients)]


async def clients_read(
    ws_url: str, clients: int, seconds: float, batch: bool = True, pages: list[list[str]] | None = None
) -> list[dict]:
    from websockets.asyncio.client import connect

    async def reader(index: int) -> dict:
        seen: set[str] = set()
        figures = {"messages": 0, "samples": 0, "bytes": 0, "dropped": 0, "errors": []}
        stop_at = time.monotonic() + seconds
        try:
            async with connect(ws_url, open_timeout=30, max_size=2**22, ping_interval=None) as ws:
                hello: dict = {"subscribe": ["queues"], "batch": batch}
                if pages is not None:
                    hello["queues"] = pages[index]
                await ws.send(json.dumps(hello))
                while (left := stop_at - time.monotonic()) > 0:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=left)
                    except TimeoutError:
                        break
                    figures["messages"] += 1
                    figures["bytes"] += len(raw)
                    frame = json.loads(raw)
                    for event in frame if isinstance(frame, list) else [frame]:
                        if event["type"] == "queue.sample":
                            figures["samples"] += 1
                            seen.add(event["data"]["id"])
                        elif event["type"] == "stream.dropped":
                            figures["dropped"] += event["data"]["count"]
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            figures["errors"].append(f"{type(exc).__name__}: {exc}")
        figures["distinct_queues"] = len(seen)
        return figures

    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(reader(i)))
        if i % 20 == 19:
            await asyncio.sleep(0.05)
    return await asyncio.gather(*tasks)


def start_console(
    workdir: str, broker_url: str, clients: int, monitor_process: bool = False
) -> tuple[subprocess.Popen, str, str, dict]:
    """``manage.py serve`` with its monitor in-process, or (``monitor_process``) ``serve
    --no-monitor`` beside a ``manage.py monitor`` of its own, as a fleet deployment runs them; the
    monitor process ends with the server's (it is in ``MONITORS``, keyed by the server's pid)."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{workdir}/storm.sqlite3",
        "SWITCHYARD_BROKER_URL": broker_url,
        "SWITCHYARD_SAMPLE_INTERVAL": "2",
        "SWITCHYARD_ACTION_RUNNER": "false",
        "SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER": str(clients + 10),
    }
    for variable in ("SWITCHYARD_CONFIG", "CHANNEL_REDIS_URL", "SWITCHYARD_CHANNEL_LAYER_URL"):
        env.pop(variable, None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(
        [python, "manage.py", "issuetoken", "storm", "--role", "viewer"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [python, "manage.py", "createuser", "stormpage", "--role", "viewer", "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        check=True,
        capture_output=True,
        text=True,
    )
    log = open(f"{workdir}/serve.log", "wb")  # noqa: SIM115 - closed with the process
    serve = [python, "manage.py", "serve", "--port", str(port), *(["--no-monitor"] if monitor_process else [])]
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if monitor_process:
        monitor_log = open(f"{workdir}/monitor.log", "wb")  # noqa: SIM115 - closed with the process
        MONITORS[server.pid] = subprocess.Popen(
            [python, "manage.py", "monitor"], cwd=ROOT, env=env, stdout=monitor_log, stderr=subprocess.STDOUT
        )
    return server, f"http://127.0.0.1:{port}", token, env


#: Server pid -> the monitor process started beside it (``start_console(monitor_process=True)``).
MONITORS: dict[int, subprocess.Popen] = {}


def stop_console(server: subprocess.Popen) -> None:
    """Stop what :func:`start_console` started: the monitor process beside it, if any, then it."""
    monitor = MONITORS.pop(server.pid, None)
    for process in (monitor, server):
        if process is None:
            continue
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for_queues(base: str, token: str, count: int, server: subprocess.Popen, timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError("the console exited")
        try:
            answer = requests.get(
                base + "/api/v1/queues?limit=1", headers={"Authorization": f"Token {token}"}, timeout=10
            )
            if answer.ok and answer.json()["count"] >= count:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{count} queues not listed within {timeout} s")


def run(
    queues: int,
    clients: int,
    seconds: float,
    page_times: int,
    batch: bool = True,
    watch: int | None = None,
    compare: bool = False,
) -> dict:
    from tests.brokers import PrivateRedis

    workdir = tempfile.mkdtemp(prefix="switchyard-storm-")
    redis_server = PrivateRedis()
    redis_server.start()
    server = None
    try:
        fill_queues(redis_server.url, queues)
        server, base, token, _env = start_console(workdir, redis_server.url, clients)
        listed_after_s = wait_for_queues(base, token, queues, server)
        time.sleep(6)  # a few rounds after the first (which creates every row)
        session = login(base, "stormpage")
        result: dict = {
            "queues": queues,
            "clients": clients,
            "batched_frames": batch,
            "listed_after_s": round(listed_after_s, 1),
        }
        rss_idle = rss_mb(server.pid)
        cpu_start, started = cpu_seconds(server.pid), time.monotonic()
        time.sleep(10)
        result["monitor_only"] = {
            "server_cpu_percent": round(100 * (cpu_seconds(server.pid) - cpu_start) / (time.monotonic() - started)),
            "rss_mb": round(rss_idle, 1),
            "pages": page_figures(base, token, session, page_times),
        }
        phases = [("every_queue", None)] if watch is None or compare else []
        if watch is not None:
            phases.append((f"watching_{watch}_queues", client_pages(base, token, clients, watch)))
        for name, pages in phases:
            result[name] = storm(server, base, token, session, (queues, clients, seconds, page_times, batch), pages)
        result["fanout"] = fanout_figures(result, [name for name, _pages in phases])
        return result
    finally:
        if server is not None:
            stop_console(server)
        redis_server.kill()


def storm(server: subprocess.Popen, base: str, token: str, session: requests.Session, shape: tuple, pages) -> dict:
    """One storm: ``shape`` = (queues, clients, seconds, page_times, batch): the clients read for
    ``seconds``, watching ``pages`` (client i the queue ids ``pages[i]``) or every queue (None)."""
    queues, clients, seconds, page_times, batch = shape
    rss_series: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rss_series.append(rss_mb(server.pid))
            stop.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    pages_during: dict = {}

    def pages_later() -> None:
        stop.wait(seconds / 2)
        if not stop.is_set():
            pages_during.update(page_figures(base, token, session, page_times))

    pager = threading.Thread(target=pages_later, daemon=True)
    pager.start()
    cpu_start, started = cpu_seconds(server.pid), time.monotonic()
    ws_url = f"{base.replace('http', 'ws')}/ws/stream?token={token}"
    per_client = asyncio.run(clients_read(ws_url, clients, seconds, batch, pages))
    elapsed = time.monotonic() - started
    cpu_used = cpu_seconds(server.pid) - cpu_start
    pager.join(120)
    stop.set()
    watcher.join(5)
    rounds = elapsed / 2.0
    return {
        "seconds": round(elapsed, 1),
        "server_cpu_percent": round(100 * cpu_used / elapsed),
        "changes_offered_per_client": round(queues * rounds),
        "queues_watched_per_client": len(pages[0]) if pages else queues,
        "frames_per_client_p50": statistics.median(c["messages"] for c in per_client),
        "samples_per_client_p50": statistics.median(c["samples"] for c in per_client),
        "samples_per_client_min": min(c["samples"] for c in per_client),
        "distinct_queues_per_client_p50": statistics.median(c["distinct_queues"] for c in per_client),
        "dropped_told_per_client_p50": statistics.median(c["dropped"] for c in per_client),
        "mb_per_client_p50": round(statistics.median(c["bytes"] for c in per_client) / 2**20, 1),
        "clients_with_errors": sum(1 for c in per_client if c["errors"]),
        "errors": [e for c in per_client for e in c["errors"]][:5],
        "rss_mb_start_peak_end": [
            round(rss_series[0], 1) if rss_series else None,
            round(max(rss_series), 1) if rss_series else None,
            round(rss_series[-1], 1) if rss_series else None,
        ],
        "rss_mb_every_10s": [round(v, 1) for v in rss_series[::10]],
        "pages": pages_during,
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
    }


def fanout_figures(result: dict, phases: list[str]) -> dict:
    """The target figures of each storm, first in the output: the server's CPU beyond the monitor's
    own (the fan-out's cost), what each client received, and the RSS peak."""
    monitor_cpu = result["monitor_only"]["server_cpu_percent"]
    return {
        name: {
            "queues_watched_per_client": result[name]["queues_watched_per_client"],
            "server_cpu_percent": result[name]["server_cpu_percent"],
            "fanout_cpu_percent": result[name]["server_cpu_percent"] - monitor_cpu,
            "samples_per_client_p50": result[name]["samples_per_client_p50"],
            "mb_per_client_p50": result[name]["mb_per_client_p50"],
            "rss_mb_peak": result[name]["rss_mb_start_peak_end"][1],
            "loadavg_end": result[name]["loadavg_end"],
        }
        for name in phases
    } | {"monitor_only_cpu_percent": monitor_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--page-times", type=int, default=10)
    parser.add_argument("--frames", action="store_true", help="clients take one message per event (no batch)")
    parser.add_argument("--watch", type=int, default=None, help="each client watches this many queues (a page)")
    parser.add_argument("--compare", action="store_true", help="every queue, then --watch (default 100) queues")
    args = parser.parse_args()
    watch = args.watch if args.watch is not None else (100 if args.compare else None)
    figures = run(args.queues, args.clients, args.seconds, args.page_times, not args.frames, watch, args.compare)
    print(json.dumps({"fanout": figures.pop("fanout"), **figures}, indent=2))


if __name__ == "__main__":
    main()
