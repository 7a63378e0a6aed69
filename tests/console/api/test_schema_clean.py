"""The OpenAPI schema generates without a warning or an error: every operation is described, each
choice set has a name of its own, every operationId is unique."""

from __future__ import annotations

from django.core.management import call_command


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "api_v1_actions_list" in text and "api_v1_actions_retrieve" in text
    assert "ActionStateEnum" in text and "BrokerStatusEnum" in text
