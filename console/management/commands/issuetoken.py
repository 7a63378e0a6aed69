"""``manage.py issuetoken USERNAME --role viewer|operator|admin``: the token is the last line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from console.models import ApiToken
from console.roles import ROLES, set_role


class Command(BaseCommand):
    help = "Create the user if missing, give it exactly ROLE, and print a new API token (last line)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--label", default="", help="what the token is for")

    def handle(self, *args, username: str, role: str, label: str, **options) -> None:
        if not username or len(username) > 150:
            raise CommandError("USERNAME must be 1 to 150 characters")
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save()
            if user.is_superuser and role != "admin":
                user.is_superuser = False
                user.is_staff = False
                user.save()
            set_role(user, role)
            _, token = ApiToken.issue(user, label=label)
        self.stderr.write(f"{'created' if created else 'updated'} user {username!r} with role {role}")
        self.stdout.write(token)
