"""Queue rows say whether they are Celery plumbing (``is_system``) or watched move targets
(``watched``); broker states say when sampling rounds fail inside Switchyard (``round_error``).
Rows left by Switchyard's own plumbing and by inspection reply queues are deleted; other
clients' event queues and worker mailboxes are marked as system queues."""

from django.db import migrations, models


def classify_existing_rows(apps, schema_editor):
    from messaging.queue_names import QueueRole, queue_role

    Queue = apps.get_model("messaging", "Queue")
    system, unwanted = [], []
    for pk, name, present in Queue.objects.values_list("pk", "name", "present").iterator():
        role = queue_role(name)
        if role in (QueueRole.OWN, QueueRole.TRANSIENT):
            unwanted.append(pk)
        elif role is QueueRole.SYSTEM:
            # Before this migration Switchyard's own event queues were named like anyone's: the
            # ones already gone (auto-deleted) are its own or as dead; only live ones stay.
            (system if present else unwanted).append(pk)
    for start in range(0, len(unwanted), 500):
        Queue.objects.filter(pk__in=unwanted[start : start + 500]).delete()
    for start in range(0, len(system), 500):
        Queue.objects.filter(pk__in=system[start : start + 500]).update(is_system=True)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0009_rabbitmq_moved_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="brokerstate",
            name="round_error",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="queue",
            name="is_system",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="queue",
            name="watched",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(classify_existing_rows, migrations.RunPython.noop),
    ]
