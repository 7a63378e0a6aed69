"""A sample Celery app and workload so a new installation has something to watch (``manage.py demo``)."""
