"""The dashboard's URL map: server-rendered pages (and the htmx fragments they refresh), plus
the static assets under `/static` (our own modules and the npm packages that `scripts/setup`
copies into `static/vendor`).

Every page is a GET. Changes go to the JSON API (`/api/v1`, `/auth/v1`) from the page's
scripts with the CSRF header, so there is exactly one write path, with its guards, audit and
rate limits. Organization pages declare one read guard each, so the route-table matrices
(RBAC, cross-tenant) test them like the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from sentinel.web import (
    account,
    alerts,
    audit,
    billing,
    device_detail,
    devices,
    enrollment,
    members,
    overview,
    privacy,
)
from sentinel.web.errors import PageRoute
from sentinel.web.rendering import STATIC

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PAGES: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("/", account.home),
    ("/login", account.login_page),
    ("/signup", account.signup_page),
    ("/account", account.account_page),
    ("/orgs", account.orgs_page),
    ("/invitations/accept", account.invitation_page),
    ("/orgs/{org_id}", overview.page),
    ("/orgs/{org_id}/summary", overview.summary),
    ("/orgs/{org_id}/devices", devices.page),
    ("/orgs/{org_id}/devices.csv", devices.csv_export),
    ("/orgs/{org_id}/devices/{device_id}", device_detail.page),
    ("/orgs/{org_id}/devices/{device_id}/commands", device_detail.commands),
    ("/orgs/{org_id}/enrollment", enrollment.page),
    ("/orgs/{org_id}/enrollment/tokens", enrollment.tokens),
    ("/orgs/{org_id}/members", members.page),
    ("/orgs/{org_id}/members/people", members.people),
    ("/orgs/{org_id}/audit", audit.page),
    ("/orgs/{org_id}/alerts", alerts.page),
    ("/orgs/{org_id}/billing", billing.page),
    ("/orgs/{org_id}/privacy", privacy.page),
)

for path, endpoint in PAGES:
    router.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse)

router.mount("/static", StaticFiles(directory=STATIC), name="static")
