"""The signed-in user's own account: their API tokens, listed by hint (the token itself is never
stored) and revocable, and their password. Any role may manage its own; nobody sees or changes
anyone else's here (admins do that on the Users pages, console/pages/users.py)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console import users
from console.models import ApiToken


def tokens_page(request: HttpRequest) -> HttpResponse:
    rows = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "pages/tokens.html", {"tokens": rows, "nav": "tokens"})


@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    row = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if row is None:
        raise Http404("no such token of yours")
    if users.revoke_token(request.user, row):
        flash.success(request, f"Token {row.hint}… revoked.")
    return redirect("account-tokens")


@require_http_methods(["GET", "POST"])
def change_password(request: HttpRequest) -> HttpResponse:
    """The current password, then the new one twice (Django's validators); this session stays."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        users.set_password(request.user, request.user, form.cleaned_data["new_password1"])
        update_session_auth_hash(request, request.user)
        flash.success(request, "Password changed.")
        return redirect("account-tokens")
    status = 400 if request.method == "POST" else 200
    return render(request, "pages/account_password.html", {"form": form, "nav": "account"}, status=status)
