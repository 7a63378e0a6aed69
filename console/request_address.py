"""Where a request reached the console, for the webhook checks that refuse URLs aimed there."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.request import split_domain_port

from messaging.alerts.actions import ConsoleAddress


def console_address(request: HttpRequest) -> ConsoleAddress:
    """The host and port ``request`` named (Host), and the port the server is bound to."""
    domain, port = split_domain_port(request.get_host())
    try:
        number = int(port) if port else int(request.get_port())
    except ValueError:
        number = 443 if request.is_secure() else 80
    bound = str(request.META.get("SERVER_PORT") or "")
    return ConsoleAddress(domain.strip("[]"), number, int(bound) if bound.isdigit() else None)
