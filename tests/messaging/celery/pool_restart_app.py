"""The demo app with Celery's pool restarts allowed (``worker_pool_restarts``), for workers that
must act on ``pool_restart``; the demo itself leaves them off, as Celery does by default."""

from messaging.demo.app import app

app.conf.worker_pool_restarts = True

__all__ = ["app"]
