"""A task's journey: one timeline of what Switchyard saw for a task id (Celery events, the death
records and the actions that took its message), with its parent and children.

``marks`` records what actions saw, ``queries`` fetches the rows, ``assembly`` (pure) joins them.
"""
