"""The queue page's action and browse forms: the POSTs checked by Django Forms, producing the same
arguments the API's serializers hand the domain (``messaging.actions``).

A bad number is refused (400) like any other bad field, never guessed at.
"""

from __future__ import annotations

from typing import Any

from django import forms

from messaging.actions.requests import MAX_RATE, MAX_TARGET_LENGTH
from messaging.actions.selection import MAX_FILTER_TEXT, MAX_ID_LENGTH, MAX_IDS, MAX_OLDER_THAN_S
from messaging.models import Action

SELECTIONS = [("ids", "selected below"), ("all", "all messages now in the queue"), ("filter", "matching")]


class MessageIdsField(forms.Field):
    """Every ``ids`` value of the form (one checkbox or hidden input per message)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        ids = [str(v) for v in (value or []) if str(v)]
        if len(ids) > MAX_IDS or any(len(i) > MAX_ID_LENGTH for i in ids):
            raise forms.ValidationError(f"at most {MAX_IDS} message ids of at most {MAX_ID_LENGTH} characters")
        return ids


class QueueActionForm(forms.Form):
    """One form for requeue/move/delete/purge. ``confirmed`` marks the second step of a requeue or
    move (the operator has seen the confirmation panel and the ``count`` it showed)."""

    kind = forms.ChoiceField(choices=Action.KINDS)
    selection = forms.ChoiceField(choices=SELECTIONS, required=False)
    ids = MessageIdsField(required=False)
    filter_task = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    filter_exception = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    filter_older_than_s = forms.FloatField(required=False, min_value=0, max_value=MAX_OLDER_THAN_S)
    target = forms.CharField(required=False, max_length=MAX_TARGET_LENGTH)
    rate = forms.FloatField(required=False, max_value=MAX_RATE)
    dry_run = forms.BooleanField(required=False)
    create_target = forms.BooleanField(required=False)
    include_poison = forms.BooleanField(required=False)
    count = forms.IntegerField(required=False, min_value=0)
    confirm_name = forms.CharField(required=False, strip=False)
    confirmed = forms.BooleanField(required=False)
    confirmation = forms.CharField(required=False, max_length=64)

    def clean_selection(self) -> str:
        return self.cleaned_data["selection"] or "all"

    def clean_rate(self) -> float | None:
        rate = self.cleaned_data["rate"]
        if rate is not None and rate <= 0:
            raise forms.ValidationError("messages per second, more than 0")
        return rate

    def move_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``actions.request_move`` (without ``count``)."""
        data = self.cleaned_data
        selection = data["selection"]
        flt = None
        if selection == "filter":
            flt = {key: data[f"filter_{key}"] for key in ("task", "exception") if data[f"filter_{key}"]}
            if data["filter_older_than_s"] is not None:
                flt["older_than_s"] = data["filter_older_than_s"]
        return {
            "kind": data["kind"],
            "ids": (data["ids"] or None) if selection == "ids" else None,
            "all": True if selection == "all" else None,
            "filter": flt,
            "target": data["target"] or None,
            "rate": data["rate"],
            "dry_run": data["dry_run"],
            "create_target": data["create_target"],
            "include_poison": data["include_poison"],
        }


class BrowseForm(forms.Form):
    """Which page of the message browser: ``offset`` messages from the oldest."""

    offset = forms.IntegerField(required=False, min_value=0, max_value=10_000_000)
    accept_delivery_limit_risk = forms.BooleanField(required=False)

    def clean_offset(self) -> int:
        return self.cleaned_data["offset"] or 0
