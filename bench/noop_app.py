"""The Celery app the ingestion bench's real workers run: one no-op task, events on."""

import os

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/7"))
app.conf.update(
    worker_send_task_events=True,
    task_send_sent_event=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=50,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop():
    return None
