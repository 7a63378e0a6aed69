"""The typed-confirmation rule, one for pages and API (messaging.actions.require_confirmation),
and the progress line built once (action_dict's summary)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from messaging.actions import require_confirmation
from messaging.actions.progress import outcome_text, summary
from messaging.errors import ActionRefused, DomainError
from messaging.models import Action

QUEUE = SimpleNamespace(name="jobs.dlq")


@pytest.mark.parametrize("typed", [True, False])
def test_purge_needs_the_exact_name_from_pages_and_api(typed):
    for wrong in (None, "", "JOBS.DLQ", "jobs.dlq "):
        with pytest.raises(ActionRefused) as refused:
            require_confirmation(Action.PURGE, QUEUE, wrong, typed=typed)
        assert refused.value.status == 400 and "confirm" in refused.value.detail
    require_confirmation(Action.PURGE, QUEUE, "jobs.dlq", typed=typed)


def test_delete_from_a_page_needs_the_typed_name():
    for wrong in (None, "", "jobs"):
        with pytest.raises(ActionRefused):
            require_confirmation(Action.DELETE, QUEUE, wrong, typed=True)
    require_confirmation(Action.DELETE, QUEUE, "jobs.dlq", typed=True)


def test_delete_by_api_needs_no_name_but_a_sent_one_must_match():
    require_confirmation(Action.DELETE, QUEUE, None, typed=False)
    require_confirmation(Action.DELETE, QUEUE, "jobs.dlq", typed=False)
    with pytest.raises(ActionRefused):
        require_confirmation(Action.DELETE, QUEUE, "other", typed=False)


def test_requeue_and_move_need_no_typed_name():
    require_confirmation(Action.REQUEUE, QUEUE, None, typed=True)
    require_confirmation(Action.MOVE, QUEUE, None, typed=True)


def test_action_refused_is_a_domain_error():
    assert issubclass(ActionRefused, DomainError)
    assert ActionRefused("x", status=409).status == 409 and ActionRefused("x").status == 400


def action(**fields) -> Action:
    defaults = dict(kind="requeue", state="running", done=180, requested=200, failed=0, scanned=190)
    defaults.update(duplicated=0, already_moved=0, dry_run=False, selection={}, error="")
    return Action(**{**defaults, **fields})


def test_summary_is_the_progress_line_the_page_and_socket_show():
    assert summary(action()) == "180 / 200"
    assert summary(action(failed=20, duplicated=500, already_moved=3)) == (
        "180 / 200, 20 not taken, ≤500 duplicated, 3 re-delivered by the broker, not moved twice"
    )


def test_outcome_text_keeps_the_audit_wording():
    assert outcome_text(action(state="succeeded", done=10, failed=0, scanned=10)) == (
        "succeeded: 10 requeued, 0 not taken, 10 looked at"
    )
    finished = action(state="failed", failed=2, duplicated=4, error="broker gone", selection={"target_created": "made"})
    assert outcome_text(finished) == (
        "failed: 180 requeued, 2 not taken, 190 looked at, at most 4 duplicated by an interruption; made; broker gone"
    )


def test_messages_chosen_by_id_that_a_finished_run_did_not_find_are_counted_as_not_found():
    gone = action(state="succeeded", done=0, requested=2, scanned=5, selection={"ids": ["a", "b"]})
    assert summary(gone) == "0 / 2, 2 not found"
    assert outcome_text(gone) == "succeeded: 0 requeued, 0 not taken, 5 looked at, 2 not found"
    # A running action has not finished looking; an "all" selection names no messages.
    assert summary(action(done=0, requested=2, selection={"ids": ["a", "b"]})) == "0 / 2"
    assert summary(action(state="succeeded", done=0, requested=2, selection={"all": True})) == "0 / 2"
