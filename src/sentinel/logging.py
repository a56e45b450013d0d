"""Structured logging: one event per line, never a secret.

Every process calls `configure_logging` once. A redaction processor drops values of keys that
name secrets and masks any registered secret value wherever it appears in an event, so a secret
that slips into a message or an exception text still never reaches a log file.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|authorization|cookie|key|credential)", re.I)
_known_secrets: set[str] = set()
REDACTED = "[redacted]"


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so they are masked wherever they appear in a log event."""
    _known_secrets.update(v for v in values if len(v) >= 8)


def mask_secrets(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEY.search(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = mask_secrets(value)
    return event


class _MaskingFilter(logging.Filter):
    """Masks registered secrets in records of third-party loggers (uvicorn, asyncpg …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known_secrets:
            record.msg = mask_secrets(record.getMessage())
            record.args = None
        return True


def configure_logging(level: str = "info", json: bool = False, process: str | None = None) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    if process:
        structlog.contextvars.bind_contextvars(process=process)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
