"""Rule validation, glob matching, fingerprints and webhook URL checks (pure)."""

import pytest

from messaging.alerts import rules

GOOD = {
    "name": "x",
    "metric": "depth",
    "op": ">",
    "threshold": 10,
    "for_s": 30,
    "keep_firing_for_s": None,
    "severity": "warning",
    "broker": "*",
    "queue": "emails*",
    "queue_kind": "any",
    "trend": "",
    "only_if_backlog": False,
}


def errors(**changes):
    return rules.validate_rule({**GOOD, **changes})


def test_good_rule_has_no_errors():
    assert errors() == {}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"metric": "lag"}, "metric"),
        ({"op": "=>"}, "op"),
        ({"for_s": -1}, "for_s"),
        ({"keep_firing_for_s": -5}, "keep_firing_for_s"),
        ({"queue": "emails[ab"}, "queue"),
        ({"broker": ""}, "broker"),
        ({"severity": "page"}, "severity"),
        ({"metric": "trend", "trend": "up", "op": "=="}, "trend"),
        ({"metric": "trend", "trend": "growing", "op": ">"}, "op"),
        ({"trend": "growing"}, "trend"),
        ({"threshold": float("nan")}, "threshold"),
        ({"metric": "workers_online", "only_if_backlog": True}, "only_if_backlog"),
    ],
)
def test_bad_rules_name_the_field(changes, field):
    assert field in errors(**changes)


def test_globs():
    assert rules.glob_error("emails[ab]") is None
    assert rules.glob_error("emails[!]x]") is None
    assert rules.glob_error("a[") is not None
    assert rules.glob_matches("emails.*", "emails.high")
    assert not rules.glob_matches("emails.*", "Emails.high")
    assert rules.glob_matches("q[0-9]", "q7")
    assert rules.glob_matches("*", "anything\nat all")


def test_fingerprint_is_stable_and_label_order_free():
    a = rules.fingerprint(3, {"broker": "main", "queue": "emails"})
    assert a == rules.fingerprint(3, {"queue": "emails", "broker": "main"})
    assert a != rules.fingerprint(4, {"broker": "main", "queue": "emails"})
    assert len(a) == 16 and int(a, 16) >= 0


@pytest.mark.parametrize(
    "url, bad",
    [
        ("https://hooks.example.com/x", False),
        ("http://127.0.0.1:9999/hook", False),
        ("ftp://example.com/x", True),
        ("javascript:alert(1)", True),
        ("http:///nohost", True),
        ("http://console.example.com:8000/api/v1/alert-rules", True),
        ("http://127.0.0.1:8000/x", True),
        ("http://localhost:8000/x", True),
        ("http://[::1]:8000/x", True),
        ("http://0.0.0.0:8000/x", True),
        ("http://localhost/x", False),
        ("http://other.example.com:8000/x", False),
        ("http://user:pw@[bad/x", True),
    ],
)
def test_webhook_urls(url, bad):
    problem = rules.webhook_url_error(url, "console.example.com", 8000, ["console.example.com", "localhost", "*"])
    assert (problem is not None) == bad, problem
