"""Managing console users: create, set a role, set a password, deactivate and reactivate, issue and
revoke API tokens. Every change is one transaction with its audit entry; views and commands call
these functions and never touch the user rows themselves.

Guarantees: no change leaves the console without an active admin (:class:`UserChangeRefused`);
a password is checked by Django's validators (``AUTH_PASSWORD_VALIDATORS``) and never audited;
token text and generated passwords are returned to the caller once and never stored.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console import roles
from console.models import ApiToken
from messaging import audit


class UserChangeRefused(Exception):
    """The change would leave no active admin, or names something that is not there."""


def generated_password() -> str:
    return secrets.token_urlsafe(12)


def active_admins() -> Any:
    """Users who may administer the console now: active, and superusers or in the admin group."""
    return (
        get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN), is_active=True).distinct()
    )


def _refuse_if_last_admin(user: Any, verb: str) -> None:
    """Inside the caller's transaction: two admins demoting each other at once must not both pass,
    so changes that may remove an admin take the admin group's row lock first (PostgreSQL; SQLite
    serializes writers anyway)."""
    if roles.role_of(user) != roles.ADMIN:
        return
    Group.objects.get_or_create(name=roles.ADMIN)
    Group.objects.select_for_update().get(name=roles.ADMIN)
    if not active_admins().exclude(pk=user.pk).exists():
        raise UserChangeRefused(f"{user.username} is the last active admin: cannot {verb} them")


def create_user(actor: Any, username: str, role: str, password: str | None = None) -> tuple[Any, str | None]:
    """Create an active user with exactly ``role``. Returns the user and, when no password was
    given, the generated one (to be shown once). Raises ValidationError for a weak password and
    UserChangeRefused for a taken username."""
    model = get_user_model()
    generated = None if password else generated_password()
    candidate = model(username=username)
    validate_password(password or generated, user=candidate)
    with transaction.atomic():
        if model.objects.filter(username__iexact=username).exists():
            raise UserChangeRefused(f"a user named {username} already exists")
        user = model.objects.create_user(username=username, password=password or generated)
        roles.set_role(user, role)
        audit.record(actor, "user.create", params={"username": username, "role": role}, outcome="created")
    return user, generated


def change_role(actor: Any, user: Any, role: str) -> None:
    """Give ``user`` exactly ``role``; a superuser set below admin stops being a superuser (else
    the role would not take). Refused if it would demote the last active admin."""
    if role not in roles.ROLES:
        raise UserChangeRefused(f"unknown role {role!r}")
    with transaction.atomic():
        before = roles.role_of(user) or "none"
        if role != roles.ADMIN:
            _refuse_if_last_admin(user, "demote")
            if user.is_superuser or user.is_staff:
                user.is_superuser = user.is_staff = False
                user.save(update_fields=["is_superuser", "is_staff"])
        roles.set_role(user, role)
        audit.record(
            actor, "user.role", params={"username": user.username, "from": before, "to": role}, outcome="changed"
        )


def set_password(actor: Any, user: Any, password: str | None = None) -> str | None:
    """Set ``user``'s password (an admin's reset, or a user's own change). Returns the generated
    password when none was given. The user's other sessions end: Django checks the password hash
    on every request. Raises ValidationError for a password the validators refuse."""
    generated = None if password else generated_password()
    validate_password(password or generated, user=user)
    with transaction.atomic():
        user.set_password(password or generated)
        user.save(update_fields=["password"])
        own = getattr(actor, "pk", None) == user.pk
        audit.record(
            actor,
            "user.password",
            params={"username": user.username, "by": "self" if own else "admin", "generated": generated is not None},
            outcome="changed",
        )
    return generated


def set_active(actor: Any, user: Any, active: bool) -> None:
    """Deactivate or reactivate ``user``. A deactivated user cannot log in, their sessions end
    (Django refuses inactive users on every request) and their tokens answer 401
    (:meth:`ApiToken.user_for`); their tokens stay revocable and come back on reactivation.
    Refused if it would deactivate the last active admin."""
    with transaction.atomic():
        if user.is_active == active:
            return
        if not active:
            _refuse_if_last_admin(user, "deactivate")
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            _end_sessions(user)
        verb = "user.reactivate" if active else "user.deactivate"
        audit.record(actor, verb, params={"username": user.username}, outcome="active" if active else "inactive")


def _end_sessions(user: Any) -> None:
    """Delete the user's database sessions (Django would refuse them anyway; this frees them)."""
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()


def issue_token(actor: Any, user: Any, label: str = "") -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns the row and the token text (shown once, never stored)."""
    with transaction.atomic():
        row, token = ApiToken.issue(user, label=label)
        audit.record(
            actor, "token.issue", params={"username": user.username, "hint": row.hint, "label": label}, outcome="issued"
        )
    return row, token


def revoke_token(actor: Any, row: ApiToken) -> bool:
    """Revoke the token; False if it was already revoked (nothing changes, nothing is audited)."""
    with transaction.atomic():
        if row.revoked_at is not None:
            return False
        row.revoke()
        audit.record(actor, "token.revoke", params={"username": row.user.username, "hint": row.hint}, outcome="revoked")
    return True
