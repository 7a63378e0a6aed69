"""Users, for admins: the list with a form to create one, and a page per user to set the role, set
a password, deactivate or reactivate, and issue or revoke API tokens. Every change goes through
:mod:`console.users` (which audits it); a password or token created here is shown once, in the
answer to the POST that made it, and never again."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console import users
from console.models import ApiToken
from console.roles import ADMIN, ROLES, has_role, role_of

ROLE_CHOICES = [(role, role) for role in ROLES]


class CreateUserForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z", max_length=150, error_messages={"invalid": "Letters, digits and @/./+/-/_ only."}
    )
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="viewer")
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput, help_text="empty: generate one")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class PasswordForm(forms.Form):
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput)


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(choices=[("yes", "yes"), ("no", "no")], coerce=lambda value: value == "yes")


class TokenForm(forms.Form):
    label = forms.CharField(required=False, max_length=100)


def admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not has_role(request.user, ADMIN):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return checked


def _user_rows():
    live = Q(api_tokens__revoked_at__isnull=True)
    return (
        get_user_model()
        .objects.order_by("username")
        .prefetch_related("groups")
        .annotate(active_token_count=Count("api_tokens", filter=live))
    )


@admin_only
@require_http_methods(["GET", "POST"])
def users_list(request: HttpRequest) -> HttpResponse:
    form = CreateUserForm(request.POST or None)
    shown_password = created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                created, shown_password = users.create_user(
                    request.user, data["username"], data["role"], data["password"] or None
                )
            except ValidationError as error:
                form.add_error("password", error)
            except users.UserChangeRefused as refusal:
                form.add_error("username", str(refusal))
        if created is None:
            status = 400
        else:
            if shown_password is None:
                flash.success(request, f"User {created.username} created as {data['role']}.")
                return redirect("user", created.pk)
            form = CreateUserForm()
    rows = [(user, role_of(user) if user.is_active else _inactive_role(user)) for user in _user_rows()]
    context = {"rows": rows, "form": form, "created": created, "shown_password": shown_password, "nav": "users"}
    return render(request, "pages/users.html", context, status=status)


def _inactive_role(user) -> str | None:
    """An inactive user's role as it will be on reactivation (role_of answers None for them)."""
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    return next((role for role in reversed(ROLES) if role in names), None)


def _user_page(request: HttpRequest, user, status: int = 200, **context) -> HttpResponse:
    context = {
        "subject": user,
        "subject_role": role_of(user) if user.is_active else _inactive_role(user),
        "tokens": ApiToken.objects.filter(user=user).order_by("-created_at"),
        "roles": ROLES,
        "nav": "users",
        **context,
    }
    return render(request, "pages/user.html", context, status=status)


@admin_only
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_page(request, get_object_or_404(get_user_model(), pk=user_id))


def _refused(request: HttpRequest, user, reason: str) -> HttpResponse:
    return _user_page(request, user, status=409, refusal=reason)


@admin_only
@require_POST
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, status=400, refusal="Choose viewer, operator or admin.")
    try:
        users.change_role(request.user, user, form.cleaned_data["role"])
    except users.UserChangeRefused as refusal:
        return _refused(request, user, str(refusal))
    flash.success(request, f"{user.username} is now {form.cleaned_data['role']}.")
    return redirect("user", user.pk)


@admin_only
@require_POST
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = PasswordForm(request.POST)
    form.is_valid()
    try:
        generated = users.set_password(request.user, user, form.cleaned_data.get("password") or None)
    except ValidationError as error:
        return _user_page(request, user, status=400, password_errors=error.messages)
    if generated is None:
        flash.success(request, f"Password of {user.username} set.")
        return redirect("user", user.pk)
    return _user_page(request, user, shown_password=generated)


@admin_only
@require_POST
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = ActiveForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, status=400, refusal="Say active=yes or active=no.")
    try:
        users.set_active(request.user, user, form.cleaned_data["active"])
    except users.UserChangeRefused as refusal:
        return _refused(request, user, str(refusal))
    state = (
        "reactivated"
        if form.cleaned_data["active"]
        else "deactivated: they cannot log in and their tokens stop working"
    )
    flash.success(request, f"{user.username} {state}.")
    return redirect("user", user.pk)


@admin_only
@require_POST
def user_token_issue(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, status=400, refusal="A token label is at most 100 characters.")
    row, token = users.issue_token(request.user, user, form.cleaned_data["label"])
    return _user_page(request, user, shown_token=token, shown_token_row=row)


@admin_only
@require_POST
def user_token_revoke(request: HttpRequest, user_id: int, token_id: int) -> HttpResponse:
    row = get_object_or_404(ApiToken.objects.select_related("user"), pk=token_id, user_id=user_id)
    if users.revoke_token(request.user, row):
        flash.success(request, f"Token {row.hint}… of {row.user.username} revoked.")
    return redirect("user", user_id)
