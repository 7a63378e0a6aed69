"""``manage.py runaction ID``: run one operator action in this process (or ``--resume`` it first).

For operations and tests: the same :func:`run_action` the console's runner (or a Celery task)
calls. Prints the action as JSON when it ends.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from messaging.actions import action_dict, reap_interrupted, run_action
from messaging.models import Action


class Command(BaseCommand):
    help = "Run one pending operator action to its end."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action_id", type=int)
        parser.add_argument("--resume", action="store_true", help="resume it if it was interrupted")
        parser.add_argument("--stale-after", type=float, default=None, help="seconds without heartbeat = interrupted")

    def handle(self, *args, action_id: int, resume: bool, stale_after: float | None, **options) -> None:
        if resume:
            reap_interrupted(stale_after)
            updated = Action.objects.filter(pk=action_id, state=Action.FAILED, interrupted=True).update(
                state=Action.PENDING, error="", finished_at=None
            )
            if not updated:
                raise CommandError(f"action {action_id} is not interrupted")
        action = run_action(action_id)
        if action is None:
            raise CommandError(f"action {action_id} is not pending (or another runner has it)")
        self.stdout.write(json.dumps(action_dict(action)))
