"""Delivering one webhook row against a real local receiver: success, retry, permanent failure,
and a row left pending by a stopped console being sent by the next one."""

import pytest
from django.utils import timezone

from messaging.alerts.notify import backoff_s, deliver, due_deliveries
from messaging.models import WebhookDelivery
from tests.helpers.webhooks import WebhookReceiver


@pytest.fixture
def receiver_factory():
    made = []

    def make(**kwargs):
        made.append(WebhookReceiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def pending_row(url):
    return WebhookDelivery.objects.create(
        event="firing", url=url, payload={"version": "4", "status": "firing"}, next_attempt_at=timezone.now()
    )


def test_pending_row_is_due_and_delivered(db, receiver_factory):
    receiver = receiver_factory()
    row = pending_row(receiver.url)
    assert row.pk in due_deliveries(set(), 10)
    assert deliver(row.pk) == "delivered"
    row.refresh_from_db()
    assert row.attempts == 1 and row.response_status == 200 and row.delivered_at
    assert receiver.received == [{"version": "4", "status": "firing"}]
    assert row.pk not in due_deliveries(set(), 10)


@pytest.mark.parametrize("status, outcome", [(500, "pending"), (429, "pending"), (404, "failed"), (400, "failed")])
def test_retry_only_what_may_pass(db, receiver_factory, settings, status, outcome):
    settings.SWITCHYARD_WEBHOOK_BACKOFF_S = 30
    row = pending_row(receiver_factory(statuses=[status]).url)
    assert deliver(row.pk) == outcome
    row.refresh_from_db()
    assert row.response_status == status and f"HTTP {status}" in row.last_error
    assert (row.next_attempt_at is not None) == (outcome == "pending")


def test_refused_connection_is_retried_and_credentials_never_recorded(db, settings):
    from tests.conftest import free_port

    settings.SWITCHYARD_WEBHOOK_TIMEOUT_S = 2
    row = pending_row(f"http://hook:pa55word@127.0.0.1:{free_port()}/x")
    assert deliver(row.pk) == "pending"
    row.refresh_from_db()
    assert "connection failed" in row.last_error and "pa55word" not in row.last_error


def test_gives_up_after_max_attempts(db, receiver_factory, settings):
    settings.SWITCHYARD_WEBHOOK_MAX_ATTEMPTS = 2
    row = pending_row(receiver_factory(statuses=[503, 503, 503]).url)
    assert deliver(row.pk) == "pending"
    assert deliver(row.pk) == "failed"


def test_backoff_doubles_and_caps(settings):
    settings.SWITCHYARD_WEBHOOK_BACKOFF_S = 5
    assert [backoff_s(n) for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff_s(30) == 600
