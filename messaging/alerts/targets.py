"""Whether a webhook would reach the console itself, judged by address rather than by spelling.

``127.1``, ``2130706433``, ``[::ffff:127.0.0.1]`` and ``0`` all name this machine, as does any
name whose DNS answer says so; comparing strings misses every one. So the host is resolved
(``getaddrinfo``, as the HTTP client will) and each address is compared, IPv4-mapped IPv6 read as
the IPv4 address it carries. The same policy runs twice: when a rule is saved
(:func:`webhook_target_error`) and on the connected socket of every delivery
(:func:`peer_refusal`, from messaging/alerts/http.py), so a name that resolves elsewhere at
validation and here later (DNS rebinding) is still refused.

What is refused is this console, not this machine: an address of this machine (loopback, the
unspecified address, any local interface) or of a host the console serves, on a port the console
serves. Receivers on other local ports stay allowed; tests aim webhooks at local HTTP servers.
The console's ports: when a rule is saved, the one the request reached it on and the one its server
is bound to; always, the port ``manage.py serve`` listens on (noted in that process, where the
monitor sends webhooks unless it runs apart) and ``SWITCHYARD_EXTERNAL_URL``'s (set it when the
monitor runs in its own process).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_noted_ports: set[int] = set()

REFUSED = "points at this console itself; webhooks must go to another service"


def note_console_port(port: int | None) -> None:
    """Remember that the console serves ``port`` in this process (send-time checks use it)."""
    if port:
        _noted_ports.add(int(port))


def console_ports() -> set[int]:
    """Every port this process knows the console to serve on."""
    ports = set(_noted_ports)
    try:
        external = urlsplit(settings.SWITCHYARD_EXTERNAL_URL)
        ports.add(external.port or (443 if external.scheme == "https" else 80))
    except ValueError:
        pass
    return ports


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> Address | None:
    try:
        return _unmapped(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def resolve(host: str, port: int) -> set[Address]:
    """The addresses ``host`` resolves to now (empty when it does not resolve)."""
    try:
        answers = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    return {a for a in (parse_address(str(info[4][0])) for info in answers) if a is not None}


def is_this_machine(address: Address) -> bool:
    """Loopback, unspecified, or an address of one of this machine's interfaces (binding to it
    works only if it is one)."""
    address = _unmapped(address)
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((str(address), 0))
        return True
    return False


def console_host_addresses(names: Iterable[str]) -> set[Address]:
    """Addresses of the names the console is reached by (its Host, ALLOWED_HOSTS entries)."""
    addresses: set[Address] = set()
    for name in names:
        name = name.strip().strip("[]").lstrip(".")
        if not name or "*" in name:
            continue
        literal = parse_address(name)
        addresses |= {literal} if literal is not None else resolve(name, 0)
    return addresses


def address_refusal(addresses: Iterable[Address], port: int, ports: set[int], own: set[Address]) -> str | None:
    """:data:`REFUSED` when ``port`` is a console port and any address is this machine's or the
    console's, else None."""
    if port not in ports:
        return None
    for address in addresses:
        address = _unmapped(address)
        if address in own or is_this_machine(address):
            return REFUSED
    return None


def webhook_target_error(url: str, console_host: str, ports: Iterable[int], allowed_hosts: Iterable[str]) -> str | None:
    """Why ``url`` (already well-formed) would reach this console, judged by what its host
    resolves to now; None when it would not. A host that does not resolve passes here (it may
    later; the send-time check covers that)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname or "", port)
    if not addresses:
        return None
    own = console_host_addresses([console_host, *allowed_hosts])
    return address_refusal(addresses, port, console_ports() | set(ports), own)


def peer_refusal(peer: tuple) -> str | None:
    """:data:`REFUSED` when a socket connected to ``peer`` (``getpeername()``) reached the
    console: the send-time half of the check, immune to what DNS says by then."""
    address = parse_address(str(peer[0]))
    if address is None:
        return None
    own = console_host_addresses(settings.ALLOWED_HOSTS)
    return address_refusal([address], int(peer[1]), console_ports(), own)
