"""Role checks for the API. Each view names the role its unsafe methods need."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from console.roles import ADMIN, OPERATOR, VIEWER, has_role


class _HasRole(BasePermission):
    role = VIEWER
    message = "your role may not do this"

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, self.role)


class IsViewer(_HasRole):
    role = VIEWER


class IsOperator(_HasRole):
    role = OPERATOR


class IsAdmin(_HasRole):
    role = ADMIN


class ReadViewerWriteAdmin(BasePermission):
    """Viewers read; admins write (alert rules)."""

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return has_role(request.user, VIEWER)
        return has_role(request.user, ADMIN)
