"""``manage.py ensureadmin``: on first run, create ``admin`` and print its password once."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from console.roles import ADMIN, set_role


class Command(BaseCommand):
    help = "Create the 'admin' user if no user exists yet (password from SWITCHYARD_ADMIN_PASSWORD or random)."

    def handle(self, *args, **options) -> None:
        users = get_user_model().objects
        if users.filter(username="admin").exists():
            return
        password = os.environ.get("SWITCHYARD_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = users.create_user(username="admin", password=password)
        set_role(user, ADMIN)
        if os.environ.get("SWITCHYARD_ADMIN_PASSWORD"):
            self.stdout.write("Created user 'admin' with the password from SWITCHYARD_ADMIN_PASSWORD.")
        else:
            self.stdout.write(f"Created user 'admin' with password: {password}  (shown once; change it after login)")
