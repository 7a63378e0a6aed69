"""The opt-in Celery integration with a real worker on real Redis: failures land in <queue>.dlq."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from tests.action_helpers import REDIS_URL, unique_name

ROOT = Path(__file__).resolve().parents[2]

APP = """
from celery import Celery
from celery.exceptions import Reject
from messaging.integrations.celery_dlq import install

app = Celery("dlqapp", broker={url!r})
app.conf.broker_transport_options = {{"global_keyprefix": {prefix!r}}}
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
install(app)

@app.task(name="dlqapp.fails", max_retries=1, default_retry_delay=0.1)
def fails(n):
    raise ValueError(f"boom <script>alert({{n}})</script>")

@app.task(name="dlqapp.retries", bind=True, max_retries=2, default_retry_delay=0.05)
def retries(self):
    try:
        raise KeyError("still missing")
    except KeyError as exc:
        raise self.retry(exc=exc)

@app.task(name="dlqapp.rejects")
def rejects():
    raise Reject("bad input", requeue=False)

@app.task(name="dlqapp.early", acks_late=False)
def early(x):
    raise RuntimeError("acked at delivery")

@app.task(name="dlqapp.ok")
def ok():
    return 1
"""


@pytest.mark.celery
def test_failed_tasks_land_in_the_dlq_with_a_death_record(tmp_path):
    prefix = unique_name("celerydlq") + ":"
    queue = unique_name("work")
    (tmp_path / "dlqapp.py").write_text(textwrap.dedent(APP.format(url=REDIS_URL, prefix=prefix)))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    client = redis.Redis.from_url(REDIS_URL)
    sys.path.insert(0, str(tmp_path))
    worker = None
    try:
        import dlqapp

        sent = {
            "fails": dlqapp.fails.apply_async((7,), queue=queue),
            "retries": dlqapp.retries.apply_async(queue=queue),
            "rejects": dlqapp.rejects.apply_async(queue=queue),
            "early": dlqapp.early.apply_async((1,), queue=queue),
            "ok": dlqapp.ok.apply_async(queue=queue),
        }
        stamped = json.loads(client.lindex(prefix + queue, -1))["headers"]
        assert abs(stamped["x-switchyard-published-at"] - time.time()) < 30
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dlqapp", "worker", "--pool=solo", "-Q", queue, "-l", "warning",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while client.llen(prefix + queue + ".dlq") < 4 or client.llen(prefix + queue):
            assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "failures did not reach the DLQ"
            time.sleep(0.1)
        while client.hlen(prefix + "unacked"):  # the worker acks after the DLQ write
            assert time.monotonic() < deadline, "a message stayed unacknowledged"
            time.sleep(0.1)
        dead = [json.loads(v) for v in client.lrange(prefix + queue + ".dlq", 0, -1)]
        by_task = {m["headers"]["task"].split(".")[-1]: m for m in dead}
        assert set(by_task) == {"fails", "retries", "rejects", "early"}
        assert {m["headers"]["id"] for m in dead} == {sent[k].id for k in by_task}

        death = by_task["fails"]["headers"]["x-death"][0]
        assert death["queue"] == queue and death["reason"] == "failed" and death["count"] == 1
        assert death["exception-type"] == "ValueError" and "boom" in death["exception-message"]
        assert "ValueError" in death["traceback"]
        assert by_task["fails"]["headers"]["x-first-death-queue"] == queue
        # The original message, exactly: same body, same publish stamp (read from Kombu's unacked hash).
        assert "x-switchyard-rebuilt" not in by_task["fails"]["headers"]
        assert by_task["retries"]["headers"]["x-death"][0]["exception-type"] == "KeyError"
        assert by_task["retries"]["headers"]["retries"] == 2
        assert by_task["rejects"]["headers"]["x-death"][0]["reason"] == "rejected"
        # acks_late=False: exact when Kombu still holds it in ``unacked``, else rebuilt; same task either way.
        assert by_task["early"]["headers"]["argsrepr"] == "(1,)"
        assert json.loads(__import__("base64").b64decode(by_task["early"]["body"]))[0] == [1]
        assert sent["ok"].id not in {m["headers"]["id"] for m in dead}
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("dlqapp", None)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_dead_letter_queue_is_the_consumed_queue_not_the_routing_key():
    """Celery's request names the exchange and routing key, not the queue: the worker's own queues
    and their bindings say which queue the message came from (``<queue>.dlq`` sits beside it)."""
    from types import SimpleNamespace

    from celery import Celery
    from kombu import Exchange, Queue

    from messaging.integrations.celery_dlq import _queue_of

    app = Celery("routing", set_as_current=False)
    app.conf.task_queues = [
        Queue("feeds", Exchange("tasks", type="topic"), routing_key="feed.#"),
        Queue("images", Exchange("media", type="direct"), routing_key="image.resize"),
        Queue("audit", Exchange("broadcast", type="fanout")),
        Queue("plain"),
    ]
    app.conf.task_default_queue = "plain"

    def queue_of(exchange: str, routing_key: str) -> str:
        task = SimpleNamespace(app=app, queue=None)
        return _queue_of(task, SimpleNamespace(delivery_info={"exchange": exchange, "routing_key": routing_key}))

    assert queue_of("tasks", "feed.import") == "feeds"
    assert queue_of("media", "image.resize") == "images"
    assert queue_of("broadcast", "anything") == "audit"
    assert queue_of("", "plain") == "plain"
    assert queue_of("plain", "plain") == "plain"
    # Nothing the worker consumes matches: the routing key, as before.
    assert queue_of("tasks", "other.thing") == "other.thing"
