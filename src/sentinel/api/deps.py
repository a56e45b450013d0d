"""Named dependencies shared by every domain's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.api.resources import Resources


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


Res = Annotated[Resources, Depends(get_resources)]


def client_ip(request: Request) -> str | None:
    """The client address; uvicorn takes it from X-Forwarded-For only when Caddy sent it."""
    return request.client.host if request.client else None
