"""Schemathesis against a live console (uvicorn + monitor, real Redis with the test's own key
prefix), authenticated as admin: no 5xx, and every answer matches the OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.action_helpers import celery_envelope, push
from tests.conftest import REDIS_URL
from tests.waiting import wait_for

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def test_api_fuzz_no_5xx_and_schema_conformance(live_console, tokens, redis_space, tmp_path, capsys):
    queue = redis_space.name("fuzz")
    push(redis_space.client, redis_space.prefix + queue, [celery_envelope(queue) for _ in range(3)])
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(name="main", url=REDIS_URL, queues=(queue,), options={"global_keyprefix": redis_space.prefix}),
        )
    )
    console = live_console(config, interval=0.5)
    wait_for(
        lambda: any(q["name"] == queue for q in console.api("/api/v1/queues", tokens["viewer"]).json()),
        message="the fuzz queue to be sampled",
    )
    report = tmp_path / "report.json"
    command = [
        SCHEMATHESIS, "run", f"{console.url}/api/schema/",
        "-H", f"Authorization: Token {tokens['admin']}",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "6"),
        "--generation-deterministic", "--no-shrink", "--no-color", "--workers", "1",
        "--phases", "examples,coverage,fuzzing",
        "--request-timeout", "20",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}
    )
    (tmp_path / "stdout.txt").write_text(result.stdout)
    print(result.stdout)
    summary = "\n".join(result.stdout.splitlines()[-60:])
    with capsys.disabled():
        print("\n" + "\n".join(line for line in result.stdout.splitlines() if "test cases" in line or "passed" in line))
    assert result.returncode == 0, f"schemathesis found problems:\n{summary}\n{result.stderr[-3000:]}"
