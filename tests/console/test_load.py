"""A short version of bench/load.py: 50 WebSocket clients and 50 API requests/s for 12 s against
one ``manage.py serve`` process while queue samples and Celery task events flow. No errors (no
non-200, no unintended disconnect), bounded memory, and clients that stop reading are told
``stream.dropped`` instead of growing the server (their buffer is set small here so 12 s of
events overflow it; the 60 s bench uses the default)."""

from __future__ import annotations

import pytest

from bench.load import run

pytestmark = pytest.mark.faults


@pytest.mark.timeout(120)
def test_clients_and_api_under_load_no_errors_bounded_memory_slow_clients_dropped():
    result = run(clients=50, rate=50, duration=12, slow=2, tasks_per_second=120, client_buffer=10)
    print("\nload:", result)
    assert result["errors"] == []
    assert result["ws_connected"] == 50
    assert set(result["api_statuses"]) == {200}
    # The rate achieved depends on the machine (a shared 2-core box here reaches 34-50 of the 50
    # asked); what must hold is that the API kept answering, every answer a 200.
    assert result["api_requests"] >= 10 * 12
    assert result["ws_messages_per_client_per_s"] > 1, "events did not flow"
    assert all(dropped > 0 for dropped in result["slow_clients_dropped"]), result["slow_clients_dropped"]
    # Bounded: the server's resident memory may grow with warm-up (imports, caches), not with load.
    assert result["rss_mb_peak"] < result["rss_mb_start"] + 150, result
