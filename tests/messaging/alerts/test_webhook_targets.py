"""A webhook may not aim at the console itself, however the address is spelled (``127.1``,
``2130706433``, ``[::ffff:127.0.0.1]``, ``0``) and whatever DNS answers later (rebinding):
addresses are compared when a rule is saved and again on the connected socket of each delivery.
Receivers on other local ports stay allowed."""

from __future__ import annotations

import socket

import pytest
from django.utils import timezone

from messaging.alerts.notify import deliver
from messaging.alerts.targets import REFUSED, webhook_target_error
from messaging.models import WebhookDelivery
from tests.helpers.webhooks import WebhookReceiver

RULE = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 100, "for_s": 0, "severity": "warning"}
SPELLINGS = ["127.1", "2130706433", "[::ffff:127.0.0.1]", "0", "0x7f.1", "127.0.0.2", "[::1]", "[::]"]


@pytest.fixture
def receiver():
    made = WebhookReceiver()
    yield made
    made.close()


@pytest.mark.parametrize("host", SPELLINGS)
def test_every_spelling_of_this_machine_on_the_console_port_is_refused(host):
    url = f"http://{host}:8000/api/v1/alert-rules"
    assert webhook_target_error(url, "console.example.com", {8000}, ["console.example.com"]) == REFUSED


@pytest.mark.parametrize("host", SPELLINGS)
def test_this_machine_on_another_port_is_allowed(host):
    assert webhook_target_error(f"http://{host}:9999/hook", "console.example.com", {8000}, []) is None


def test_a_name_that_resolves_to_this_machine_is_refused_and_an_unresolvable_one_left_to_send_time():
    assert webhook_target_error("http://localhost:8000/x", "console.example.com", {8000}, []) == REFUSED
    assert webhook_target_error("http://no-such-host.invalid:8000/x", "console.example.com", {8000}, []) is None


def test_live_console_refuses_webhooks_aimed_back_at_it(live_console, make_user, receiver):
    console = live_console(monitor=False)
    _, admin = make_user("admin")
    for host in SPELLINGS:
        url = f"http://{host}:{console.port}/api/v1/alert-rules"
        answer = console.api("/api/v1/alert-rules", admin, method="POST", json={**RULE, "webhook_url": url})
        assert answer.status_code == 400 and "webhook_url" in answer.json()["detail"], (url, answer.text)
    # A real receiver on another local port (how the alert tests work) is still fine.
    answer = console.api("/api/v1/alert-rules", admin, method="POST", json={**RULE, "webhook_url": receiver.url})
    assert answer.status_code == 201, answer.text


def test_dns_rebinding_to_the_console_is_refused_when_sending(client, tokens, receiver, settings, monkeypatch):
    """The receiver stands in for the console (its port is the console's). At validation the name
    resolves to a documentation address elsewhere; when the webhook is sent it resolves here."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    settings.SWITCHYARD_EXTERNAL_URL = f"http://127.0.0.1:{port}"
    real_getaddrinfo = socket.getaddrinfo
    answer_with = {"address": "203.0.113.7"}

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == "rebind.example":
            return real_getaddrinfo(answer_with["address"], *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    url = f"http://rebind.example:{port}/api/v1/alert-rules"
    created = client.post(
        "/api/v1/alert-rules",
        data={**RULE, "webhook_url": url},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {tokens['admin']}",
    )
    assert created.status_code == 201, created.json()

    answer_with["address"] = "127.0.0.1"
    row = WebhookDelivery.objects.create(
        event="firing", url=url, payload={"version": "4"}, next_attempt_at=timezone.now()
    )
    assert deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.last_error.startswith("refused:") and receiver.attempts == 0
