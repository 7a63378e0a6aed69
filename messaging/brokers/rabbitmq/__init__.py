"""The RabbitMQ transport: the adapter (``broker``, management API first), its AMQP side
(``connection``: URL parsing, connecting, passive declares), the operator-action helper the
adapter holds (``moves``: counts, in-flight channels, closing connections, opening moves), the
move session (``move_session``) with its publisher confirms (``confirms``) and message identity
(``move_messages``), and the batched socket I/O moves use (``buffered_transport``)."""

from messaging.brokers.rabbitmq.broker import RabbitMQBroker

__all__ = ["RabbitMQBroker"]
