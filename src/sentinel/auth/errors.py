"""Typed auth errors (problem+json)."""

from __future__ import annotations

from typing import Any

from sentinel.api.problems import Problem


class Unauthorized(Problem):
    status = 401
    code = "unauthorized"
    title = "Not signed in"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "A valid access token is required.", **extra)
        self.headers = {"WWW-Authenticate": 'Bearer realm="sentinel"'}


class InvalidCredentials(Problem):
    status = 400
    code = "invalid_credentials"
    title = "Invalid login credentials"


class InvalidGrant(Problem):
    status = 400
    code = "invalid_grant"
    title = "Invalid refresh token"


class EmailTaken(Problem):
    status = 422
    code = "email_exists"
    title = "A user with this email address has already been registered"


class ExternalAuth(Problem):
    status = 400
    code = "external_auth_provider"
    title = "Sign-in is handled by the external identity provider"


class CsrfFailed(Problem):
    status = 403
    code = "csrf_failed"
    title = "Missing or wrong CSRF token"
