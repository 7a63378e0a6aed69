"""The benchmark suite: every Switchyard figure next to its anchor measured in the same run.

    make bench                      # = .venv/bin/python -m bench.run
    .venv/bin/python -m bench.run --quick
    .venv/bin/python -m bench.run --only ingest,requeue

Runs each part as a subprocess (bench/ingest.py, requeue.py, sampling.py, api_latency.py,
live.py, load.py, kafka_sampling.py, kafka_replay.py, sqs.py), collects the JSON each prints last,
prints one table (Switchyard, anchor, ratio, target, met) and writes everything to
bench/results/<UTC date-time>.json. Flower 2.2 is installed into bench/.venv-flower (pinned in
bench/requirements-flower.txt) when missing; it is never a dependency of Switchyard. Timing is
not asserted anywhere: machines are noisy, the ratios in one run are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.part_rows import add_fleet_rows, add_kafka_replay_row, add_load_rows

ROOT = Path(__file__).resolve().parents[1]
FLOWER_VENV = ROOT / "bench" / ".venv-flower"
FLOWER_CELERY = FLOWER_VENV / "bin" / "celery"

# Issue 18's fleet-scale targets (and SQS, issue 16): the same sizes in full and quick runs.
FLEET = {
    "sampling_redis_10k": ["--only", "redis", "--queues", "10000", "--redis-queues", "10000", "--rounds", "10"],
    "sampling_rabbitmq_10k": ["--only", "rabbitmq", "--queues", "10000", "--rounds", "8"],
    "api_fleet": ["--fleet", "10000", "--repeats", "40"],
    "api_fleet_monitor_process": ["--fleet", "10000", "--repeats", "40", "--monitor-process"],
    "sqs": ["--queues", "200", "--messages", "300", "--rounds", "4"],
}
FULL = {
    "ingest": ["--events", "1000000", "--rate", "30000", "--flood-events", "200000", "--worker-tasks", "2000"],
    "requeue": ["--messages", "100000", "--rounds", "3"],
    "sampling": ["--queues", "1000", "--redis-queues", "10000", "--rounds", "10", "--churn"],
    "api": ["--tasks", "1000000", "--queues", "1000", "--repeats", "40"],
    "live": ["--clients", "1,200", "--rounds", "15"],
    "load": ["--clients", "200", "--rate", "50", "--duration", "60"],
    "kafka_sampling": ["--topics", "10", "--partitions", "100", "--groups", "100", "--rounds", "10", "--fresh-tansu"],
    "kafka_replay": ["--records", "20000", "--rounds", "5"],
    **FLEET,
}
QUICK = {
    "ingest": ["--events", "100000", "--rate", "30000", "--flood-events", "100000", "--worker-tasks", "500"],
    "requeue": ["--messages", "20000", "--rounds", "3"],
    "sampling": ["--queues", "1000", "--redis-queues", "10000", "--rounds", "4", "--churn"],
    "api": ["--tasks", "100000", "--queues", "1000", "--repeats", "20"],
    "live": ["--clients", "1,200", "--rounds", "6"],
    # 20 s: the slow clients pause 16 s, so a smaller outbox shows them stream.dropped.
    "load": ["--clients", "200", "--rate", "50", "--duration", "20", "--client-buffer", "100"],
    "kafka_sampling": ["--topics", "10", "--partitions", "100", "--groups", "100", "--rounds", "4", "--fresh-tansu"],
    "kafka_replay": ["--records", "10000", "--rounds", "3"],
    **FLEET,
}
MODULES = {
    "ingest": "bench.ingest",
    "requeue": "bench.requeue",
    "sampling": "bench.sampling",
    "api": "bench.api_latency",
    "live": "bench.live",
    "load": "bench.load",
    "kafka_sampling": "bench.kafka_sampling",
    "kafka_replay": "bench.kafka_replay",
    "sampling_redis_10k": "bench.sampling",
    "sampling_rabbitmq_10k": "bench.sampling",
    "api_fleet": "bench.api_latency",
    "api_fleet_monitor_process": "bench.api_latency",
    "sqs": "bench.sqs",
}


def ensure_flower() -> None:
    if FLOWER_CELERY.exists():
        return
    print(f"installing Flower into {FLOWER_VENV.relative_to(ROOT)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(FLOWER_VENV)], check=True)
    subprocess.run(
        [str(FLOWER_VENV / "bin" / "pip"), "install", "-q", "-r", str(ROOT / "bench/requirements-flower.txt")],
        check=True,
    )


def run_part(name: str, args: list[str]) -> dict:
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", MODULES[name], *args], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    text = done.stdout.strip()
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = json.loads(text.splitlines()[-1]) if text else None
        except ValueError:
            data = None
    if done.returncode != 0:
        print(f"  {name} failed ({done.returncode}):\n{done.stderr[-3000:]}", flush=True)
        # A part that measured and then found errors (load.py exits 1 on any) keeps its figures.
        failed = {"error": done.stderr[-3000:] or f"exit status {done.returncode}", "seconds": round(elapsed, 1)}
        return {**failed, "result": data} if isinstance(data, dict) else failed
    print(f"  done in {elapsed:.0f}s", flush=True)
    return {"result": data, "seconds": round(elapsed, 1)}


def load() -> dict:
    with open("/proc/loadavg") as f:
        return {"loadavg": f.read().split()[:3], "cpus": os.cpu_count()}


# -- the table --------------------------------------------------------------------------------


def rows(parts: dict) -> list[tuple]:
    """(area, what, switchyard, anchor, anchor label, ratio, target, met)."""
    out: list[tuple] = []

    def add(area, what, sy, anchor, label, target, met, ratio=None):
        if ratio is None and isinstance(sy, (int, float)) and isinstance(anchor, (int, float)) and anchor:
            ratio = sy / anchor
        out.append((area, what, sy, anchor, label, ratio, target, met))

    ing = parts.get("ingest", {}).get("result")
    if ing:
        s, f = ing["sustained"]["switchyard"], ing["sustained"].get("flower")
        offered = ing["sustained"]["offered_events_per_s"]
        fl = f or {}
        add(
            "ingest",
            f"sustained events/s (offered {offered:,}/s)",
            s["events_per_s"],
            fl.get("events_per_s"),
            "Flower",
            ">= 3x Flower",
            bool(f) and s["events_per_s"] >= 3 * f["events_per_s"],
        )
        add(
            "ingest",
            "lag after the burst, s",
            s["lag_after_publish_s"],
            fl.get("lag_after_publish_s"),
            "Flower",
            "",
            None,
        )
        add(
            "ingest",
            "events lost (sustained)",
            s["events_lost"],
            fl.get("events_lost"),
            "Flower",
            "every loss detected",
            s["loss_detected"],
        )
        mem = ing["sustained"]["memory"]
        add(
            "ingest",
            "RSS MB at 100k events",
            mem.get("switchyard_rss_mb_at_100000"),
            mem.get("flower_rss_mb_at_100000"),
            "Flower",
            "",
            None,
        )
        n = ing["sustained"]["events_published"]
        add(
            "ingest",
            f"RSS MB at end ({n:,} events)",
            s["rss_mb_end"],
            fl.get("rss_mb_end"),
            "Flower",
            "flat (<= 1.3x at 100k)",
            (s["rss_mb_end"] <= 1.3 * mem["switchyard_rss_mb_at_100000"])
            if mem.get("switchyard_rss_mb_at_100000")
            else None,
        )
        fs, ff = ing["flood"]["switchyard"], ing["flood"].get("flower") or {}
        add(
            "ingest",
            f"flood ({ing['flood']['offered_events_per_s']:,}/s offered) events lost",
            fs["events_lost"],
            ff.get("events_lost"),
            "Flower (uncounted)",
            "every loss detected",
            fs["loss_detected"],
        )
        rw = ing.get("real_workers")
        if rw:
            add(
                "ingest",
                f"real workers: {rw['tasks']} no-op tasks seen",
                rw["switchyard_tasks_seen"],
                rw["flower_tasks_seen"],
                "Flower",
                "all",
                rw["switchyard_tasks_seen"] >= rw["tasks"],
            )
    rq = parts.get("requeue", {}).get("result")
    if rq:
        for row in rq:
            if row["broker"] == "redis":
                add(
                    "requeue",
                    f"Redis {row['messages']:,} DLQ->source msg/s",
                    row["switchyard_msgs_s"],
                    row["raw_lua_msgs_s"],
                    "bare Lua loop",
                    ">= 50%",
                    row["switchyard_msgs_s"] >= 0.5 * row["raw_lua_msgs_s"],
                )
            else:
                add(
                    "requeue",
                    f"RabbitMQ {row['messages']:,} DLQ->source msg/s"
                    + (f" (median of {row['rounds']} alternating rounds)" if row.get("rounds", 1) > 1 else ""),
                    row["switchyard_msgs_s"],
                    row["raw_confirm_ack_msgs_s"],
                    "bare confirm-then-ack",
                    ">= 100%",
                    row["switchyard_msgs_s"] >= row["raw_confirm_ack_msgs_s"],
                )
    replay = parts.get("kafka_replay", {}).get("result")
    if replay:
        add_kafka_replay_row(add, replay)
    sm = parts.get("sampling", {}).get("result")
    if sm:
        for key, row in sm.items():
            add(
                "sampling",
                f"{key}: round p50 / max ms (CPU p50 {row['round_cpu_p50_ms']} ms)",
                row["round_p50_ms"],
                row["bare_sample_p50_ms"],
                "bare adapter sample",
                "< 1000 ms" if row["queues"] <= 1000 else "",
                row["round_max_ms"] < 1000 if row["queues"] <= 1000 else None,
            )
            out[-1] = (*out[-1][:2], f"{row['round_p50_ms']} / {row['round_max_ms']}", *out[-1][3:])
    api = parts.get("api", {}).get("result")
    if api:
        flower_api = (ing or {}).get("flower_api_tasks_limit100") or {}
        for key, row in api["calls"].items():
            anchor, label = (None, "")
            if key.startswith("tasks"):
                anchor, label = flower_api.get("p95_ms"), "Flower /api/tasks?limit=100 (<=10k tasks held)"
            add(
                "api",
                f"GET {key} p95 ms (p50 {row['p50_ms']}) over {api['tasks']:,} tasks / {api['queues']} queues",
                row["p95_ms"],
                anchor,
                label,
                "< 100 ms",
                row["p95_ms"] < 100,
            )
    ks = parts.get("kafka_sampling", {}).get("result")
    if ks:
        add(
            "sampling",
            f"Kafka {ks['partitions']:,} partitions / {ks['groups']} groups: warm round p50 ms "
            f"(first {ks['round_first_ms']}, cluster {ks['cluster_partitions']:,} partitions)",
            ks["round_warm_p50_ms"],
            ks["bare_read_p50_ms"],
            "bare admin calls",
            "< 1000 ms",
            ks["round_warm_p50_ms"] < 1000,
        )
    lv = parts.get("live", {}).get("result")
    if lv:
        interval_ms = lv["interval_s"] * 1000
        for run in lv["runs"]:
            q, t = run["queue_sample"], run["task_event"]
            add(
                "live",
                f"publish -> queue.sample p95 ms, {run['clients']} clients (p50 {q['p50_ms']})",
                q["p95_ms"],
                None,
                "",
                f"< {500 + interval_ms:.0f} ms",
                q["p95_ms"] is not None and q["p95_ms"] < 500 + interval_ms,
            )
            add(
                "live",
                f"celery event -> task.* p95 ms, {run['clients']} clients (p50 {t['p50_ms']})",
                t["p95_ms"],
                None,
                "",
                "< 500 ms",
                t["p95_ms"] is not None and t["p95_ms"] < 500,
            )
    under_load = parts.get("load", {}).get("result")
    if under_load:
        add_load_rows(add, under_load)
    add_fleet_rows(add, parts)
    return out


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(parts: dict) -> str:
    header = ("area", "what", "Switchyard", "anchor", "anchor is", "ratio", "target", "met")
    body = [
        (a, w, fmt(s), fmt(an), label, f"{r:.2f}x" if r is not None else "-", t, fmt(m))
        for a, w, s, an, label, r, t, m in rows(parts)
    ]
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(parts: dict) -> str:
    header = "| area | what | Switchyard | anchor | anchor is | ratio | target | met |\n" + "|---" * 8 + "|"
    lines = [
        f"| {a} | {w} | {fmt(s)} | {fmt(an)} | {label} | {f'{r:.2f}x' if r is not None else '-'} | {t} | {fmt(m)} |"
        for a, w, s, an, label, r, t, m in rows(parts)
    ]
    return "\n".join([header, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k events, 20k requeue, 100k tasks: a few minutes")
    parser.add_argument("--only", default="", help="comma-separated parts: " + ",".join(MODULES))
    parser.add_argument("--requeue-broker", choices=["redis", "rabbitmq"], help="the requeue part on one broker only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--table", metavar="RESULTS_JSON", help="print a results file's table (Markdown) and exit")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())["parts"]))
        return
    plan = dict(QUICK if args.quick else FULL)
    if args.requeue_broker:
        plan["requeue"] = [*plan["requeue"], "--only", args.requeue_broker]
    names = [n for n in plan if not args.only or n in args.only.split(",")]
    if "ingest" in names:
        ensure_flower()
    started = datetime.now(UTC)
    record = {
        "started": started.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), **load()},
        "load_before": load(),
        "parts": {},
    }
    for name in names:
        record["parts"][name] = run_part(name, plan[name])
        record["parts"][name]["load_after"] = load()["loadavg"]
    record["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["table"] = [
        dict(zip(("area", "what", "switchyard", "anchor", "anchor_is", "ratio", "target", "met"), r))
        for r in rows(record["parts"])
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{started.strftime('%Y-%m-%dT%H%M')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print()
    print(table(record["parts"]))
    print(
        f"\nload average before {record['load_before']['loadavg']}, per part "
        f"{ {n: p.get('load_after') for n, p in record['parts'].items()} }"
    )
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
