"""Keep-firing defaults (two sample intervals) follow the interval the monitor samples at, which
the TOML file's ``sample_interval`` sets, not the environment's default."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from messaging.alerts.engine import AlertEngine
from messaging.alerts.task_figures import TaskFigures
from messaging.config import load_config
from messaging.models import Alert, AlertRule
from messaging.monitor import Monitor
from messaging.runtime import sample_interval

TOML_INTERVAL_S = 30.0
ENVIRONMENT_INTERVAL_S = 2.0


@pytest.fixture
def workers(transactional_db):
    """The task figures the engine polls; ``workers.online`` is what the next poll reports."""

    class Workers:
        online = 0

    return Workers


def test_task_alert_keeps_firing_for_two_of_the_toml_files_sample_intervals(tmp_path, settings, workers):
    settings.SWITCHYARD_SAMPLE_INTERVAL = ENVIRONMENT_INTERVAL_S
    path = tmp_path / "switchyard.toml"
    path.write_text(f'sample_interval = {TOML_INTERVAL_S}\n[brokers.main]\nurl = "redis://127.0.0.1:6379/15"\n')
    config = load_config({"SWITCHYARD_CONFIG": str(path)})
    monitor = Monitor(config, sample_interval(config))
    engine = AlertEngine(monitor, task_figures=lambda: TaskFigures(workers_online=workers.online))
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="No workers", metric="workers_online", op="<", threshold=1, for_s=0)

    asyncio.run(engine._tick([]))
    alert = Alert.objects.get()
    assert alert.state == "firing"

    # Ten seconds after the condition last held: past two environment intervals (4 s), well
    # within two of the file's (60 s), so the alert keeps firing.
    ten_seconds_ago = alert.last_true_at - timedelta(seconds=10)
    Alert.objects.filter(pk=alert.pk).update(last_true_at=ten_seconds_ago, fired_at=ten_seconds_ago)
    workers.online = 3
    asyncio.run(engine._tick([]))
    alert.refresh_from_db()
    assert alert.state == "firing" and alert.resolved_at is None
