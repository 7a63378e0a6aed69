"""The browsable API reference: Swagger UI over /api/schema/, its assets from
drf-spectacular-sidecar's static files (never a CDN), its start-up script a separate request so
the console's CSP (no inline script) holds. A page like any other: behind login, for viewers up."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiReference(SpectacularSwaggerSplitView):
    template_name = "pages/api_docs.html"
    url_name = "api-schema"
    title = "API reference"

    @extend_schema(exclude=True)  # a page, not an API operation
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if request.GET.get("script") is None:
            response.data["nav"] = "api-docs"
        return response
