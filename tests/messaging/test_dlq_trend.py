"""A dead-letter queue nothing consumes is normal: its trend is never a red "stalled"."""

from pathlib import Path

from messaging.lag import GROWING, STALLED, STEADY, Observation, QueueHistory, observe, trend

CSS = Path(__file__).resolve().parents[2] / "static" / "switchyard" / "app.css"


def test_dlq_without_consumers_and_steady_depth_is_steady_not_stalled():
    window = [(12, 0.0)] * 5
    assert trend(window) == STALLED  # a work queue like this needs someone now
    assert trend(window, dead_letter=True) == STEADY


def test_dlq_that_keeps_filling_is_growing():
    assert trend([(1, 0.0), (3, 0.0), (6, 0.0)], dead_letter=True) == GROWING


def test_observe_reads_the_dead_letter_flag():
    history = QueueHistory()
    for at in range(4):
        figures = observe(history, Observation(at=at, depth=7, unacked=0, broker_consume_rate=0.0, dead_letter=True))
    assert figures.trend == STEADY


def test_only_stalled_is_red_growing_is_amber_and_a_dlq_tag_is_not_red():
    css = CSS.read_text()
    stalled = next(line for line in css.splitlines() if line.startswith("tr.trend-stalled"))
    growing = next(line for line in css.splitlines() if line.startswith("tr.trend-growing"))
    dlq_tag = next(line for line in css.splitlines() if line.startswith(".tag.dlq"))
    assert "var(--bad)" in stalled and "trend-growing" not in stalled
    assert "var(--warn)" in growing
    assert "var(--bad)" not in dlq_tag


def test_recorded_dlq_with_no_consumers_and_steady_depth_reads_steady_while_a_work_queue_stalls(db):
    """Through the sample recorder: the DLQ flag is known before the figures are computed."""
    from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
    from messaging.models import Queue
    from messaging.sample_recorder import BrokerMemory, record_sample

    config, memory = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0"), BrokerMemory()
    for _ in range(4):
        sample = BrokerSample(
            queues=[
                QueueStats(name="emails", depth=12, unacked=0, consumers=0, consume_rate=0.0, publish_rate=0.0),
                QueueStats(name="emails.dlq", depth=12, unacked=0, consumers=0, consume_rate=0.0, publish_rate=0.0),
            ]
        )
        record_sample(config, memory, sample, 0.01)
    trends = dict(Queue.objects.filter(broker="main").values_list("name", "trend"))
    assert Queue.objects.get(broker="main", name="emails.dlq").is_dlq
    assert trends == {"emails": STALLED, "emails.dlq": STEADY}
