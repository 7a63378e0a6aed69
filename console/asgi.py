"""One ASGI app for HTTP and WebSocket."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does, before building our handler

from console.request_threads import PooledThreadsASGIHandler  # noqa: E402

django_http = PooledThreadsASGIHandler()

# Static files are served by ServeStatic's middleware (settings.MIDDLEWARE), also with DEBUG off.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from console.stream.auth import TokenOrSessionMiddleware  # noqa: E402
from console.stream.consumers import StreamConsumer  # noqa: E402

websocket_urls = [
    path("ws/stream", StreamConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": TokenOrSessionMiddleware(URLRouter(websocket_urls)),
    }
)
