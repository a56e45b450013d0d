"""One Jinja2 environment for every dashboard page, autoescaped, with the filters the templates
share.

Times are rendered as `<time datetime="…UTC…">` with a UTC fallback text; the browser rewrites
them into the viewer's own time zone (`static/js/localtime.js`), so the server never has to
guess where a viewer is.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Pages carry one person's data: never cached by a browser or a proxy. `Vary` because the same
# URL answers a whole page or, to htmx, only the fragment it asked for.
PAGE_HEADERS = {"Cache-Control": "no-store", "Vary": "HX-Request, HX-Target"}


def moment(value: datetime | str | float | None) -> datetime | None:
    """A timezone-aware datetime from what the services hand out (datetime, ISO text, epoch)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: datetime | str | float | None, style: str = "datetime", empty: str = "—") -> Markup:
    """`<time>` for `value`; `style` is `datetime`, `date` or `relative` (see localtime.js)."""
    at = moment(value)
    if at is None:
        return Markup('<span class="muted">%s</span>') % empty
    utc = at.astimezone(UTC)
    # `%` rather than `.format`: this runs for cells of long tables and is several times faster.
    return Markup('<time datetime="%s" data-local="%s">%s</time>') % (
        utc.isoformat(timespec="seconds"),
        style,
        utc.strftime("%Y-%m-%d %H:%M UTC"),
    )


def pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.0f}\u00a0%"  # no break between number and unit


def size(value: Any, suffix: str = "B") -> str:
    """Bytes (or bytes per second with `suffix="B/s"`) in binary units a person can read."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(amount) < 1024 or unit == "Ti":
            return f"{amount:.0f} {unit}{suffix}" if unit == "" else f"{amount:.1f} {unit}{suffix}"
        amount /= 1024
    raise AssertionError("unreachable")


def action_label(action: str) -> str:
    """`device.token_rotated` → `Device token rotated`."""
    words = action.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, pct=pct, size=size, action_label=action_label)
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def wants_fragment(request: Request, target: str) -> bool:
    """True when htmx asks to replace only the element with id `target`."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-target") == target
        and request.headers.get("hx-history-restore-request") != "true"
    )
