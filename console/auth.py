"""Every page needs a logged-in user with a role; the API, metrics and WebSocket answer for
themselves (401/403 instead of a redirect)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console.roles import role_of

OPEN_PREFIXES = ("/login", "/static/", "/favicon.ico")
SELF_AUTHENTICATING_PREFIXES = ("/api/", "/metrics", "/ws/")


class LoginRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(OPEN_PREFIXES) or path.startswith(SELF_AUTHENTICATING_PREFIXES):
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        if role_of(request.user) is None and path != "/logout/":
            return render(request, "errors/403.html", {"reason": "Your account has no role."}, status=403)
        return self.get_response(request)
