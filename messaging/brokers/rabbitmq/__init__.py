"""The RabbitMQ transport: the adapter (``broker``, management API first), its AMQP side
(``connection``: URL parsing, connecting, passive declares), operator moves (``moves`` and the
session in ``move_session``) and the batched socket I/O moves use (``buffered_transport``)."""

from messaging.brokers.rabbitmq.broker import RabbitMQBroker

__all__ = ["RabbitMQBroker"]
