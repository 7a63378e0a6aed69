"""GET /api/v1/queues paged, filtered and sorted in the database (issue 18 item 3): with ``limit``
the answer is ``{count, results}``; without it, the plain list scripts already read."""

import json

import pytest

from console.api.serializers import QueueSerializer
from messaging import queue_queries
from messaging.models import BrokerState, Queue

# The whole list is streamed from an async iterator; the test client reads it synchronously.
pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")


@pytest.fixture
def get_queues(client, tokens):
    def call(**params):
        answer = client.get("/api/v1/queues", params, HTTP_AUTHORIZATION=f"Token {tokens['viewer']}")
        return answer.status_code, json.loads(b"".join(answer) if answer.streaming else answer.content)

    return call


@pytest.fixture
def fleet(db):
    BrokerState.objects.create(name="a", status=BrokerState.UP)
    BrokerState.objects.create(name="b", status=BrokerState.UP)
    for n in range(25):
        Queue.objects.create(broker="a" if n % 2 else "b", name=f"q{n:02d}", depth=n, oldest_age_s=float(100 - n))
    Queue.objects.create(broker="a", name="orders.dlq", depth=None, is_dlq=True, trend="growing")
    Queue.objects.create(broker="b", name="emails.dlq", depth=7, is_dlq=True, trend="stalled")
    Queue.objects.create(broker="a", name="gone", depth=3, present=False)


def names(rows):
    return [row["name"] for row in rows]


def test_without_limit_the_answer_is_the_whole_list(fleet, get_queues):
    status, rows = get_queues(broker="a", dlq="false")
    assert status == 200 and isinstance(rows, list)
    assert names(rows) == [f"q{n:02d}" for n in range(1, 25, 2)]  # broker, vhost, name order as before


def test_a_page_counts_every_match_and_holds_limit_rows(fleet, get_queues):
    status, page = get_queues(limit=10, offset=20, ordering="name")
    assert status == 200
    assert page["count"] == 27  # the absent queue is not listed
    everything = names(get_queues(ordering="name")[1])
    assert names(page["results"]) == everything[20:30]
    pages = [names(get_queues(limit=10, offset=o, ordering="name")[1]["results"]) for o in (0, 10, 20)]
    assert sum(pages, []) == everything and len(everything) == 27


def test_depth_descending_puts_unknown_depth_last(fleet, get_queues):
    _, page = get_queues(limit=3, ordering="-depth")
    assert names(page["results"]) == ["q24", "q23", "q22"]
    _, rows = get_queues(ordering="-depth")
    assert rows[-1]["name"] == "orders.dlq" and rows[-1]["depth"] is None
    _, rows = get_queues(ordering="depth")
    assert rows[0]["depth"] == 0 and rows[-1]["depth"] is None


def test_oldest_first_and_filters_combine(fleet, get_queues):
    _, page = get_queues(limit=2, ordering="-oldest_age_s", broker="b", dlq="false")
    assert page["count"] == 13
    assert names(page["results"]) == ["q00", "q02"]
    _, page = get_queues(limit=5, dlq="true", ordering="broker")
    assert names(page["results"]) == ["orders.dlq", "emails.dlq"]
    _, page = get_queues(limit=5, trend="stalled")
    assert names(page["results"]) == ["emails.dlq"] and page["count"] == 1


@pytest.mark.parametrize(
    "params, field",
    [
        ({"ordering": "vhost"}, "ordering"),
        ({"ordering": "-"}, "ordering"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": 5, "offset": -1}, "offset"),
        ({"offset": 5}, "offset"),
        ({"trend": "sideways"}, "trend"),
    ],
)
def test_a_malformed_page_request_is_a_400_naming_the_parameter(fleet, get_queues, params, field):
    status, body = get_queues(**params)
    assert status == 400 and field in str(body), body


def test_worst_first_puts_dlqs_holding_messages_first_and_minus_worst_is_refused(fleet, get_queues):
    _, page = get_queues(limit=3, ordering="worst")
    # emails.dlq holds 7, orders.dlq is growing; then q00, whose oldest message waited longest.
    assert names(page["results"]) == ["emails.dlq", "orders.dlq", "q00"]
    status, body = get_queues(ordering="-worst")
    assert status == 400 and "ordering" in body["detail"]


def test_a_page_costs_the_same_queries_whatever_the_fleet_size(db, django_assert_max_num_queries):
    BrokerState.objects.create(name="a", status=BrokerState.UP)
    dlq = Queue.objects.create(broker="a", name="big.dlq", is_dlq=True, depth=1)
    Queue.objects.bulk_create(Queue(broker="a", name=f"big{n:04d}", depth=n, dlq=dlq) for n in range(1500))
    rows = queue_queries.queues(ordering="-depth")
    # ids of the page, its rows with their DLQ, the DLQs' sources, the broker states: none per row.
    with django_assert_max_num_queries(4):
        page = queue_queries.page(rows, 700, 100)
        data = QueueSerializer(page, many=True).data
    assert [row["name"] for row in data] == [f"big{n:04d}" for n in range(799, 699, -1)]
    assert {row["dlq"] for row in data} == {"big.dlq"} and {row["broker_status"] for row in data} == {"up"}


def test_the_whole_list_streams_in_chunks_with_every_row_once_in_order(db, get_queues):
    Queue.objects.bulk_create(Queue(broker="a", name=f"s{n:04d}", depth=n % 7) for n in range(1203))
    rows = queue_queries.queues(ordering="-depth")
    chunks = list(queue_queries.each(rows, chunk=500))
    assert [len(c) for c in chunks] == [500, 500, 203]
    assert [q.pk for c in chunks for q in c] == list(rows.values_list("pk", flat=True))
    status, listed = get_queues(ordering="-depth")
    assert status == 200 and names(listed) == [q.name for c in chunks for q in c]
