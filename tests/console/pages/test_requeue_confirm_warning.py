"""On RabbitMQ a dry run or a selective requeue takes the messages it leaves and gives them back,
which is browsing: its confirmation says so, as the message browser does; a plain requeue of all
does not (and Redis never does)."""

from __future__ import annotations

import amqp
from django.test import Client

from messaging.browsing import BROWSE_WARNING
from tests.action_helpers import make_queue, rabbit_vhost, unique_name  # noqa: F401  (fixture)


def confirmation(client: Client, queue_id: int, **form: str) -> str:
    response = client.post(f"/queues/{queue_id}/act/", {"kind": "requeue", **form}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_rabbitmq_confirmation_warns_for_dry_runs_and_filters_only(rabbit_vhost, make_user):
    config, vhost = rabbit_vhost
    source_name, dlq_name = unique_name("src"), unique_name("src-dlq")
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    try:
        channel = connection.channel()
        for name in (source_name, dlq_name):
            channel.queue_declare(name, durable=True, auto_delete=False)
        channel.basic_publish(amqp.Message(b"{}"), routing_key=dlq_name)
    finally:
        connection.close()
    source = make_queue(config.name, source_name, vhost=vhost)
    dlq = make_queue(config.name, dlq_name, dlq_of=source, vhost=vhost)
    client = Client()
    client.force_login(make_user("operator")[0])
    fragment = BROWSE_WARNING[:40]

    assert fragment not in confirmation(client, dlq.pk, selection="all")
    assert fragment in confirmation(client, dlq.pk, selection="all", dry_run="on")
    assert fragment in confirmation(client, dlq.pk, selection="filter", filter_task="app.tasks.x")
