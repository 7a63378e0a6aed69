"""One error shape for the API: ``{"error": "...", "detail": ...}``; never a 500 page."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from messaging.brokers.base import BrokerError, QueueNotFound, Unsupported
from messaging.errors import DomainError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_response(status_code: int, error: str, detail=None) -> Response:
    return Response({"error": error, "detail": detail}, status=status_code)


def domain_error_response(exc: DomainError) -> Response:
    """A refusal of the domain as the API answers it: its status, ``error`` from its ``code``
    (else from the status) and its ``detail``; a 429 says when to retry."""
    response = error_response(exc.status, exc.code or _CODES.get(exc.status, "bad_request"), exc.detail)
    if exc.status == 429:
        response["Retry-After"] = "1"
    return response


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, QueueNotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Unsupported):
        return error_response(409, "unsupported", str(exc))
    if isinstance(exc, BrokerError):
        return error_response(503, "broker_unavailable", str(exc))
    if isinstance(exc, SuspiciousOperation):
        # Django refuses a body it will not parse (too many form fields, too large) while DRF reads
        # request.data inside the view: the client's fault, not a server error.
        return error_response(400, "bad_request", str(exc) or type(exc).__name__)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view").__class__.__name__ if context.get("view") else "?"
        log.exception("unhandled error in API view %s", view, exc_info=exc)
        return error_response(500, "internal_error", "the console hit an unexpected error; see its log")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        detail = detail["detail"]
    response.data = {"error": _CODES.get(response.status_code, "error"), "detail": detail}
    return response


def json_not_found(request, exception=None):
    return JsonResponse({"error": "not_found", "detail": request.path}, status=404)


def json_server_error(request):
    return JsonResponse({"error": "internal_error", "detail": None}, status=500)
