"""The queue list and the overview over a big fleet while the monitor samples it (issue 18 items
3 and 4): ``.venv/bin/python -m bench.api_latency --fleet 10000``. See bench/api_latency.py."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import requests

from bench.load import cpu_seconds
from bench.storm import fill_queues, login, start_console, stop_console, wait_for_queues

API_TARGET_MS = 50.0
PAGE_TARGET_MS = 1000.0


def _urls(fleet: int) -> dict[str, tuple[str, bool]]:
    """name -> (path, is the page): API calls with the token, the page with the session."""
    return {
        "health (floor)": ("/api/v1/health", False),
        "api page 100, middle": (f"/api/v1/queues?limit=100&offset={fleet // 2}", False),
        "api page 100, deepest": ("/api/v1/queues?limit=100&ordering=-depth", False),
        "api page 100, worst": ("/api/v1/queues?limit=100&ordering=worst", False),
        "api page 100, oldest": ("/api/v1/queues?limit=100&ordering=-oldest_age_s", False),
        "api page 100, name": ("/api/v1/queues?limit=100&name=q01&ordering=name", False),
        "overview page": ("/", True),
        "overview page 50, by name": ("/?sort=name&page=50", True),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def time_calls(base: str, token: str, page_session: requests.Session, fleet: int, repeats: int) -> dict:
    """Each URL ``repeats`` times, in turn (so every one meets the monitor's rounds alike)."""
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    urls = _urls(fleet)
    took: dict[str, list[float]] = {name: [] for name in urls}
    sizes: dict[str, int] = {}
    for round_ in range(repeats + 1):
        for name, (path, is_page) in urls.items():
            session = page_session if is_page else api
            started = time.perf_counter()
            answer = session.get(base + path, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            sizes[name] = len(answer.content)
            if round_:  # the first round warms up
                took[name].append(elapsed)
    return {
        name: {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_p95(times), 1),
            "max_ms": round(max(times), 1),
            "bytes": sizes[name],
        }
        for name, times in took.items()
    }


def run_fleet(fleet: int, repeats: int, monitor_process: bool = False) -> dict:
    from tests.brokers import PrivateRedis

    workdir = tempfile.mkdtemp(prefix="sy-bench-fleet-")
    redis_server = PrivateRedis()
    redis_server.start()
    server = None
    try:
        fill_queues(redis_server.url, fleet)
        server, base, token, _env = start_console(workdir, redis_server.url, 10, monitor_process)
        listed_after_s = wait_for_queues(base, token, fleet, server, timeout=600)
        time.sleep(6)  # a few rounds after the first (which creates every row)
        session = login(base, "stormpage")
        cpu_start, started = cpu_seconds(server.pid), time.monotonic()
        load_start = os.getloadavg()
        calls = time_calls(base, token, session, fleet, repeats)
        elapsed = time.monotonic() - started
        result = {
            "fleet": fleet,
            "repeats": repeats,
            "monitor": "own process (serve --no-monitor + manage.py monitor)" if monitor_process else "in-process",
            "listed_after_s": round(listed_after_s, 1),
            "server_cpu_percent": round(100 * (cpu_seconds(server.pid) - cpu_start) / elapsed),
            "loadavg_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
            "calls": calls,
            "targets": {"api_page_p95_ms": API_TARGET_MS, "overview_p95_ms": PAGE_TARGET_MS},
        }
    finally:
        if server is not None:
            stop_console(server)
        redis_server.kill()
    print_table(result)
    return result


def print_table(result: dict) -> None:
    """The figures next to their targets, for a person (stderr: stdout is the JSON)."""
    out = sys.stderr
    print(
        f"{result['fleet']:,} queues under monitor load, {result['repeats']} calls each, "
        f"server CPU {result['server_cpu_percent']}%, load average {result['loadavg_start_end']}",
        file=out,
    )
    for name, row in result["calls"].items():
        if name.startswith("api"):
            target = API_TARGET_MS
        elif name.startswith("overview"):
            target = PAGE_TARGET_MS
        else:
            target = None
        verdict = "" if target is None else ("met" if row["p95_ms"] < target else "NOT met")
        aim = f"< {target:.0f} ms" if target else "(anchor)"
        print(f"  {name:28} p95 {row['p95_ms']:8.1f} ms  p50 {row['p50_ms']:7.1f} ms  {aim:10} {verdict}", file=out)
