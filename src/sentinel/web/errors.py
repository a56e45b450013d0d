"""Errors on dashboard routes: a person gets a page, a program gets problem+json.

`PageRoute` wraps every dashboard route. When a browser navigates to a page (it accepts
`text/html` and is not htmx), an error becomes an HTML page with the same status, and "not
signed in" becomes a redirect to the login page. htmx requests that lost their session are told
to go to the login page (`HX-Redirect`). Everything else — API clients, htmx fragments,
the generated RBAC and cross-tenant matrices — gets the application's problem+json unchanged,
so a page answers exactly like the API it mirrors (404 for other tenants, 403 for roles).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentinel.api.problems import Problem
from sentinel.logging import get_logger
from sentinel.web.rendering import render

log = get_logger(__name__)
MESSAGES = {
    401: ("Please sign in", "Your session has ended. Sign in again to continue."),
    403: ("Not allowed", "Your role in this organization does not allow this."),
    404: ("Not found", "This page does not exist, or you are not a member of its organization."),
    422: ("Invalid address", "Some of the values in this address are not valid."),
    500: ("Something went wrong", "Something went wrong on our side; it has been logged."),
}


def is_navigation(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not is_htmx(request)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(here, safe='')}"


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths. `//evil.example` and `https://…` leave the site; browsers read a
    backslash like a slash and drop tabs and newlines, which would turn `/` + tab + `/evil`
    into `//evil`."""
    if not value or not value.startswith("/") or "\\" in value:
        return default
    if any(ch.isspace() or ord(ch) < 32 for ch in value) or value.startswith("//"):
        return default
    return value


def _status_and_detail(exc: Exception) -> tuple[int, str | None]:
    if isinstance(exc, Problem):
        return exc.status, exc.detail
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, None
    return 422, None


def error_page(request: Request, status: int, detail: str | None) -> Response:
    title, fallback = MESSAGES.get(status, ("Something went wrong", "Please try again."))
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail or fallback},
        status=status,
    )


def _for_person(request: Request, exc: Exception) -> Response | None:
    status, detail = _status_and_detail(exc)
    if status == 401 and is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": login_url(request)})
    if not is_navigation(request):
        return None
    if status == 401:
        return RedirectResponse(login_url(request), status_code=303)
    return error_page(request, status, detail)


class PageRoute(APIRoute):
    """An `APIRoute` whose errors are rendered for people (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (Problem, StarletteHTTPException, RequestValidationError) as exc:
                response = _for_person(request, exc)
                if response is None:
                    raise
                return response
            except Exception as exc:
                if not is_navigation(request):
                    raise  # the application's handler logs it and answers problem+json
                log.error(
                    "unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc
                )
                return error_page(request, 500, None)

        return handle
