"""Audit entries in words: selections and counts an operator reads, not Python dicts. Pure."""

from messaging.audit_words import kind_words, outcome_words, params_words, selection_words


def requeue_params(selection, counted=90, target="emails"):
    return {"action": 12, "selection": selection, "target": target, "counted": counted, "rate": None,
            "dry_run": False, "create_target": False}  # fmt: skip


def test_selection_by_id_counts_the_ids_not_the_queue():
    params = requeue_params({"ids": ["a", "b", "c"]})
    assert selection_words(params) == "3 messages by id → emails"
    assert selection_words(requeue_params({"ids": ["a"]})) == "1 message by id → emails"


def test_long_id_lists_stored_cut_still_count_every_id():
    ids = [f"id{i}" for i in range(100)] + ["... 150 more"]
    assert selection_words(requeue_params({"ids": ids})).startswith("250 messages by id")


def test_all_and_filter_selections_read_as_words():
    assert selection_words(requeue_params({"all": True}, target="")) == "all 90 messages"
    flt = {"filter": {"task": "demo.fail", "older_than_s": 60.0}}
    assert selection_words(requeue_params(flt, target="")) == "messages of task demo.fail older than 1 min"
    flt = {"filter": {"exception": "KeyError", "older_than_s": 45}}
    assert selection_words(requeue_params(flt, target="")) == "messages that failed with KeyError older than 45 s"


def test_one_message_requeue_outcome_says_one_message_not_ninety_counted():
    params = requeue_params({"ids": ["a"]})
    text = outcome_words(params, "accepted as action 12: 90 message(s) counted")
    assert text == "accepted as action 12: 1 message by id, of 90 in the queue"
    assert "90 counted" not in text
    assert outcome_words(requeue_params({"all": True}), "accepted as action 3: 1 message(s) counted") == (
        "accepted as action 3: all 1 message"
    )


def test_other_outcomes_and_params_read_without_dict_syntax():
    assert outcome_words({}, "succeeded: 1 requeued, 0 not taken, 1 looked at") == (
        "succeeded: 1 requeued, 0 not taken, 1 looked at"
    )
    words = params_words({"task_id": "abc", "terminate": True, "signal": "SIGTERM"})
    assert words == "task id abc; terminate yes; signal SIGTERM"
    assert "{" not in words and "'" not in words
    assert params_words({"action": 7}) == "action #7"
    assert kind_words("requeue.finished") == "requeue finished"
