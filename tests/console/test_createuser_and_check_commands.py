"""``createuser`` (a password login with a role) and ``check`` (configuration, database, brokers)."""

from __future__ import annotations

import io
import socket
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from console.roles import role_of

pytestmark = pytest.mark.django_db


def create_user(*arguments: str, stdin: str) -> str:
    out = io.StringIO()
    original, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command("createuser", *arguments, stdout=out)
    finally:
        sys.stdin = original
    return out.getvalue()


def test_createuser_logs_in_with_the_password_and_holds_exactly_the_role() -> None:
    said = create_user("ops", "--role", "operator", "--password-stdin", stdin="a-long-enough-pass\n")
    assert "created user 'ops' with role operator" in said
    user = get_user_model().objects.get(username="ops")
    assert user.check_password("a-long-enough-pass") and role_of(user) == "operator"


def test_createuser_refuses_an_existing_user_and_leaves_it_unchanged() -> None:
    create_user("ops", "--role", "viewer", "--password-stdin", stdin="a-long-enough-pass\n")
    with pytest.raises(CommandError, match="exists already"):
        create_user("ops", "--role", "admin", "--password-stdin", stdin="another-long-pass\n")
    user = get_user_model().objects.get(username="ops")
    assert role_of(user) == "viewer" and user.check_password("a-long-enough-pass")


def test_createuser_refuses_a_short_password() -> None:
    with pytest.raises(CommandError, match="too short"):
        create_user("ops", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert not get_user_model().objects.filter(username="ops").exists()


def test_check_describes_a_reachable_broker(monkeypatch, redis_space) -> None:
    monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHYARD_BROKER_URL", redis_space.url)
    out = io.StringIO()
    call_command("check", stdout=out, stderr=io.StringIO())
    assert "reachable (redis)" in out.getvalue()
    assert "database: sqlite" in out.getvalue() or "database: postgresql" in out.getvalue()


def test_check_fails_naming_the_unreachable_broker(monkeypatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHYARD_BROKER_URL", f"redis://127.0.0.1:{closed}/0")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 broker"):
        call_command("check", stdout=io.StringIO(), stderr=err)
    assert f"broker default (redis://127.0.0.1:{closed}/0): unreachable" in err.getvalue()
