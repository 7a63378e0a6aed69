"""Error pages: JSON for API paths, HTML for pages; never a stack trace."""

from __future__ import annotations

from django.shortcuts import render

from console.api.errors import json_not_found, json_server_error


def _wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/metrics"))


def not_found(request, exception=None):
    if _wants_json(request):
        return json_not_found(request)
    return render(request, "errors/404.html", status=404)


def forbidden(request, exception=None):
    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse({"error": "forbidden", "detail": None}, status=403)
    return render(request, "errors/403.html", status=403)


def csrf_failure(request, reason: str = ""):
    """A form sent without its CSRF token (an old tab after a new login, or another site): the
    styled 403 page saying what to do, not Django's bare debug text."""
    if _wants_json(request):
        from django.http import JsonResponse

        return JsonResponse({"error": "csrf", "detail": "CSRF token missing or wrong"}, status=403)
    text = "This form's security token is missing or out of date: reload the page and try again."
    return render(request, "errors/403.html", {"reason": text}, status=403)


def server_error(request):
    if _wants_json(request):
        return json_server_error(request)
    return render(request, "errors/500.html", status=500)
