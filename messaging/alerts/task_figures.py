"""Task figures (workers online, task failure rate) as alert rules see them, and the provider the
monitor polls for them (registered by the Celery side: ``messaging/celery/figures.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from messaging import runtime


@dataclass(frozen=True)
class TaskFigures:
    """Figures from Celery events. ``None`` is unknown (no event seen, integration off)."""

    workers_online: int | None = None
    task_failure_rate: float | None = None


TaskFiguresProvider = Callable[[], TaskFigures | None]


def set_task_figures_provider(provider: TaskFiguresProvider | None) -> None:
    """Register the function the monitor polls for task figures (the Celery event side), on the
    process's runtime (``messaging.monitor_process.build_monitor`` sets it there itself)."""
    runtime.current().task_figures = provider


def task_figures_provider() -> TaskFiguresProvider | None:
    return runtime.current().task_figures
