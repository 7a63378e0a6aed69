"""A RabbitMQ broker configured without a vhost lists the queues of every vhost, but its
connection opens ``/``: an action or a browse of a queue listed in another vhost must be refused,
never carried out on the same-named queue of ``/``."""

from __future__ import annotations

import amqp
import pytest
import requests

from messaging import actions, browsing
from messaging.actions.runner import run_action
from messaging.brokers import registry
from messaging.brokers.base import BrokerConfig
from messaging.browsing import BrowseRefused
from messaging.config import SwitchyardConfig
from messaging.errors import ActionRefused
from messaging.process_config import open_broker, set_config
from tests.action_helpers import AMQP_URL, MANAGEMENT_URL, make_queue, rabbit_adapter_path, unique_name

API = MANAGEMENT_URL.replace("guest:guest@", "")
AUTH = ("guest", "guest")


def fill(vhost: str, queue: str, count: int) -> None:
    conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    conn.connect()
    try:
        channel = conn.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        for n in range(count):
            channel.basic_publish(amqp.Message(f"{vhost} {n}".encode()), exchange="", routing_key=queue)
        channel.queue_declare(queue, passive=True)
    finally:
        conn.close()


def depth(vhost: str, queue: str) -> int:
    conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    conn.connect()
    try:
        return conn.channel().queue_declare(queue, passive=True)[1]
    finally:
        conn.close()


@pytest.fixture
def same_name_in_two_vhosts(settings, monkeypatch):
    """(queue name, other vhost): the name holds 3 messages in the other vhost and 2 in ``/``;
    broker ``rabbit`` is configured with no vhost in its URL."""
    settings.SWITCHYARD_ACTION_RUNNER = False
    monkeypatch.setitem(registry.ADAPTERS, "amqp", rabbit_adapter_path())
    vhost, name = unique_name("sy-vh"), unique_name("orders")
    requests.put(f"{API}/api/vhosts/{vhost}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(
        f"{API}/api/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=AUTH,
        timeout=10,
    ).raise_for_status()
    fill(vhost, name, 3)
    fill("/", name, 2)
    set_config(
        SwitchyardConfig(
            brokers=(BrokerConfig(name="rabbit", url=AMQP_URL.rstrip("/"), management_url=MANAGEMENT_URL),)
        )
    )
    yield name, vhost
    set_config(None)
    requests.delete(f"{API}/api/queues/%2F/{name}", auth=AUTH, timeout=30)
    requests.delete(f"{API}/api/vhosts/{vhost}", auth=AUTH, timeout=30)


def test_actions_on_a_queue_of_another_vhost_are_refused_not_run_on_slash(same_name_in_two_vhosts, make_user):
    name, vhost = same_name_in_two_vhosts
    with open_broker("rabbit") as broker:
        listed = {(q.vhost, q.name) for q in broker.sample().queues}
    assert (vhost, name) in listed and ("/", name) in listed  # the monitor lists both
    elsewhere = make_queue("rabbit", name, depth=3, vhost=vhost)
    admin = make_user("admin")[0]

    with pytest.raises(ActionRefused) as refused:
        action = actions.request_purge(admin, elsewhere, confirm=name)
        run_action(action.pk)
    assert refused.value.status == 409 and vhost in str(refused.value.detail)
    with pytest.raises(ActionRefused):
        actions.request_move(admin, elsewhere, kind="move", all=True, target=unique_name("parked"))
    with pytest.raises(ActionRefused):
        actions.request_delete(admin, elsewhere, ids=["x"])
    with pytest.raises(BrowseRefused) as browse_refused:
        browsing.browse(elsewhere, 0, 10, True, user=admin)
    assert browse_refused.value.status == 409
    assert depth("/", name) == 2 and depth(vhost, name) == 3  # nothing touched in either vhost

    on_slash = make_queue("rabbit", name, depth=2, vhost="/")
    action = actions.request_purge(admin, on_slash, confirm=name)
    run_action(action.pk)
    assert depth("/", name) == 0 and depth(vhost, name) == 3


def test_pages_and_api_of_a_queue_in_an_unreachable_vhost_answer_409_not_500(same_name_in_two_vhosts, make_user):
    from django.test import Client

    name, vhost = same_name_in_two_vhosts
    elsewhere = make_queue("rabbit", name, depth=3, vhost=vhost)
    operator, token = make_user("operator")
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    browse = api.post(f"/api/v1/queues/{elsewhere.pk}/messages", {"limit": 5}, content_type="application/json")
    assert browse.status_code == 409 and vhost in browse.json()["error"] + str(browse.json().get("detail"))
    move = api.post(
        f"/api/v1/queues/{elsewhere.pk}/move", {"all": True, "target": "parked"}, content_type="application/json"
    )
    assert move.status_code == 409
    page = Client()
    page.force_login(operator)
    assert page.get(f"/queues/{elsewhere.pk}/messages/").status_code == 200
    assert depth("/", name) == 2 and depth(vhost, name) == 3
