"""PostgreSQL puts nulls first in a descending index and the queue list sorts descending figures
with nulls last, so the indexes of 0015 on -depth, -unacked and -oldest_age_s cannot serve it
there; these can. SQLite (nulls last when descending already) cannot declare NULLS LAST in an
index and needs none of them."""

from django.db import migrations

FIGURES = {"depth": "queue_depth_desc_nl", "unacked": "queue_unacked_desc_nl", "oldest_age_s": "queue_oldest_desc_nl"}


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, name in FIGURES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "messaging_queue" '
            f'("{column}" DESC NULLS LAST, "broker", "vhost", "name", "id")'
        )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FIGURES.values():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("messaging", "0015_queue_sort_indexes")]

    operations = [migrations.RunPython(create, drop)]
