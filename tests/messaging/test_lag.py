"""The lag math: rates, head-of-line age, time to drain, trend."""

from messaging.lag import DRAINING, GROWING, IDLE, STALLED, Observation, QueueHistory, observe, time_to_drain, trend


def test_broker_rates_are_used_as_given():
    figures = observe(
        QueueHistory(), Observation(at=10, depth=5, unacked=0, broker_publish_rate=2.0, broker_consume_rate=1.5)
    )
    assert (figures.publish_rate, figures.consume_rate) == (2.0, 1.5)


def test_rates_unknown_without_broker_rates_or_event_counts():
    history = QueueHistory()
    observe(history, Observation(at=0, depth=10, unacked=0))
    figures = observe(history, Observation(at=2, depth=4, unacked=0))
    assert figures.publish_rate is None and figures.consume_rate is None
    assert figures.time_to_drain_s is None


def test_rates_from_consumed_counts_and_depth_change():
    history = QueueHistory()
    observe(history, Observation(at=0, depth=10, unacked=0, consumed_since_last=0))
    figures = observe(history, Observation(at=2, depth=14, unacked=0, consumed_since_last=6))
    assert figures.consume_rate == 3.0
    assert figures.publish_rate == 5.0  # (14 - 10 + 6) / 2
    assert figures.time_to_drain_s == 14 / 3.0


def test_oldest_age_is_exact_with_a_publish_timestamp():
    figures = observe(QueueHistory(), Observation(at=100, depth=3, unacked=0, head_published_at=40, head_digest="a"))
    assert figures.oldest_age_s == 60 and figures.oldest_age_exact


def test_oldest_age_counts_from_first_sighting_of_the_same_head():
    history = QueueHistory()
    assert observe(history, Observation(at=10, depth=3, unacked=0, head_digest="a")).oldest_age_s == 0
    assert observe(history, Observation(at=14, depth=3, unacked=0, head_digest="a")).oldest_age_s == 4
    later = observe(history, Observation(at=16, depth=2, unacked=0, head_digest="b"))
    assert later.oldest_age_s == 0 and not later.oldest_age_exact


def test_oldest_age_of_empty_queue_is_zero_and_unknown_without_head_info():
    assert observe(QueueHistory(), Observation(at=1, depth=0, unacked=0)).oldest_age_s == 0
    assert observe(QueueHistory(), Observation(at=1, depth=4, unacked=0)).oldest_age_s is None


def test_time_to_drain_counts_unacked_and_needs_consumption():
    assert time_to_drain(90, 10, 5.0) == 20
    assert time_to_drain(90, 10, 0.0) is None
    assert time_to_drain(None, 10, 5.0) is None


def test_trend_states():
    assert trend([(0, None), (0, None)]) == IDLE
    assert trend([(1, None), (3, None), (6, None)]) == GROWING
    assert trend([(9, 2.0), (5, 2.0), (1, 2.0)]) == DRAINING
    assert trend([(5, 0.0), (5, 0.0), (6, 0.0)]) == STALLED
    assert trend([(5, None)]) == ""


def test_a_depth_that_went_unknown_does_not_make_up_rates():
    history = QueueHistory()
    observe(history, Observation(at=0, depth=None, unacked=None, consumed_since_last=0))
    figures = observe(history, Observation(at=2, depth=7, unacked=0, consumed_since_last=2))
    assert figures.consume_rate == 1.0 and figures.publish_rate is None


def test_a_steady_producer_reads_a_steady_rate_not_the_sample_jitter():
    """1.5 messages/s produced and consumed at once, sampled every 2 s: each interval sees 2, 3 or
    4 messages (0.5 apart in arrival), so per-interval rates jump around; the window smooths them."""
    history = QueueHistory()
    seen_rates = []
    arrivals = [3, 2, 4, 3, 2, 4, 3, 2, 4, 3, 2, 4, 3, 2, 4, 3, 2, 4, 3, 3]  # 1.5/s on average
    observe(history, Observation(at=0, depth=0, unacked=0, consumed_since_last=0))
    for n, consumed in enumerate(arrivals, start=1):
        figures = observe(history, Observation(at=2 * n, depth=0, unacked=0, consumed_since_last=consumed))
        seen_rates.append(figures.consume_rate)
    settled = seen_rates[-10:]  # the window (30 s) is full
    assert all(abs(rate - 1.5) <= 0.1 for rate in settled), settled
    assert all(abs(publish - 1.5) <= 0.1 for publish in [figures.publish_rate])


def test_stalled_still_shows_within_the_trend_window_though_rates_are_averaged():
    history = QueueHistory()
    observe(history, Observation(at=0, depth=10, unacked=0, consumed_since_last=0))
    for n in range(1, 6):
        observe(history, Observation(at=2 * n, depth=10, unacked=0, consumed_since_last=5))
    for n in range(6, 6 + 10):
        figures = observe(history, Observation(at=2 * n, depth=10 + n, unacked=0, consumed_since_last=0))
    assert figures.consume_rate > 0  # the 30 s average still holds the earlier consumption
    assert figures.trend == STALLED  # but nothing was consumed over the whole trend window
