"""``GET /api/v1/health`` says which monitor is active and since when."""

from __future__ import annotations

from messaging.leader import claim_lease
from tests.conftest import unique


def test_health_reports_no_election_without_redis(client, tokens, settings):
    settings.REDIS_URL = None
    settings.SWITCHYARD_LEADER_REDIS_URL = None
    response = client.get("/api/v1/health", headers={"Authorization": f"Token {tokens['viewer']}"})
    assert response.status_code == 200
    monitor = response.json()["monitor"]
    assert monitor["election"] is False
    assert monitor["this_process"]["mode"] in ("none", "in-process")


def test_health_names_the_active_monitor_of_the_election(client, tokens, settings):
    settings.SWITCHYARD_LEADER_REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.SWITCHYARD_LEADER_KEY = unique("sy-leader")
    claim_lease(settings.SWITCHYARD_LEADER_KEY, "host-a:101:abc")
    token = claim_lease(settings.SWITCHYARD_LEADER_KEY, "host-b:202:def")
    monitor = client.get("/api/v1/health", headers={"Authorization": f"Token {tokens['viewer']}"}).json()["monitor"]
    assert monitor["election"] is True
    assert monitor["active"] == "host-b:202:def"
    assert monitor["token"] == token == 2
    assert monitor["since"] and monitor["last_round_age_s"] >= 0


def test_health_needs_a_token(client):
    assert client.get("/api/v1/health").status_code in (401, 403)
