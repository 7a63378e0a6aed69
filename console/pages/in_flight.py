"""Messages stuck in flight, per broker: held by a consumer that is gone or hung.

Redis: operators restore selected deliveries to their queue now instead of waiting for Kombu's
visibility timeout. RabbitMQ: admins close the connection holding them and the broker requeues
what it held. Both need CSRF and a ticked confirmation; ``messaging.in_flight`` audits them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.roles import ADMIN, OPERATOR, has_role
from messaging import in_flight
from messaging.brokers.base import BrokerError
from messaging.brokers.capabilities import IN_FLIGHT_CHANNELS, IN_FLIGHT_MESSAGES, Capabilities
from messaging.brokers.registry import capabilities_for
from messaging.models import BrokerState
from messaging.process_config import broker_config

MAX_OLDER_THAN_S = 365 * 86400.0


def _broker(name: str) -> BrokerState:
    state = BrokerState.objects.filter(name=name).first()
    if state is None:
        raise Http404("no such broker")
    return state


def _older_than_s(raw: str | None) -> float:
    try:
        value = float(raw) if raw else settings.SWITCHYARD_STUCK_AFTER_S
    except ValueError:
        value = settings.SWITCHYARD_STUCK_AFTER_S
    if value != value or value < 0:  # NaN or negative: the default, not an error page
        value = settings.SWITCHYARD_STUCK_AFTER_S
    return min(value, MAX_OLDER_THAN_S)


def in_flight_page(request: HttpRequest, broker: str) -> HttpResponse:
    state = _broker(broker)
    older_than_s = _older_than_s(request.GET.get("older_than_s"))
    rows, error = [], ""
    try:
        rows = in_flight.stuck(broker, older_than_s)
    except BrokerError as exc:
        error = str(exc)
    capabilities = _capabilities(broker)
    return render(
        request,
        "pages/in_flight.html",
        {
            "broker": state,
            "rows": rows,
            "error": error,
            "older_than_s": older_than_s,
            "per_message": capabilities.in_flight == IN_FLIGHT_MESSAGES,
            "per_channel": capabilities.in_flight == IN_FLIGHT_CHANNELS,
            "can_restore": capabilities.restores_in_flight and has_role(request.user, OPERATOR),
            "can_close": capabilities.closes_connections and has_role(request.user, ADMIN),
            "nav": "in-flight",
        },
    )


def _capabilities(broker: str) -> Capabilities:
    """What the broker's adapter declares about in-flight messages; nothing for a broker this
    process has no configuration for (there is nothing to act on either)."""
    try:
        return capabilities_for(broker_config(broker).scheme)
    except BrokerError:
        return Capabilities()


def _confirmed(request: HttpRequest) -> bool:
    if request.POST.get("confirm") == "yes":
        return True
    flash.error(request, "Nothing done: tick the confirmation box first.")
    return False


@require_POST
def restore(request: HttpRequest, broker: str) -> HttpResponse:
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied("restoring in-flight messages needs the operator role")
    _broker(broker)
    tags = [t for t in request.POST.getlist("tag") if t][: in_flight.MAX_TAGS]
    if not tags:
        flash.error(request, "Nothing done: select at least one message.")
    elif _confirmed(request):
        try:
            outcome = in_flight.restore(request.user, broker, tags)
        except BrokerError as exc:
            flash.error(request, f"Restore failed: {exc}")
        else:
            flash.success(
                request,
                f"{len(outcome['restored'])} restored to their queue, {len(outcome['gone'])} already settled, "
                f"{len(outcome['errors'])} refused.",
            )
    return redirect("in-flight", broker=broker)


@require_POST
def close_connection(request: HttpRequest, broker: str) -> HttpResponse:
    if not has_role(request.user, ADMIN):
        raise PermissionDenied("closing a consumer's connection needs the admin role")
    _broker(broker)
    name = request.POST.get("connection", "")[:500]
    if not name:
        flash.error(request, "Nothing done: no connection named.")
    elif _confirmed(request):
        try:
            in_flight.close_connection(request.user, broker, name)
        except BrokerError as exc:
            flash.error(request, f"Closing {name} failed: {exc}")
        else:
            flash.success(request, f"Connection {name} closed; the broker requeues the messages it held.")
    return redirect("in-flight", broker=broker)
