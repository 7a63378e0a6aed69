"""Moving and deleting messages on RabbitMQ for operator actions: connecting, counting, in-flight
consumers and closing connections; the move itself is ``move_session.py``, whose docstring says
what it guarantees about loss and duplication.

The RabbitMQ adapter (``broker.py``) holds one :class:`RabbitMQMoves` and hands these calls to it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import amqp

from messaging.brokers.base import BrokerConfig, BrokerError, InFlight
from messaging.brokers.http import HttpClient
from messaging.brokers.moves import MovePlan, MoveSession
from messaging.brokers.rabbitmq.buffered_transport import BufferedConnection
from messaging.brokers.rabbitmq.connection import parse_amqp_url
from messaging.brokers.rabbitmq.move_session import CONFIRM_TIMEOUT_S, RabbitMQMoveSession
from messaging.brokers.urls import scrub_secret


def amqp_params(url: str) -> dict[str, Any]:
    """py-amqp connection arguments for the broker's URL, parsed as every other connection of the
    adapter parses it: ``amqps`` means TLS (and port 5671), never the credentials in clear."""
    address = parse_amqp_url(url)
    return {
        "host": f"{address.host}:{address.port}",
        "userid": address.user,
        "password": address.password,
        "virtual_host": address.connect_vhost,
        "ssl": address.ssl,
    }


class RabbitMQMoves:
    """The operator-action side of one RabbitMQ adapter: AMQP connections for moves and counts,
    the management API (through the adapter's ``http`` client) for in-flight consumers."""

    def __init__(self, config: BrokerConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http

    # -- AMQP ----------------------------------------------------------------------------------

    def connect(self, name: str = "switchyard") -> amqp.Connection:
        params = amqp_params(self.config.url)
        conn = BufferedConnection(
            **params, connect_timeout=5, read_timeout=CONFIRM_TIMEOUT_S, client_properties={"connection_name": name}
        )
        try:
            conn.connect()
        except (OSError, amqp.exceptions.AMQPError) as exc:
            raise self.error("connect", exc) from None
        return conn

    def error(self, doing: str, exc: BaseException) -> BrokerError:
        permanent = isinstance(exc, amqp.exceptions.AccessRefused | amqp.exceptions.NotAllowed)
        text = scrub_secret(f"rabbitmq {doing} failed: {exc or type(exc).__name__}", self.config.url)
        return BrokerError(text, permanent=permanent)

    def passive(self, queue: str) -> tuple[int, int] | None:
        """(ready messages, consumers), or None when the queue does not exist."""
        conn = self.connect("switchyard-count")
        try:
            channel = conn.channel()
            try:
                _, ready, consumers = channel.queue_declare(queue, passive=True)
            except amqp.exceptions.NotFound:
                return None
            return ready, consumers
        except (OSError, amqp.exceptions.AMQPError) as exc:
            raise self.error("passive declare", exc) from None
        finally:
            _quietly(conn.close)

    def count(self, queue: str) -> int | None:
        found = self.passive(queue)
        return found[0] if found else None

    def queue_exists(self, queue: str) -> bool | None:
        return self.passive(queue) is not None

    def open_move(self, plan: MovePlan) -> MoveSession:
        return RabbitMQMoveSession(self, plan)

    # -- management API ------------------------------------------------------------------------

    def _management(self, method: str, path: str) -> Any:
        """One management API call through the adapter's HTTP client (``messaging/brokers/http.py``)."""
        return self.http.request(method, path)

    def stuck_in_flight(self, older_than_s: float, limit: int = 200) -> list[InFlight]:
        """Consumers holding unacknowledged messages, per connection (``tag`` = connection name).
        RabbitMQ does not say how long a message has been held: ``age_s`` is how long the
        channel has been idle when it says so, else None; ``older_than_s`` is not applied."""
        vhost = quote(amqp_params(self.config.url)["virtual_host"], safe="")
        channels = self._management(
            "GET",
            f"/api/vhosts/{vhost}/channels?columns=name,connection_details,messages_unacknowledged,idle_since,consumer_count",
        )
        consumers = self._management("GET", f"/api/consumers/{vhost}")
        queues_by_channel: dict[str, set[str]] = {}
        for consumer in consumers or []:
            channel = (consumer.get("channel_details") or {}).get("name")
            queues_by_channel.setdefault(channel, set()).add((consumer.get("queue") or {}).get("name"))
        found = []
        for channel in channels or []:
            unacked = channel.get("messages_unacknowledged") or 0
            if not unacked:
                continue
            queues = sorted(q for q in queues_by_channel.get(channel.get("name"), ()) if q)
            found.append(
                InFlight(
                    tag=(channel.get("connection_details") or {}).get("name") or "",
                    queue=", ".join(queues) or None,
                    age_s=None,
                    consumer=channel.get("name"),
                    unacked=unacked,
                )
            )
        return found[:limit]

    def close_connection(self, name: str) -> None:
        """DELETE /api/connections/<name>: the broker requeues every message it held."""
        self._management("DELETE", f"/api/connections/{quote(name, safe='')}")


def _quietly(close: Any) -> None:
    try:
        close()
    except Exception:  # noqa: S110 - closing a dead connection has nothing to report
        pass
