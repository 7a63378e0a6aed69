"""Task figures (workers online, task failure rate) as alert rules see them, and the type of the
provider the monitor's alert engine polls for them (the Celery side's: ``messaging/celery/figures.py``,
passed to :class:`~messaging.alerts.engine.AlertEngine` by ``messaging.monitor_process``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFigures:
    """Figures from Celery events. ``None`` is unknown (no event seen, integration off)."""

    workers_online: int | None = None
    task_failure_rate: float | None = None
    duplicate_deliveries: int | None = None


TaskFiguresProvider = Callable[[], TaskFigures | None]
