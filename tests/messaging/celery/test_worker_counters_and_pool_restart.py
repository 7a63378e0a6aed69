"""Real Celery workers on Redis: per-worker failed / retried counters from the ingested task
events, name and worker filters that match part of a value, and pool restart reported as the
worker answered it (an error where pool restarts are off, ok where they are on)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from messaging.models import AuditEntry
from tests.celery_helpers import ROOT, CeleryEnv, env, redis_env, start  # noqa: F401 (env: a fixture)
from tests.waiting import wait_for

pytestmark = pytest.mark.celery


def start_worker_allowing_pool_restarts(env: CeleryEnv, name: str) -> str:
    """A prefork worker of the demo app with ``worker_pool_restarts=True``."""
    hostname = f"{name}@{env.prefix.strip('.')}"
    command = [
        sys.executable, "-m", "celery", "-A", "tests.messaging.celery.pool_restart_app", "worker", "-P", "prefork",
        "-c", "1", "-Q", env.queue, "-n", hostname, "--without-gossip", "--without-mingle", "-l", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env.environ(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    env.workers.append(process)
    return hostname


def workers_by_name(console, token) -> dict[str, dict]:
    return {w["hostname"]: w for w in console.api("/api/v1/workers", token).json()}


def inspected(console, token, hostnames):
    return wait_for(
        lambda: all((w := workers_by_name(console, token).get(h)) and w["pool"] for h in hostnames),
        timeout=30,
        message="inspection of " + ", ".join(hostnames),
    )


def task_state(console, token, task_id):
    response = console.api(f"/api/v1/tasks/{task_id}", token)
    return response.json()["state"] if response.status_code == 200 else None


def test_failed_and_retried_counters_and_partial_name_and_worker_filters(live_console, env, tokens):
    console = start(live_console, env)
    hostname, _ = env.start_worker("counting")
    inspected(console, tokens["viewer"], [hostname])
    time.sleep(0.5)
    app = env.producer_app()
    ok_id = env.send(app, "demo.add", (1, 2))
    email_id = env.send(app, "demo.send_email", ("ops@example.com",))
    failed_id = env.send(app, "demo.fail", ("no luck",))
    # Retries three times (a second apart), then fails for good.
    flaky_id = env.send(app, "demo.flaky", (1.0,))
    for task_id, final in ((ok_id, "SUCCESS"), (email_id, "SUCCESS"), (failed_id, "FAILURE"), (flaky_id, "FAILURE")):
        wait_for(lambda t=task_id, f=final: task_state(console, tokens["viewer"], t) == f, timeout=30, message=final)

    worker = wait_for(
        lambda: (w := workers_by_name(console, tokens["viewer"])[hostname]) and w["processed"] and w,
        timeout=20,
        message="a heartbeat with processed",
    )
    assert worker["failed"] == 2 and worker["retried"] == 1
    assert worker["processed"] >= 4  # the worker's own count: each retry is processed again
    detail = console.api(f"/api/v1/workers/{hostname}", tokens["viewer"]).json()
    assert (detail["failed"], detail["retried"]) == (2, 1)

    def ids(**params) -> set[str]:
        response = console.api("/api/v1/tasks", tokens["viewer"], params=params)
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()["results"]}

    assert ids(name="demo.send") == {email_id}
    assert ids(name="demo.send_email") == {email_id}  # an exact name still matches
    assert ids(name="FAIL") == {failed_id}
    assert ids(worker=hostname.split("@")[0]) == {ok_id, email_id, failed_id, flaky_id}
    assert ids(worker=hostname.split("@")[1], name="demo.") == {ok_id, email_id, failed_id, flaky_id}
    assert ids(worker="no-such-worker") == set()


def test_pool_restart_reports_the_workers_answer(live_console, env, tokens):
    console = start(live_console, env)
    refusing, _ = env.start_worker("refusing", pool="prefork")
    restarting = start_worker_allowing_pool_restarts(env, "restarting")
    inspected(console, tokens["viewer"], [refusing, restarting])

    def restart(hostname: str, token: str, confirm: str | None):
        body = {"command": "pool_restart", **({"confirm": confirm} if confirm is not None else {})}
        return console.api(f"/api/v1/workers/{hostname}/control", token, method="POST", json=body)

    assert restart(refusing, tokens["operator"], refusing).status_code == 403
    unconfirmed = restart(refusing, tokens["admin"], None)
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.text
    assert restart(refusing, tokens["admin"], "someone-else").status_code == 400
    assert not AuditEntry.objects.filter(action="worker.pool_restart").exists()

    refused = restart(refusing, tokens["admin"], refusing)
    assert refused.status_code == 200, refused.text
    answer = refused.json()
    assert answer["answered"] is True and answer["ok"] is False
    assert "Pool restarts not enabled" in answer["reply"]["error"]
    assert answer["outcome"].startswith("error:") and "Pool restarts not enabled" in answer["outcome"]

    restarted = restart(restarting, tokens["admin"], restarting)
    assert restarted.status_code == 200, restarted.text
    answer = restarted.json()
    assert answer["answered"] is True and answer["ok"] is True
    assert answer["reply"] == {"ok": "reload started"} and answer["outcome"] == "ok: reload started"

    entries = {e.params["hostname"]: e for e in AuditEntry.objects.filter(action="worker.pool_restart")}
    assert set(entries) == {refusing, restarting}
    assert "Pool restarts not enabled" in entries[refusing].outcome
    assert entries[restarting].outcome == "ok: reload started" and entries[restarting].username.startswith("admin")

    # The restarted worker still works.
    app = env.producer_app()
    task_id = env.send(app, "demo.add", (2, 2))
    wait_for(lambda: task_state(console, tokens["viewer"], task_id) == "SUCCESS", timeout=30, message="a task after")
