"""The three roles of docs/api.md ("Roles"), as Django groups. A superuser is an admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
_RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}


def role_of(user: Any) -> str | None:
    """The user's highest role, or None for anonymous users and users with no role."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    cached = getattr(user, "_switchyard_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    role = max(names, key=_RANK.__getitem__) if names else None
    user._switchyard_role = role
    return role


def has_role(user: Any, needed: str) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[needed]


def can_read_bodies(user: Any) -> bool:
    return has_role(user, OPERATOR)


def set_role(user: Any, role: str) -> None:
    """Give the user exactly this role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    groups = [Group.objects.get_or_create(name=name)[0] for name in ROLES]
    user.groups.remove(*groups)
    user.groups.add(next(g for g in groups if g.name == role))
    user._switchyard_role = False
