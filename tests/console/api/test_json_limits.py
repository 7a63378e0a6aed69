"""Request bodies the JSON parser must refuse with a 400 before they reach ``json.loads``: deep
nesting (Python's decoder recurses, and 100,000 nested lists used to end in a 500) and bodies over
the size limit."""

import pytest

from console.json_limits import MAX_JSON_DEPTH, json_nesting_error

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


@pytest.fixture
def post_raw(client):
    def call(method, path, token, body):
        return getattr(client, method)(
            f"/api/v1/{path}", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
        )

    return call


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, '{"ids": ' + DEEP + "}"], ids=["lists", "objects", "in-a-field"])
@pytest.mark.parametrize(
    "method, path, role",
    [
        ("post", "alert-rules", "admin"),
        ("patch", "alert-rules/{rule}", "admin"),
        ("post", "queues/{queue}/requeue", "operator"),
        ("post", "queues/{queue}/move", "operator"),
        ("post", "queues/{queue}/purge", "admin"),
        ("post", "tasks/some-task/revoke", "operator"),
        ("post", "workers/celery@nowhere/control", "admin"),
    ],
)
def test_deeply_nested_body_is_a_400_not_a_500(post_raw, tokens, method, path, role, body):
    from messaging.models import AlertRule, Queue

    rule = AlertRule.objects.create(name="R", metric="depth", op=">", threshold=1)
    queue = Queue.objects.create(broker="default", name="emails", depth=3, present=True)
    response = post_raw(method, path.format(rule=rule.pk, queue=queue.pk), tokens[role], body)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    answer = response.json()
    assert answer["error"] == "bad_request" and "nest" in str(answer["detail"]), answer


def test_nesting_at_the_limit_is_still_parsed(post_raw, tokens):
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    body = '{"name": "R", "metric": "depth", "op": ">", "threshold": 1, "severity": "info", "extra": ' + nested + "}"
    response = post_raw("post", "alert-rules", tokens["admin"], body)
    assert response.status_code == 201, response.json()


def test_oversized_body_is_a_400(post_raw, tokens, settings):
    settings.SWITCHYARD_MAX_JSON_BODY_BYTES = 1000
    response = post_raw("post", "alert-rules", tokens["admin"], '{"name": "' + "x" * 2000 + '"}')
    assert response.status_code == 400 and response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "text, bad",
    [
        ('{"a": [1, {"b": [2]}]}', False),
        ('"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', False),
        ('"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ('["]"' + ", [" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 2), True),
    ],
)
def test_nesting_is_counted_outside_strings_only(text, bad):
    assert (json_nesting_error(text) is not None) == bad
