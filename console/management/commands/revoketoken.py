"""``manage.py revoketoken (HINT | --user USERNAME)``: revoke API tokens at once.

A token is named by its hint (its first characters, as ``issuetoken`` printed them and the tokens
page lists them) or all of one user's tokens with ``--user``. Revoked tokens answer 401 from then on.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from console.models import ApiToken


class Command(BaseCommand):
    help = "Revoke API tokens by hint (their first characters) or every token of --user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("hint", nargs="?", help="the token's first characters (at least 8), or the whole token")
        parser.add_argument("--user", help="revoke every active token of this user")

    def handle(self, *args, hint: str | None, user: str | None, **options) -> None:
        if bool(hint) == bool(user):
            raise CommandError("name a token by its hint, or give --user USERNAME (one of the two)")
        active = ApiToken.objects.filter(revoked_at__isnull=True)
        if user:
            rows = active.filter(user__username=user)
        else:
            if len(hint) < 8:
                raise CommandError("give at least the first 8 characters of the token")
            rows = active.filter(hint=hint[:10]) if len(hint) >= 10 else active.filter(hint__startswith=hint)
            if rows.count() > 1:
                raise CommandError(f"{rows.count()} tokens start with {hint!r}: give more characters or use --user")
        count = rows.update(revoked_at=timezone.now())
        if not count:
            raise CommandError("no active token matches")
        self.stdout.write(f"revoked {count} token(s)")
