"""The domain's refusals: one family, mapped once for the API (``console/api/errors.py``) and once
for pages (``console/pages/errors.py``).

A :class:`DomainError` is a request the domain will not carry out, with an HTTP ``status`` and a
``detail`` the operator reads (a string, or per-field problems as a dict). It is never a broker
failure: those are :class:`messaging.brokers.base.BrokerError` (503 in the API).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request: ``status`` (400 unless said otherwise), ``detail`` (shown as is) and,
    where the API names the refusal more precisely than its status does, ``code`` (the API's
    ``error`` field, e.g. ``delivery_limit_risk``)."""

    status: int = 400
    code: str | None = None

    def __init__(self, detail: Any, status: int | None = None) -> None:
        super().__init__(str(detail))
        self.detail = detail
        if status is not None:
            self.status = status


class ActionRefused(DomainError):
    """An operator action (requeue, move, delete, purge, cancel, resume) cannot be accepted."""


def detail_text(detail: Any) -> str:
    """``detail`` as one line for a page: per-field problems become ``field: problem; ...``."""
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {detail_text(value)}" for key, value in detail.items())
    if isinstance(detail, list | tuple):
        return "; ".join(detail_text(item) for item in detail)
    return str(detail)


def unaddressable(broker: Any, queue: Any) -> str | None:
    """Why ``queue`` cannot be acted on or browsed through ``broker``, or None when it can: a
    queue in a vhost the connection does not open, or one whose name is shown escaped."""
    if getattr(queue, "name_escaped", False):
        return (
            f"the broker's name of queue {queue.name!r} is not valid text (shown escaped): Switchyard "
            "cannot address it; act on it with the broker's own tools"
        )
    if not broker.reaches(queue.vhost):
        return unreachable_vhost(broker, queue)
    return None


def unreachable_vhost(broker: Any, queue: Any) -> str:
    """Why ``queue`` cannot be acted on or browsed through ``broker`` (a 409 refusal's detail)."""
    return (
        f"queue {queue.name!r} is in vhost {queue.vhost!r}, but broker {queue.broker!r} connects to vhost "
        f"{broker.default_vhost!r}: acting there would reach that vhost's queue of the same name. Configure "
        f"a broker whose URL names vhost {queue.vhost!r} to act on this queue."
    )
