"""``manage.py createuser USERNAME --role viewer|operator|admin``: a user who logs in with a password.

The password is asked twice on a terminal, or read as one line from standard input with
``--password-stdin`` (scripts, containers); it never appears on the command line, where other
users of the machine could read it."""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from console.roles import ROLES, set_role


class Command(BaseCommand):
    help = "Create a user with a password and exactly ROLE (use issuetoken for API-only users)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password as one line from standard input"
        )

    def handle(self, *args, username: str, role: str, password_stdin: bool, **options) -> None:
        if not username or len(username) > 150:
            raise CommandError("USERNAME must be 1 to 150 characters")
        users = get_user_model().objects
        if users.filter(username=username).exists():
            raise CommandError(f"user {username!r} exists already (issuetoken changes a user's role)")
        password = self._read_password(password_stdin)
        user = get_user_model()(username=username)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        with transaction.atomic():
            user.set_password(password)
            user.save()
            set_role(user, role)
        self.stdout.write(f"created user {username!r} with role {role}")

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("the passwords differ")
        else:
            raise CommandError("no terminal to ask for the password: pass --password-stdin and write it to stdin")
        if not password:
            raise CommandError("the password is empty")
        return password
