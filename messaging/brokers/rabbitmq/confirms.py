"""Publisher confirms of one move session's channel: which publishes the broker confirmed, which
it refused (nacked, or returned as unroutable), and the wait for a batch's answers."""

from __future__ import annotations

import time
from typing import Any

import amqp

from messaging.brokers.base import BrokerError


class PublisherConfirms:
    """Sequence numbers of the publishes on one channel in confirm mode (1, 2, ... in publish
    order, as the broker numbers them) and the broker's answer to each."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.published = 0
        self.refused: set[int] = set()
        self._confirmed: set[int] = set()
        self._confirmed_upto = 0

    def listen(self, channel: amqp.Channel) -> None:
        """Put ``channel`` in confirm mode and follow its acks, nacks and returns."""
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)

    def next_sequence(self) -> int:
        """The sequence number of the publish about to be sent."""
        self.published += 1
        return self.published

    def wait(self, conn: amqp.Connection, sequences: list[int]) -> None:
        """Until the broker confirmed or refused every one of ``sequences`` (ascending); raises
        :class:`BrokerError` when it has not within ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        waiting = 0  # sequences before it are settled: confirms come mostly in order, check each once
        while waiting < len(sequences):
            if self._acked(sequences[waiting]) or sequences[waiting] in self.refused:
                waiting += 1
                continue
            if time.monotonic() > deadline:
                raise BrokerError("the target did not confirm the batch in time")
            try:
                conn.drain_events(timeout=1.0)
            except TimeoutError:
                continue

    def _acked(self, seq: int) -> bool:
        return seq <= self._confirmed_upto or seq in self._confirmed

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._confirmed_upto = max(self._confirmed_upto, delivery_tag)
        else:
            self._confirmed.add(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self.refused.update(s for s in range(self._confirmed_upto + 1, delivery_tag + 1) if not self._acked(s))
        else:
            self.refused.add(delivery_tag)

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        # An unroutable publish is returned, then confirmed; its source message must stay. The
        # broker returns in publish order before the confirms, so the oldest publish not yet
        # confirmed is the one returned.
        pending = [
            s
            for s in range(self._confirmed_upto + 1, self.published + 1)
            if not self._acked(s) and s not in self.refused
        ]
        self.refused.add(pending[0] if pending else self.published)
