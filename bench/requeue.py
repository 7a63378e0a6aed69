"""Requeue throughput: Switchyard's no-loss requeue next to the raw broker limit, same run.

    .venv/bin/python bench/requeue.py [--messages 100000] [--redis URL] [--amqp URL] [--management URL]
                                      [--only redis|rabbitmq] [--rounds N]

Redis: Switchyard's action (``run_action``: peek, Lua move per batch with exact progress, a DB
progress row per batch) vs a bare Lua loop (RPOP + LPUSH, 500 per call, no checks).
RabbitMQ: Switchyard's action (consume, publish with confirms, ack after confirm, per batch)
vs a bare confirm-then-ack loop (prefetch 500, publish the batch, wait for confirms, ack multiple).
With ``--rounds N`` the RabbitMQ pair runs N times, alternating (Switchyard moves the messages to
the source, the bare loop moves them back), and the medians are reported: a noisy machine then
weighs on both sides alike.
Uses its own key prefix / vhost and a temporary SQLite database; removes them afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))  # after ROOT: tests/console must not shadow console

RAW_LUA = """
local n = 0
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('RPOP', KEYS[1])
  if not v then break end
  redis.call('LPUSH', KEYS[2], v)
  n = n + 1
end
return n
"""


def setup_django(db_path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ["SWITCHYARD_ACTION_RUNNER"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def operator():
    from django.contrib.auth import get_user_model

    from console.roles import set_role

    user, _ = get_user_model().objects.get_or_create(username="bench")
    set_role(user, "operator")
    return user


def run_switchyard(broker_name: str, source: str, dlq: str, vhost: str = "") -> tuple[int, float]:
    from messaging import actions
    from messaging.actions.runner import run_action
    from messaging.models import Action, Queue

    src, _ = Queue.objects.get_or_create(broker=broker_name, vhost=vhost, name=source, defaults={"depth": 0})
    dead, _ = Queue.objects.get_or_create(
        broker=broker_name, vhost=vhost, name=dlq, defaults={"depth": 0, "is_dlq": True}
    )
    src.dlq = dead
    src.save()
    action = actions.request_move(operator(), dead, kind=Action.REQUEUE, all=True)
    started = time.perf_counter()
    action = run_action(action.pk)
    elapsed = time.perf_counter() - started
    assert action.state == Action.SUCCEEDED, action.error
    return action.done, elapsed


def bench_redis(url: str, count: int) -> dict:
    import redis
    from action_helpers import celery_envelope, death_record, push

    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(url)
    source, dlq = "orders", "orders.dlq"
    try:
        values = [celery_envelope(source, death=death_record(source)) for _ in range(count)]
        size = sum(map(len, values)) / count
        push(client, prefix + dlq, values)
        set_config(SwitchyardConfig(brokers=(BrokerConfig(name="redis", url=f"{url}?global_keyprefix={prefix}"),)))
        moved, elapsed = run_switchyard("redis", source, dlq)
        assert client.llen(prefix + source) == count and moved == count
        # The raw limit: the same messages back, by a bare Lua loop.
        script = client.register_script(RAW_LUA)
        started = time.perf_counter()
        raw = 0
        while True:
            n = script(keys=[prefix + source, prefix + dlq], args=[500])
            raw += n
            if n < 500:
                break
        raw_elapsed = time.perf_counter() - started
        assert raw == count
        return {"broker": "redis", "messages": count, "avg_bytes": round(size), "switchyard_msgs_s": count / elapsed,
                "raw_lua_msgs_s": count / raw_elapsed}  # fmt: skip
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=10_000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])


def bench_rabbitmq(amqp_url: str, management: str, count: int, rounds: int = 1) -> dict:
    import amqp
    import requests
    from action_helpers import rabbit_adapter_path

    from messaging.brokers import registry
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    registry.ADAPTERS["amqp"] = rabbit_adapter_path()
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    api = management.split("@")[-1] if "@" in management else management
    api = ("http://" + api) if not api.startswith("http") else api
    auth = ("guest", "guest")
    requests.put(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=10).raise_for_status()
    requests.put(f"{api}/api/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"},
                 auth=auth, timeout=10).raise_for_status()  # fmt: skip
    source, dlq = "orders", "orders.dlq"
    try:
        conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
        conn.connect()
        ch = conn.channel()
        # As applications declare them: the source dead-letters into the DLQ through its arguments,
        # so a move back into it must not re-declare it (issue 12's PRECONDITION_FAILED).
        ch.queue_declare(dlq, durable=True, auto_delete=False)
        dead_lettering = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
        ch.queue_declare(source, durable=True, auto_delete=False, arguments=dead_lettering)
        body = json.dumps([[1, 2], {}, {}]).encode()
        for _ in range(count):
            task_id = str(uuid.uuid4())
            headers = {"task": "app.work", "id": task_id, "x-first-death-queue": source,
                       "x-death": [{"queue": source, "reason": "rejected", "count": 1}]}  # fmt: skip
            ch.basic_publish(amqp.Message(body, content_type="application/json", application_headers=headers,
                                          delivery_mode=2), exchange="", routing_key=dlq)  # fmt: skip
        while ch.queue_declare(dlq, passive=True)[1] < count:
            time.sleep(0.1)
        conn.close()
        set_config(SwitchyardConfig(brokers=(BrokerConfig(name="rabbit", url=f"{amqp_url.rstrip('/')}/{vhost}"),)))
        switchyard, raw = [], []
        for _ in range(rounds):
            moved, elapsed = run_switchyard("rabbit", source, dlq, vhost)
            assert moved == count
            switchyard.append(count / elapsed)
            raw.append(count / raw_confirm_then_ack(vhost, source, dlq, count))
        return {"broker": "rabbitmq", "messages": count, "rounds": rounds,
                "switchyard_msgs_s": statistics.median(switchyard), "raw_confirm_ack_msgs_s": statistics.median(raw),
                "switchyard_rounds": [round(r) for r in switchyard], "raw_rounds": [round(r) for r in raw]}  # fmt: skip
    finally:
        requests.delete(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=60)


def raw_confirm_then_ack(vhost: str, source: str, target: str, count: int, batch: int = 500) -> float:
    import amqp

    conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    conn.connect()
    ch = conn.channel()
    ch.confirm_select()
    confirmed = [0]
    ch.events["basic_ack"].add(lambda tag, multiple: confirmed.__setitem__(0, max(confirmed[0], tag)))
    ch.basic_qos(0, batch, False)
    buffer: list = []
    ch.basic_consume(source, callback=buffer.append, no_ack=False)
    started = time.perf_counter()
    moved = published = 0
    while moved < count:
        while len(buffer) < min(batch, count - moved):
            conn.drain_events(timeout=5)
        taken, buffer[:] = buffer[:batch], buffer[batch:]
        for m in taken:
            ch.basic_publish(amqp.Message(m.body, **{k: v for k, v in m.properties.items()}), exchange="",
                             routing_key=target)  # fmt: skip
            published += 1
        while confirmed[0] < published:
            conn.drain_events(timeout=5)
        ch.basic_ack(taken[-1].delivery_tag, multiple=True)
        moved += len(taken)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--amqp", default=os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--management", default="http://127.0.0.1:15672")
    parser.add_argument("--only", choices=["redis", "rabbitmq"])
    parser.add_argument("--rounds", type=int, default=1, help="RabbitMQ: alternate the pair N times, report medians")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        rows = []
        if args.only in (None, "redis"):
            rows.append(bench_redis(args.redis, args.messages))
        if args.only in (None, "rabbitmq"):
            rows.append(bench_rabbitmq(args.amqp, args.management, args.messages, args.rounds))
    for row in rows:
        raw = row.get("raw_lua_msgs_s") or row.get("raw_confirm_ack_msgs_s")
        print(f"{row['broker']:9} {row['messages']:>8} msgs  switchyard {row['switchyard_msgs_s']:>9,.0f} msg/s   "
              f"raw limit {raw:>9,.0f} msg/s   ({row['switchyard_msgs_s'] / raw:.0%} of raw)")  # fmt: skip
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
