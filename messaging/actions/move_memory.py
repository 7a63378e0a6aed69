"""What an action moved on RabbitMQ, remembered by identity so a later run is not fooled by the
broker handing a moved message back (see ``messaging/brokers/rabbitmq/move_session.py``).

One :class:`MovedMessage` row per message moved (or deleted), written in the same transaction
that clears the batch's in-doubt count, before the source acks; read by the action's later runs
for redelivered messages; deleted when the action ends for good (and with the action).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Count, F

from messaging.models import Action, MovedMessage


def recorder(action: Action, token: str) -> Callable[..., None]:
    """Store the identities of a batch confirmed at its target (or about to be deleted), count it
    in ``done`` and set the in-doubt count to what is still published but unsettled after it (a
    later batch, ``in_doubt``), in one transaction committed before the source acks
    are sent: a run that dies before its next progress save still resumes from the exact count."""
    run = action.runs

    # One executemany: bulk_create's per-object preparation cost more than the insert itself.
    columns = ", ".join(connection.ops.quote_name(c) for c in ("action_id", "run", "identity"))
    table = connection.ops.quote_name(MovedMessage._meta.db_table)
    insert = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s)"  # noqa: S608 - names from the model

    def record(identities: list[str], in_doubt: int = 0) -> None:
        with transaction.atomic():
            if identities:
                with connection.cursor() as cursor:
                    cursor.executemany(insert, [(action.pk, run, identity) for identity in identities])
            Action.objects.filter(pk=action.pk, claim_token=token).update(
                in_doubt=in_doubt, done=F("done") + len(identities)
            )

    return record


def lookup(action: Action) -> Callable[[list[str]], dict[str, int]]:
    """How many copies of each identity the action's earlier runs recorded."""
    run = action.runs

    def moved_before(identities: list[str]) -> dict[str, int]:
        earlier = MovedMessage.objects.filter(action_id=action.pk, run__lt=run)
        found: dict[str, int] = {}
        for start in range(0, len(identities), 500):
            chunk = earlier.filter(identity__in=identities[start : start + 500]).values("identity")
            found.update((row["identity"], row["copies"]) for row in chunk.annotate(copies=Count("id")))
        return found

    return moved_before


def forget(action: Action) -> None:
    MovedMessage.objects.filter(action=action).delete()
