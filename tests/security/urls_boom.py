"""The console's URL conf plus a view that fails, to see the 500 answers (page and API)."""

from django.urls import path

from console.urls import handler403, handler404, handler500  # noqa: F401
from console.urls import urlpatterns as console_patterns


def boom(request):
    raise RuntimeError("boom: redis://:pw-in-a-traceback@127.0.0.1:1/0")


urlpatterns = [path("boom/", boom), path("api/v1/boom", boom), *console_patterns]
