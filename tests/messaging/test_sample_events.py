"""Every queue's ``queue.sample`` event after a round, as the monitor's listeners get them: an
unchanged queue's event is its last one with the new sample time, and reads as a fresh one."""

from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.models import Queue
from messaging.sample_recorder import BrokerMemory, queue_event, record_sample

CONFIG = BrokerConfig(name="events-main", url="redis://127.0.0.1:6379/0")


def sample(depths: dict[str, int]) -> BrokerSample:
    return BrokerSample(queues=[QueueStats(name=name, depth=depth, unacked=0) for name, depth in depths.items()])


def without_ts(event: dict) -> dict:
    return {key: value for key, value in event.items() if key != "ts"}


def test_unchanged_queues_events_read_as_fresh_ones_with_the_new_sample_time(db):
    memory = BrokerMemory()
    record_sample(CONFIG, memory, sample({"idle": 0, "busy": 3, "gone": 1}), 0.01)
    record_sample(CONFIG, memory, sample({"idle": 0, "busy": 3, "gone": 1}), 0.01)

    outcome = record_sample(CONFIG, memory, sample({"idle": 0, "busy": 5}), 0.01)

    events = {e["data"]["name"]: e for e in outcome.all_events if e["type"] == "queue.sample"}
    for queue in Queue.objects.filter(broker=CONFIG.name):
        fresh = queue_event(memory.queues[(queue.vhost, queue.name)])
        assert without_ts(events[queue.name]) == without_ts(fresh)
    assert events["busy"]["data"]["depth"] == 5 and events["gone"]["data"]["present"] is False
    assert events["idle"]["data"]["sampled_at"] == events["busy"]["data"]["sampled_at"]
    published = {e["data"]["name"] for e in outcome.published if e["type"] == "queue.sample"}
    assert published == {"busy", "gone"}
