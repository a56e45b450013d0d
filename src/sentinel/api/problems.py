"""Errors as RFC 9457 problem+json with stable codes; never a stack trace to a client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentinel.logging import get_logger

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A business error that maps to an HTTP status and a stable `code`."""

    status = 400
    code = "bad_request"
    title = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"about:blank#{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def unexpected_errors(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Answered here rather than by an exception handler: Starlette re-raises after those,
        # and uvicorn then drops the keep-alive connection the proxy was about to reuse.
        try:
            return await call_next(request)
        except Exception as exc:
            log.error(
                "unhandled error", path=request.url.path, error=exc.__class__.__name__, exc_info=exc
            )
            return problem_response(
                500,
                "internal_error",
                "Internal error",
                "Something went wrong on our side; it has been logged.",
            )

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = problem_response(exc.status_code, code, str(exc.detail), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            422,
            "validation_failed",
            "Invalid request",
            "The request did not pass validation.",
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error", path=request.url.path, error=exc.__class__.__name__, exc_info=exc
        )
        return problem_response(
            500,
            "internal_error",
            "Internal error",
            "Something went wrong on our side; it has been logged.",
        )


class NotFound(Problem):
    status = 404
    code = "not_found"
    title = "Not found"


class Forbidden(Problem):
    status = 403
    code = "forbidden"
    title = "Not allowed for your role"


class Conflict(Problem):
    status = 409
    code = "conflict"
    title = "Conflict"
