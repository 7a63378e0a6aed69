"""The signed-in user's own API tokens: listed by hint (the token itself is never stored) and
revocable. Any role may manage its own tokens; nobody sees or revokes anyone else's here
(``manage.py revoketoken`` is the administrator's tool)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.models import ApiToken


def tokens_page(request: HttpRequest) -> HttpResponse:
    rows = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "pages/tokens.html", {"tokens": rows, "nav": "tokens"})


@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    row = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if row is None:
        raise Http404("no such token of yours")
    if row.revoked_at is None:
        row.revoke()
        flash.success(request, f"Token {row.hint}… revoked.")
    return redirect("account-tokens")
