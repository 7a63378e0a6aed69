"""Sampling cost: one monitor round (broker sample + database write + events) over many queues.

Run: .venv/bin/python -m bench.sampling [--queues 1000] [--redis-queues 10000] [--rounds 10] [--soak-s 0]
Prints wall time and CPU per round for each broker (alert evaluation with the default rules
included, unless --no-alerts), next to the bare adapter sample and their ratio, on Redis next to
the broker's own cost of the sample's calls (``broker_call``: raw pipelines, no Python decoding;
``round_p50_over_broker_call``, ``round_p95_over_broker_call``), the load average,
and the process's memory over the run (with --soak-s, sampling continuously for that long).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def setup_django(db_path: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_redis_queues(count: int, prefix: str, empty: bool = False) -> None:
    """``count`` bound queues holding one message each (its age grows every round, so every
    queue's figures change), or with ``empty`` none (idle queues: nothing changes)."""
    import redis

    client = redis.Redis()
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        name = f"q{n:05d}"
        pipe.sadd(f"{prefix}_kombu.binding.{name}", f"{name}\x06\x16\x06\x16{name}")
        if not empty:
            pipe.lpush(f"{prefix}{name}", json.dumps({"body": "e30=", "headers": {}, "properties": {}}))
    pipe.execute()


def drop_redis_queues(prefix: str) -> None:
    import redis

    client = redis.Redis()
    keys = list(client.scan_iter(match=f"{prefix}*", count=10000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def make_rabbit_vhost(count: int) -> str:
    import amqp

    from messaging.brokers.http import HttpClient, path_segment

    http = HttpClient("http://guest:guest@127.0.0.1:15672")
    vhost = f"swbench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    http.put_json(f"/api/vhosts/{path_segment(vhost)}")
    http.put_json(f"/api/permissions/{path_segment(vhost)}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    channel = connection.channel()
    for n in range(count):
        channel.queue_declare(f"q{n:05d}", durable=False, auto_delete=False)
    connection.close()
    print(f"declared {count} queues in {vhost} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return vhost


def drop_rabbit_vhost(vhost: str) -> None:
    """Delete the run's vhost. Deleting 10,000 queues takes RabbitMQ longer than the console's
    10 s read timeout, hence a client of its own; a failure is reported, never loses the figures."""
    from messaging.brokers.http import HttpClient, path_segment

    try:
        HttpClient("http://guest:guest@127.0.0.1:15672", timeout=(3.0, 600.0)).delete(
            f"/api/vhosts/{path_segment(vhost)}"
        )
    except Exception as exc:
        print(f"could not delete vhost {vhost}: {exc}", file=sys.stderr)


#: What the RabbitMQ adapter asked every round before it sampled in two lanes: the listing with
#: statistics, cut to its columns (the broker still aggregates every queue's statistics).
STATS_LISTING_COLUMNS = (
    "name,vhost,type,messages_ready,messages_unacknowledged,consumers,arguments,effective_policy_definition,"
    "head_message_timestamp,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
)


def time_rabbit_lists(vhost: str, anchors: dict[str, list[float]]) -> None:
    """Before each round: the anchor, one plain ``GET /api/queues`` (every column, every vhost) as
    any client of the management API would list queues, and the one-call statistics listing of
    the vhost the adapter used to make. A listing RabbitMQ drops (it gives up on a request after
    a while under load) counts as a failure, not a figure."""
    import requests

    from messaging.brokers.http import path_segment

    for name, path, params in (
        ("mgmt_list", "/api/queues", None),
        ("stats_list", f"/api/queues/{path_segment(vhost)}", {"columns": STATS_LISTING_COLUMNS}),
    ):
        started = time.perf_counter()
        try:
            response = requests.get(
                "http://127.0.0.1:15672" + path, params=params, auth=("guest", "guest"), timeout=120
            )
            response.raise_for_status()
            response.json()
        except requests.RequestException as exc:
            print(f"{name} failed: {exc}", file=sys.stderr)
            anchors.setdefault(name + "_failures", []).append(1.0)
            continue
        anchors.setdefault(name, []).append(time.perf_counter() - started)


def anchor_figures(result: dict, anchors: dict[str, list[float]]) -> dict:
    """The listings' p50 and the round's p50 and p95 over the plain listing (rounds after the first)."""
    out: dict = {}
    for name in ("mgmt_list", "stats_list"):
        times = anchors.get(name, [])
        out[f"{name}_p50_ms"] = round(statistics.median(times[1:] or times) * 1000, 1) if times else None
        out[f"{name}_failures"] = len(anchors.get(name + "_failures", []))
    if out["mgmt_list_p50_ms"]:
        out["round_p50_over_mgmt_list"] = round(result["round_p50_ms"] / out["mgmt_list_p50_ms"], 2)
        out["round_p95_over_mgmt_list"] = round(result["round_p95_ms"] / out["mgmt_list_p50_ms"], 2)
    return out


def churn_redis(prefix: str, count: int) -> None:
    """Change every queue's depth, so each round has to write every queue (the worst case)."""
    import redis

    client = redis.Redis()
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.lpush(f"{prefix}q{n:05d}", json.dumps({"body": "e30=", "headers": {}, "properties": {}}))
    pipe.execute()


def measure(
    config,
    rounds: int,
    soak_s: float,
    churn=None,
    alerts: bool = True,
    profile: str | None = None,
    broker_call=None,
) -> dict:
    """``alerts``: the round includes alert evaluation (the default rules a new installation has,
    as ``build_monitor`` wires it); ``profile``: write a pyinstrument text profile of the rounds
    after the first to that path; ``broker_call``: given the broker after its first sample, a
    function timing the broker's own cost of one sample (the raw calls), measured every round
    next to the bare adapter sample."""
    from messaging.monitor import Monitor, MonitorHooks

    monitor = Monitor(config, interval=2.0, hooks=MonitorHooks())
    engine = None
    if alerts:
        from messaging.alerts.engine import AlertEngine

        engine = AlertEngine(monitor)
        monitor.hooks.after_sample.append(engine.after_sample)
    broker = monitor.brokers[0]
    bare, full, cpu, soak_rss, alert_s, raw = [], [], [], [], [], []
    profiler = None
    raw_call = None

    async def run() -> None:
        nonlocal profiler, raw_call
        for n in range(rounds):
            if churn:
                churn()
            started = time.perf_counter()
            broker.sample(())
            bare.append(time.perf_counter() - started)
            if broker_call is not None:
                raw_call = raw_call or broker_call(broker)
                raw.append(raw_call())
            if profile and n == 1:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled")
                profiler.start()
            cpu_before = time.process_time()
            started = time.perf_counter()
            await monitor.sample_once(broker)
            full.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_before)
            if engine is not None:
                alert_s.append(engine.last_duration_s or 0.0)
        if profiler is not None:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        if soak_s:
            deadline = time.monotonic() + soak_s
            while time.monotonic() < deadline:
                if churn:
                    churn()
                await monitor.sample_once(broker)
                soak_rss.append(rss_mb())
                await asyncio.sleep(monitor.interval)

    rss_before = rss_mb()
    load_before = os.getloadavg()
    asyncio.run(run())
    queues = len(monitor.memories[broker.name].queues)
    broker.close()
    if engine is not None:
        engine.executor.shutdown(wait=True)
    after_first = full[1:] or full
    return {
        "queues": queues,
        "alerts_evaluated": engine is not None,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "bare_sample_p50_ms": round(statistics.median(bare) * 1000, 1),
        # Round time over the bare broker call (both medians of the same rounds).
        "round_over_bare_p50": round(statistics.median(after_first) / statistics.median(bare[1:] or bare), 2),
        # The broker's own cost (raw calls, no Python decoding) and the round over it.
        **(raw_call_figures(raw, full) if raw else {}),
        "alert_eval_p50_ms": round(statistics.median(alert_s[1:] or alert_s) * 1000, 1) if alert_s else None,
        "round_p50_ms": round(statistics.median(full[1:] or full) * 1000, 1),
        "round_max_ms": round(max(full) * 1000, 1),
        # The first round creates every row; p95 and max of the rounds after it (nearest rank).
        "round_p95_ms": round(p95(full[1:] or full) * 1000, 1),
        "round_max_after_first_ms": round(max(full[1:] or full) * 1000, 1),
        "round_cpu_p95_ms": round(p95(cpu[1:] or cpu) * 1000, 1),
        "first_round_ms": round(full[0] * 1000, 1),
        "round_cpu_p50_ms": round(statistics.median(cpu[1:] or cpu) * 1000, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_mb(), 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "soak_s": soak_s,
        "soak_rounds": len(soak_rss),
        "soak_rss_mb_first_last": [round(soak_rss[0], 1), round(soak_rss[-1], 1)] if soak_rss else None,
        # RSS about once a minute of the soak (every 30th round at the 2 s interval).
        "soak_rss_mb_series": [round(value, 1) for value in soak_rss[::30]],
    }


def raw_call_figures(raw: list[float], full: list[float]) -> dict:
    """The raw broker call's p50 and the round's p50 and p95 over it (rounds after the first)."""
    call = statistics.median(raw[1:] or raw)
    after_first = full[1:] or full
    return {
        "broker_call_p50_ms": round(call * 1000, 1),
        "round_p50_over_broker_call": round(statistics.median(after_first) / call, 2),
        "round_p95_over_broker_call": round(p95(after_first) / call, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--redis-queues", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--soak-s", type=float, default=0.0)
    parser.add_argument("--only", choices=["redis", "rabbitmq"], default=None)
    parser.add_argument("--churn", action="store_true", help="Redis: change every queue before each round")
    parser.add_argument(
        "--empty", action="store_true", help="Redis: bound queues without messages (nothing changes between rounds)"
    )
    parser.add_argument("--no-alerts", action="store_true", help="rounds without alert evaluation")
    parser.add_argument("--profile", default=None, help="write a pyinstrument profile of the largest Redis run here")
    args = parser.parse_args()

    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="swbench-"))
    setup_django(workdir / "bench.sqlite3")
    from bench.redis_anchor import bare_broker_call
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig

    results = {}
    if args.only in (None, "redis"):
        for count in sorted({args.queues, args.redis_queues}):
            prefix = f"swbench-{uuid.uuid4().hex[:8]}:"
            make_redis_queues(count, prefix, args.empty)
            try:
                config = SwitchyardConfig(
                    brokers=(
                        BrokerConfig(
                            name=f"redis{count}", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": prefix}
                        ),
                    )
                )
                churn = (lambda p=prefix, c=count: churn_redis(p, c)) if args.churn else None
                soak = args.soak_s if count == args.queues else 0
                profile = args.profile if count == max(args.queues, args.redis_queues) else None
                results[f"redis_{count}"] = measure(
                    config, args.rounds, soak, churn, not args.no_alerts, profile, bare_broker_call
                )
            finally:
                drop_redis_queues(prefix)
    if args.only in (None, "rabbitmq"):
        vhost = make_rabbit_vhost(args.queues)
        try:
            from urllib.parse import quote

            config = SwitchyardConfig(
                brokers=(BrokerConfig(name="rabbit", url=f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"),)
            )
            anchors: dict[str, list[float]] = {}
            # measure() calls this before each round (its ``churn`` hook): the listings run next to it.
            result = measure(
                config, args.rounds, args.soak_s, lambda: time_rabbit_lists(vhost, anchors), not args.no_alerts
            )
            results[f"rabbitmq_{args.queues}"] = {**result, **anchor_figures(result, anchors)}
        finally:
            drop_rabbit_vhost(vhost)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
