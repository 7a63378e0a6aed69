"""The shared waiting helper: returns what the condition found, fails naming what it waited for."""

import pytest

from tests.waiting import wait_for


def test_returns_the_first_truthy_value_of_the_condition():
    values = iter([None, 0, [], {"depth": 3}])

    assert wait_for(lambda: next(values), timeout=1, interval=0) == {"depth": 3}


def test_times_out_naming_what_it_waited_for_and_the_last_value():
    with pytest.raises(AssertionError) as failure:
        wait_for(lambda: [], timeout=0.05, interval=0.01, message="jobs sampled", diagnose=lambda: "worker log")

    assert str(failure.value) == "timed out after 0.05s waiting for jobs sampled; last value: []\nworker log"
