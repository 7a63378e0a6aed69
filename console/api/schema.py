"""How the OpenAPI schema describes Switchyard's authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "console.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` or `Bearer <token>` (from `manage.py issuetoken`)",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "console.api.authentication.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every API error: {"error": "<code>", "detail": <text, field errors or null>}.',
    "properties": {"error": {"type": "string"}, "detail": {"nullable": True}},
    "required": ["error", "detail"],
}
COMMON_ERRORS = {
    "400": "The request is malformed or a parameter is out of range.",
    "401": "No credentials, or a token that is unknown or revoked.",
    "403": "The user's role may not do this (or a session request lacks its CSRF token).",
    "404": "No such object.",
    "409": "The object's state does not allow this now, or the broker's transport cannot do it (`unsupported`).",
    "503": "The broker could not be reached or refused the operation.",
}
BODY_ERRORS = {
    "415": "The body is not JSON.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: declare the error answers every endpoint can give,
    with the one error shape, so that clients (and schema-checking fuzzers) can rely on them."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            errors = dict(COMMON_ERRORS)
            if method != "get":
                errors.update(BODY_ERRORS)
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result
