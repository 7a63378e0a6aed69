from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from console.api.metrics import Metrics
from console.api_docs import ApiReference
from console.pages import urls as page_urls


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico on anything without an icon link (a fragment or JSON opened
    in a tab): send them to the console's icon instead of a 404."""
    return HttpResponseRedirect(static("switchyard/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/", include("console.api.urls")),
    path("metrics", Metrics.as_view(), name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Under /docs/, not /api/: a page behind the login redirect, not an API answering 401.
    path("docs/api/", ApiReference.as_view(), name="api-docs"),
    path("", include(page_urls)),
]

handler404 = "console.pages.errors.not_found"
handler500 = "console.pages.errors.server_error"
handler403 = "console.pages.errors.forbidden"
