"""The operator-action API's bodies and answers (docs/api.md, "Operator actions").

The request serializers check JSON types and ranges strictly (``"no"`` is not a boolean, ``1`` is
not a message id, ``true`` is not a rate) and hand the domain (:mod:`messaging.actions`) typed
arguments; the domain's own rules (one selection, a target that exists, the typed confirmation)
are checked there, for pages and API alike. Problems answer 400 ``{"error": "bad_request",
"detail": {field: [problem, ...]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from messaging.actions.requests import MAX_RATE, MAX_TARGET_LENGTH
from messaging.actions.selection import MAX_FILTER_TEXT, MAX_HEADER_FILTER, MAX_ID_LENGTH, MAX_IDS, MAX_OLDER_THAN_S


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only (DRF's field also takes ``"no"``, ``1``, ``"on"``...)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's field also turns numbers into strings)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number only (DRF's field also parses strings and takes booleans as 0 and 1)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON whole number only."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClosedSerializer(serializers.Serializer):
    """Refuses fields it does not know (a misspelt ``dryrun`` must not run for real)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = set(data) - set(self.fields) if isinstance(data, Mapping) else set()
        if unknown:
            raise serializers.ValidationError({name: ["not a field of this request"] for name in sorted(unknown)})
        return super().to_internal_value(data)


class MoveFilterSerializer(ClosedSerializer):
    task = StrictCharField(required=False, max_length=MAX_FILTER_TEXT)
    exception = StrictCharField(required=False, max_length=MAX_FILTER_TEXT, help_text="exception type, e.g. ValueError")
    older_than_s = StrictFloatField(required=False, min_value=0, max_value=MAX_OLDER_THAN_S)
    newer_than_s = StrictFloatField(
        required=False, min_value=0, max_value=MAX_OLDER_THAN_S, help_text="at most this old (an age range)"
    )
    task_id = StrictCharField(required=False, max_length=MAX_FILTER_TEXT)
    exception_message = StrictCharField(
        required=False, max_length=MAX_FILTER_TEXT, help_text="text in the exception's message (ignores case)"
    )
    text = StrictCharField(required=False, max_length=MAX_FILTER_TEXT, help_text="text in the args or kwargs")
    header = StrictCharField(
        required=False, max_length=MAX_HEADER_FILTER, help_text='"name" (present) or "name=value" (text in its value)'
    )


def _ids(help_text: str, required: bool = False) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=MAX_ID_LENGTH),
        min_length=1,
        max_length=MAX_IDS,
        required=required,
        allow_null=not required,
        help_text=help_text,
    )


class MoveRequestSerializer(serializers.Serializer):
    """A requeue or a move: exactly one of ``ids``, ``all`` or ``filter``."""

    ids = _ids("the ids the browser shows (task ids or sha1: digests)")
    all = StrictBooleanField(
        required=False, allow_null=True, help_text="the messages present now (or `count`), oldest first"
    )
    filter = MoveFilterSerializer(required=False, allow_null=True)
    target = StrictCharField(required=False, allow_null=True, max_length=MAX_TARGET_LENGTH)
    rate = StrictFloatField(required=False, allow_null=True, max_value=MAX_RATE, help_text="messages per second")
    dry_run = StrictBooleanField(required=False, default=False, help_text="report what would happen; change nothing")
    create_target = StrictBooleanField(required=False, default=False)
    count = StrictIntegerField(
        required=False, allow_null=True, min_value=0, help_text="the count the operator was shown"
    )
    include_poison = StrictBooleanField(
        required=False,
        default=False,
        help_text="requeue all/filter: also take poison messages (died SWITCHYARD_POISON_DEATHS times or more)",
    )

    def validate_rate(self, rate: float | None) -> float | None:
        if rate is not None and rate <= 0:
            raise serializers.ValidationError("messages per second, more than 0")
        return rate


class DeleteRequestSerializer(serializers.Serializer):
    """A delete names every message it deletes; ``confirm`` (the queue's name) is optional for API
    callers and checked when sent (see ``messaging.actions.require_confirmation``). A delete by a
    search's ``filter`` names no message: ``confirm`` is then required."""

    ids = _ids("the ids of the messages to delete")
    filter = MoveFilterSerializer(
        required=False, allow_null=True, help_text="instead of ids: the messages a search finds (confirm required)"
    )
    dry_run = StrictBooleanField(required=False, default=False)
    confirm = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


class PurgeRequestSerializer(serializers.Serializer):
    confirm = StrictCharField(
        default=None,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="the queue's exact name (400 otherwise)",
    )
    count = StrictIntegerField(
        required=False, allow_null=True, min_value=0, help_text="the count the operator was shown"
    )


class ActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["requeue", "move", "delete", "purge"])
    state = serializers.ChoiceField(choices=["pending", "running", "succeeded", "failed", "cancelled"])
    user = serializers.CharField()
    broker = serializers.CharField()
    queue = serializers.CharField()
    target = serializers.CharField(allow_null=True)
    requested = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    duplicated = serializers.IntegerField()
    already_moved = serializers.IntegerField(
        help_text="copies the broker handed back after a restart (acks lost) that were acknowledged, not moved twice"
    )
    interrupted = serializers.BooleanField()
    create_target = serializers.BooleanField(
        help_text="a missing target may be created (an existing one is only checked, never re-declared)"
    )
    target_created = serializers.CharField(
        allow_null=True, help_text="what the action created for its target, with which properties; null if nothing"
    )
    error = serializers.CharField(allow_null=True)
    summary = serializers.CharField(
        help_text="the progress line the console shows, e.g. `180 / 200, 20 not taken, ≤500 duplicated`"
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
