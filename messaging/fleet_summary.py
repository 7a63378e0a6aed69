"""The fleet's first-glance figures, live: a ``queues.summary`` event after each sampling round.

A client that watches only the queues on its screen (``messaging.stream_routes``) no longer sees
every queue's sample, yet the overview's summary (how many queues, messages waiting and in
flight, DLQs holding dead letters, the oldest waiting message) is about all of them. The monitor
knows every queue's current figures after a round (the ``after_sample`` hook gets them), so the
summary is summed there, per broker, and published when it changed: one small event per round
for every client, whatever the fleet's size. The figures follow
``messaging.queue_queries.fleet_summary`` (present, non-system queues; unknown figures count as
none), which the page renders on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messaging.stream import make_event, publish_async


@dataclass
class BrokerTotals:
    queues: int = 0
    waiting: int = 0
    in_flight: int = 0
    dlqs_holding: int = 0
    dead_letters: int = 0
    oldest: dict[str, Any] | None = None


def broker_totals(events: list[dict[str, Any]]) -> BrokerTotals:
    """The summary figures of one broker's round: ``events`` are every queue's current
    ``queue.sample`` events (and the broker's ``broker.status``)."""
    totals = BrokerTotals()
    oldest_age = 0.0
    for event in events:
        if event["type"] != "queue.sample":
            continue
        data = event["data"]
        if not data["present"] or data["system"]:
            continue
        totals.queues += 1
        depth = data["depth"] or 0
        totals.waiting += depth
        totals.in_flight += data["unacked"] or 0
        if data["is_dlq"]:
            totals.dead_letters += depth
            totals.dlqs_holding += depth > 0
        else:
            age = data["oldest_age_s"] or 0
            if age > oldest_age:
                oldest_age = age
                totals.oldest = {"id": data["id"], "broker": data["broker"], "name": data["name"], "oldest_age_s": age}
    return totals


@dataclass
class FleetSummary:
    """Keeps each broker's latest totals and publishes their sum when it changes. Register
    :meth:`after_sample` as a monitor ``after_sample`` hook."""

    brokers: dict[str, BrokerTotals] = field(default_factory=dict)
    last_published: dict[str, Any] | None = None

    async def after_sample(self, broker: str, events: list[dict[str, Any]]) -> None:
        status = next((e["data"]["status"] for e in events if e["type"] == "broker.status"), "up")
        if status == "down":
            # A round that could not sample: the queues are still listed, their figures unknown.
            known = self.brokers.get(broker, BrokerTotals())
            self.brokers[broker] = BrokerTotals(queues=known.queues)
        else:
            self.brokers[broker] = broker_totals(events)
        summary = self.figures()
        if summary != self.last_published:
            self.last_published = summary
            await publish_async("queues", [make_event("queues", "queues.summary", summary, key="summary")])

    def figures(self) -> dict[str, Any]:
        """``{queues, waiting, in_flight, dlqs_holding, dead_letters, oldest}`` over every broker;
        ``oldest`` is ``{id, broker, name, oldest_age_s}`` or None."""
        every = list(self.brokers.values())
        ages = [t.oldest for t in every if t.oldest is not None]
        return {
            "queues": sum(t.queues for t in every),
            "waiting": sum(t.waiting for t in every),
            "in_flight": sum(t.in_flight for t in every),
            "dlqs_holding": sum(t.dlqs_holding for t in every),
            "dead_letters": sum(t.dead_letters for t in every),
            "oldest": max(ages, key=lambda o: o["oldest_age_s"]) if ages else None,
        }
