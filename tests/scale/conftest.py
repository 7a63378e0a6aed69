"""When a scale test fails, print the last lines of every process of its cluster: the monitors'
and web processes' logs are the only record of what the election did."""

from __future__ import annotations

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        cluster = getattr(item, "funcargs", {}).get("cluster")
        if cluster is not None:
            report.sections.append(("cluster logs", cluster.logs()))
    return report
