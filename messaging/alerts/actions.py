r"""The changes people make to alerting: create, change and delete rules, acknowledge alerts.

The API and the pages call these and nothing else to change alerting. Each mutation is one
transaction that writes its row and its audit entry (``messaging.audit.record``, streamed on
commit) and publishes its ``alerts`` events once that transaction commits
(``transaction.on_commit``): a rolled-back change is never announced. Rule changes that end a
rule's alerts (disabled, deleted, another metric) resolve them in the same transaction, under the
evaluation lock, so an evaluation never advances an alert being retired.

Refusals are :class:`~messaging.errors.DomainError`\ s, mapped once for the API
(``console/api/errors.py``): :class:`InvalidRule` (per-field problems, 400) and
:class:`AlertResolved` (nothing to acknowledge, 409). Pages show them in place (the rule form's
fields, a message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging import audit
from messaging.alerts import rules
from messaging.alerts.events import acknowledged_event
from messaging.alerts.persistence import evaluation_lock, resolve_rule_alerts
from messaging.alerts.targets import webhook_target_error
from messaging.alerts.webhook_visibility import audited_webhook_url, kept_webhook_url
from messaging.errors import DomainError
from messaging.models import Alert, AlertRule
from messaging.stream import publish


class InvalidRule(DomainError):
    """The rule cannot be saved (400); ``errors`` (also the ``detail``) maps each field to its
    problems, as the API's field errors do."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class AlertResolved(DomainError):
    """The alert is resolved; there is nothing to acknowledge (409)."""

    status = 409


@dataclass(frozen=True)
class ConsoleAddress:
    """Where a request reached the console: the host it named and the port, and the port the
    console's server is bound to (behind a proxy, not the one in Host). Webhooks may not aim there.
    The default knows no address (checks by ``ALLOWED_HOSTS`` and the console's noted ports only)."""

    host: str = ""
    port: int = -1
    bound_port: int | None = None


def rule_values(rule: AlertRule | None) -> dict[str, Any]:
    """A rule's :data:`~messaging.alerts.rules.RULE_FIELDS`; a new rule's defaults when None."""
    if rule is not None:
        return {field: getattr(rule, field) for field in rules.RULE_FIELDS}
    model_fields = {field.name: field for field in AlertRule._meta.get_fields()}
    return {name: model_fields[name].get_default() for name in rules.RULE_FIELDS if model_fields[name].has_default()}


def rule_errors(values: dict[str, Any], console: ConsoleAddress) -> dict[str, list[str]]:
    """Every field error of a complete rule, webhook URLs aimed at this console included: by name
    (:func:`~messaging.alerts.rules.webhook_url_error`) or by resolved address
    (:func:`~messaging.alerts.targets.webhook_target_error`)."""
    errors = rules.validate_rule(values)
    if not str(values.get("name") or "").strip():
        errors.setdefault("name", []).append("may not be empty")
    url = values.get("webhook_url") or ""
    if url:
        allowed = list(settings.ALLOWED_HOSTS)
        problem = rules.webhook_url_error(url, console.host, console.port, allowed)
        if problem is None:
            ports = {p for p in (console.port, console.bound_port) if p and p > 0}
            problem = webhook_target_error(url, console.host, ports, allowed)
        if problem:
            errors.setdefault("webhook_url", []).append(problem)
    return errors


def _audit_params(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "condition": rules.condition_text(rule),
        "for_s": rule.for_s,
        "severity": rule.severity,
        "broker": rule.broker,
        "queue": rule.queue,
        "enabled": rule.enabled,
        "webhook_url": audited_webhook_url(rule.webhook_url),
    }


def _publish_on_commit(events: list[dict[str, Any]]) -> None:
    if events:
        transaction.on_commit(lambda: publish("alerts", events))


def save_rule(
    user: Any, changes: dict[str, Any], rule: AlertRule | None = None, console: ConsoleAddress = ConsoleAddress()
) -> AlertRule:
    """Create a rule from ``changes`` (``rule`` None) or apply them to ``rule``; ``changes`` holds
    any of :data:`~messaging.alerts.rules.RULE_FIELDS`, merged over the current values (or the
    defaults) before the whole rule is validated. A webhook URL sent back in the redacted form
    shown to admins keeps the stored one. When the change disables the rule or moves it to another
    metric, its open alerts resolve. Raises :class:`InvalidRule` and changes nothing then."""
    changes = {field: value for field, value in changes.items() if field in rules.RULE_FIELDS}
    if "webhook_url" in changes:
        submitted = (changes["webhook_url"] or "").strip()
        changes["webhook_url"] = kept_webhook_url(submitted, rule.webhook_url if rule is not None else "")
    values = {**rule_values(rule), **changes}
    errors = rule_errors(values, console)
    if errors:
        raise InvalidRule(errors)
    created = rule is None
    old_metric = None if created else rule.metric
    rule = rule if rule is not None else AlertRule()
    for field, value in values.items():
        setattr(rule, field, value)
    with evaluation_lock, transaction.atomic():
        rule.save()
        audit.record(user, "alert_rule.create" if created else "alert_rule.update", params=_audit_params(rule))
        if not created and (not rule.enabled or rule.metric != old_metric):
            reason = "rule disabled" if not rule.enabled else "rule changed"
            _publish_on_commit(resolve_rule_alerts(rule, reason))
    return rule


def delete_rule(user: Any, rule: AlertRule) -> None:
    """Delete a rule. Its open alerts resolve ("rule deleted"); all its alerts stay in the history
    without a rule."""
    with evaluation_lock, transaction.atomic():
        _publish_on_commit(resolve_rule_alerts(rule, "rule deleted"))
        audit.record(user, "alert_rule.delete", params=_audit_params(rule))
        rule.delete()


def acknowledge(user: Any, alert: Alert) -> Alert:
    """Record that ``user`` has seen an open alert; it stays pending or firing. Raises
    :class:`AlertResolved` for a resolved alert."""
    if alert.state == Alert.RESOLVED:
        raise AlertResolved("the alert is resolved; there is nothing to acknowledge")
    now = timezone.now()
    with transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(acknowledged_by=user.username, acknowledged_at=now)
        alert.acknowledged_by, alert.acknowledged_at = user.username, now
        audit.record(
            user,
            "alert.acknowledge",
            broker=alert.labels.get("broker", ""),
            queue=alert.labels.get("queue", ""),
            params={"alert": alert.pk, "rule": alert.rule_name, "fingerprint": alert.fingerprint},
        )
        _publish_on_commit([acknowledged_event(alert)])
    return alert
