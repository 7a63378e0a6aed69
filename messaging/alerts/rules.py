"""What an alert rule may say, and which series it covers. Pure: no database, no clock.

Metrics and where their figures come from:

- queue figures (one series per queue: labels broker, queue[, vhost]): ``depth``, ``unacked``,
  ``consumers``, ``oldest_age_s``, ``time_to_drain_s``, ``publish_rate``, ``consume_rate``, and
  ``trend`` (compared with the rule's ``trend``: growing, stalled, draining, steady, idle);
- ``dlq_depth``: the depth of each dead-letter queue (labels broker, queue = the DLQ, source =
  the queue it serves when known); the rule's queue glob matches the DLQ's or its source's name;
- ``poison_messages``: the poison messages (``messaging.poison``) among the oldest 1,000 of each
  dead-letter queue, counted after each sample while such a rule is enabled, where reading is free
  (Redis; unknown on RabbitMQ, whose browse takes every message: ``messaging.poison_counts``);
- broker figures (labels broker): ``broker_down`` (1 when the last sample failed, else 0) and
  ``monitor_stale`` (sample intervals since the monitor last checked the broker);
- task figures from the Celery side: ``workers_online``, ``task_failure_rate`` (failed / finished
  over the provider's window, 0..1), ``duplicate_deliveries`` (deliveries beyond the first of the
  tasks updated over the provider's window: ``messaging.duplicates``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

QUEUE_METRICS = (
    "depth",
    "unacked",
    "consumers",
    "oldest_age_s",
    "time_to_drain_s",
    "publish_rate",
    "consume_rate",
)
DLQ_METRICS = ("dlq_depth", "poison_messages")
TREND_METRICS = ("trend",)
BROKER_METRICS = ("broker_down", "monitor_stale")
TASK_METRICS = ("workers_online", "task_failure_rate", "duplicate_deliveries")
METRICS = QUEUE_METRICS + DLQ_METRICS + TREND_METRICS + BROKER_METRICS + TASK_METRICS
TRENDS = ("growing", "stalled", "draining", "steady", "idle")

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")

#: The fields of a rule its author sets, in order: what API bodies and the rule form carry, what
#: the domain merges, validates and stores (``messaging/alerts/actions.py``).
RULE_FIELDS = (
    "name",
    "description",
    "metric",
    "op",
    "threshold",
    "trend",
    "only_if_backlog",
    "queue_kind",
    "for_s",
    "keep_firing_for_s",
    "severity",
    "broker",
    "queue",
    "enabled",
    "webhook_url",
)
QUEUE_KINDS = ("any", "work", "dlq")
MAX_PATTERN = 1024
MAX_DURATION_S = 30 * 86400.0

#: The unit each count-like metric is shown with (durations, rates and the failure rate have their
#: own formats in :func:`format_value`).
COUNT_UNITS = {
    "depth": "msgs",
    "unacked": "msgs",
    "dlq_depth": "msgs",
    "poison_messages": "msgs",
    "consumers": "consumers",
    "workers_online": "workers",
    "duplicate_deliveries": "deliveries",
    "monitor_stale": "intervals",
}
DURATION_METRICS = ("oldest_age_s", "time_to_drain_s")
RATE_METRICS = ("publish_rate", "consume_rate")


def metric_scope(metric: str) -> str:
    """ "queue", "broker" or "task": what a series of this metric is about."""
    if metric in QUEUE_METRICS or metric in DLQ_METRICS or metric in TREND_METRICS:
        return "queue"
    if metric in BROKER_METRICS:
        return "broker"
    return "task"


def glob_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable fnmatch glob, or None. fnmatch itself reads an unclosed
    ``[`` as a literal; a rule author almost certainly meant a class, so it is refused."""
    if not pattern:
        return "may not be empty (use * for all)"
    if len(pattern) > MAX_PATTERN:
        return f"at most {MAX_PATTERN} characters"
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                return f"unbalanced '[' at position {i + 1}: close it with ']' or escape it as [[]"
            i = j
        i += 1
    return None


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def glob_matches(pattern: str, value: str) -> bool:
    """Case-sensitive fnmatch (queue names are case-sensitive on both brokers)."""
    if pattern == "*":
        return True
    return _compiled(pattern).match(value) is not None


def compare(op: str, value: Any, threshold: Any) -> bool:
    return OPERATORS[op](value, threshold)


def fingerprint(rule_id: int, labels: dict[str, str]) -> str:
    """Stable id of a series: 16 hex digits of a hash of the rule id and the labels."""
    text = json.dumps([rule_id, sorted(labels.items())], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validate_rule(data: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors of a complete rule (after defaults); empty when it is valid. Webhook URL
    checks that need the request (the console's own address) live with the API."""
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    metric = data.get("metric")
    if metric not in METRICS:
        err("metric", f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    op = data.get("op")
    if op not in OPERATORS:
        err("op", f"unknown operator {op!r}; one of {' '.join(OPERATORS)}")
    if metric == "trend":
        if data.get("trend") not in TRENDS:
            err("trend", f"a trend rule needs trend = one of {', '.join(TRENDS)}")
        if op not in ("==", "!="):
            err("op", "a trend rule compares with == or !=")
    elif data.get("trend"):
        err("trend", "only rules on the trend metric take a trend")
    for field in ("for_s", "keep_firing_for_s"):
        value = data.get(field)
        if value is None and field == "keep_firing_for_s":
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            err(field, "must be a number of seconds")
        elif value < 0:
            err(field, "may not be negative")
        elif value > MAX_DURATION_S:
            err(field, f"at most {MAX_DURATION_S:.0f} seconds")
    threshold = data.get("threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold != threshold:
        err("threshold", "must be a number")
    if data.get("severity") not in SEVERITIES:
        err("severity", f"one of {', '.join(SEVERITIES)}")
    if data.get("queue_kind", "any") not in QUEUE_KINDS:
        err("queue_kind", f"one of {', '.join(QUEUE_KINDS)}")
    for field in ("broker", "queue"):
        problem = glob_error(data.get(field) or "")
        if problem:
            err(field, problem)
    if data.get("only_if_backlog") and metric_scope(metric or "") != "queue":
        err("only_if_backlog", "applies to queue metrics only")
    return errors


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 12 s``, ``2 h 5 min``: a duration the way people read one."""
    if seconds < 60:
        return f"{_number(round(seconds, 1))} s"
    whole = int(round(seconds))
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    minutes = rest // 60
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def format_value(metric: str, value: float | None) -> str:
    """One figure of ``metric`` with its unit: ``10.7 %``, ``3 min 12 s``, ``1.5 msgs/s``,
    ``1,200 msgs``; ``unknown`` when there is none. The one formatting of alert figures: the
    alert pages, summaries and conditions all use it."""
    if value is None:
        return "unknown"
    if metric == "task_failure_rate":
        return f"{value * 100:.1f} %".replace(".0 %", " %")
    if metric == "broker_down":
        return "down" if value else "up"
    if metric in DURATION_METRICS:
        return format_duration(value)
    if metric in RATE_METRICS:
        return f"{_number(round(value, 2))} msgs/s"
    unit = COUNT_UNITS.get(metric, "")
    return f"{_number(value)} {unit}".rstrip()


def alert_figure(metric: str, value: float | None, op: str | None, threshold: float | None) -> str:
    """An alert's figure against its threshold, both with units: ``10.7 % > 10 %``. Trend alerts
    carry the queue's depth (``40 msgs``); without a known operator (rule deleted) the threshold is
    named as such."""
    if metric == "trend":
        return format_value("depth", value)
    shown = format_value(metric, value)
    if threshold is None or metric == "broker_down":
        return shown
    if op:
        return f"{shown} {op} {format_value(metric, threshold)}"
    return f"{shown} (threshold {format_value(metric, threshold)})"


def condition_text(rule: Any) -> str:
    """``depth > 1,000 while messages wait`` — the rule's condition in words."""
    if rule.metric == "trend":
        text = f"trend {rule.op} {rule.trend}"
    elif rule.metric == "broker_down":
        text = "broker down" if (rule.op, rule.threshold) in ((">=", 1), ("==", 1), (">", 0)) else None
        text = text or f"broker_down {rule.op} {format_value(rule.metric, rule.threshold)}"
    else:
        text = f"{rule.metric} {rule.op} {format_value(rule.metric, rule.threshold)}"
    if rule.only_if_backlog:
        text += " while messages wait"
    return text


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _host_allowed(host: str, patterns: list[str]) -> bool:
    """Whether ``host`` is one the console names as its own (ALLOWED_HOSTS). "*" says nothing
    about which hosts are the console's, so it matches none."""
    for pattern in patterns:
        pattern = pattern.lower().strip("[]")
        if pattern == "*":
            continue
        if host == pattern or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:])):
            return True
    return False


def webhook_url_error(url: str, console_host: str, console_port: int, allowed_hosts: list[str]) -> str | None:
    """Why ``url`` cannot be a webhook, or None. Refused: anything but http(s) with a host, URLs
    over 2,000 characters, and URLs aimed at the console itself (its own host:port, a host the
    console serves (ALLOWED_HOSTS) on its port, or loopback on its port) — a rule must not make
    the console call its own API."""
    from urllib.parse import urlsplit

    if len(url) > 2000:
        return "at most 2,000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "must name a host"
    if any(c.isspace() for c in url):
        return "may not contain spaces"
    port = port or (443 if parts.scheme == "https" else 80)
    console_host = console_host.lower().strip("[]").rstrip(".")
    if port == console_port and (
        host.strip("[]") == console_host or _is_loopback(host) or _host_allowed(host, allowed_hosts)
    ):
        return "points at this console itself; webhooks must go to another service"
    return None
