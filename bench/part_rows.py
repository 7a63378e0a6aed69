"""Table rows of ``bench.run``'s later parts: the Kafka replay, the load run, and the fleet-scale
parts (issue 18, and the SQS part of issue 16): 10,000-queue monitor rounds on Redis and
RabbitMQ, queue pages and the overview under the monitor's load, the SQS sample and redrive.
Each row: Switchyard's figure, the anchor measured in the same run, the target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Add = Callable[..., None]


def add_fleet_rows(add: Add, parts: dict[str, Any]) -> None:
    for name in ("sampling_redis_10k", "sampling_rabbitmq_10k"):
        result = parts.get(name, {}).get("result")
        if result:
            for key, row in result.items():
                _round_row(add, key, row)
    for name in ("api_fleet", "api_fleet_monitor_process"):
        api = parts.get(name, {}).get("result")
        if api:
            _api_fleet_rows(add, api)
    sqs = parts.get("sqs", {}).get("result")
    if sqs:
        _sqs_rows(add, sqs)


def _round_row(add: Add, key: str, row: dict[str, Any]) -> None:
    """One 10,000-queue monitor round: p95 against 1 s; the anchor is the broker's own call
    (Redis: the raw script calls; RabbitMQ: the management API's plain /api/queues)."""
    if "broker_call_p50_ms" in row:
        anchor, label = row["broker_call_p50_ms"], "broker's own calls (raw Redis scripts) p50"
    else:
        anchor, label = row.get("mgmt_list_p50_ms"), "management API GET /api/queues p50"
    add(
        "sampling",
        f"{key}: round p95 ms (p50 {row['round_p50_ms']}, CPU p50 {row['round_cpu_p50_ms']} ms, "
        f"alerts p50 {row.get('alert_eval_p50_ms')} ms)",
        row["round_p95_ms"],
        anchor,
        label,
        "< 1000 ms p95",
        row["round_p95_ms"] < 1000,
    )


def _api_fleet_rows(add: Add, api: dict[str, Any]) -> None:
    targets = api.get("targets", {})
    page_target = targets.get("api_page_p95_ms", 50.0)
    overview_target = targets.get("overview_p95_ms", 1000.0)
    floor = api["calls"].get("health (floor)", {}).get("p95_ms")
    for call, figures in api["calls"].items():
        if call.startswith("health"):
            continue
        target = overview_target if call.startswith("overview") else page_target
        add(
            "api",
            f"{call} of {api['fleet']:,} queues, monitor {api.get('monitor', 'in-process')}: "
            f"p95 ms (p50 {figures['p50_ms']})",
            figures["p95_ms"],
            floor,
            "GET /api/v1/health p95 (the server's floor)",
            f"< {target:.0f} ms",
            figures["p95_ms"] < target,
        )


def _sqs_rows(add: Add, sqs: dict[str, Any]) -> None:
    sample = sqs.get("sampling") or {}
    if sample:
        ours = sample["switchyard_s"] * 1000
        add(
            "sampling",
            f"SQS {sample['queues']} queues: one sample ms (median)",
            round(ours, 1),
            round(sample["bare_sequential_s"] * 1000, 1),
            "bare boto3 GetQueueAttributes, one after another",
            "< 1000 ms",
            ours < 1000,
        )
    redrive = sqs.get("redrive") or {}
    if redrive:
        ours, bare = redrive.get("switchyard_msgs_s"), redrive.get("bare_msgs_s")
        add(
            "requeue",
            f"SQS {redrive['messages']:,} DLQ redrive msg/s (median of {redrive['rounds']} alternating rounds)",
            ours,
            bare,
            "bare boto3 receive/send/delete loop",
            ">= 100%",
            ours is not None and bare is not None and ours >= bare,
        )


def add_kafka_replay_row(add, replay: dict) -> None:
    cpu = replay.get("switchyard_cpu_us_per_record"), replay.get("bare_cpu_us_per_record")
    add(
        "requeue",
        f"Kafka {replay['records']:,} DLT replay records/s (median of {replay['rounds']} alternating rounds; "
        f"CPU {cpu[0]} vs {cpu[1]} us/record)",
        replay["switchyard_records_s"],
        replay["bare_produce_records_s"],
        "bare confluent-kafka produce loop",
        ">= 50%",
        replay["switchyard_records_s"] >= 0.5 * replay["bare_produce_records_s"],
    )
    warm = replay.get("bare_with_producer_id_records_s")
    if warm:
        add("requeue", "the same, anchor's producer holding its producer id before the timing",
            replay["switchyard_records_s"], warm, "bare loop, steady state", "", None)  # fmt: skip


def add_load_rows(add, load: dict) -> None:
    asked = load["api_rate_asked"]
    clients = f"{load['clients']} WebSocket clients"
    add("load", f"API requests/s achieved, {clients}", load["api_rate_achieved"], asked, "rate asked", ">= 95%",
        load["api_rate_achieved"] >= 0.95 * asked)  # fmt: skip
    p50, p95 = load["api_latency_ms_p50_p95"] or (None, None)
    add("load", f"API latency p95 ms (p50 {p50}), {clients}", p95, None, "", "", None)
    add("load", "errors (non-200, disconnects, stream.error)", len(load["errors"]), None, "", "0", not load["errors"])
    add("load", f"server RSS MB at end (start {load['rss_mb_start']}, peak {load['rss_mb_peak']})",
        load["rss_mb_end"], load["rss_mb_at_5s"], "RSS 5 s in", "level", None)  # fmt: skip
    dropped = load["slow_clients_dropped"]
    add("load", f"slow clients told stream.dropped ({sum(dropped):,} events dropped)",
        sum(1 for n in dropped if n > 0), len(dropped), "slow clients", "all", all(n > 0 for n in dropped))  # fmt: skip
