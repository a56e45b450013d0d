"""Pages outside any organization: sign-up and login, the account with its sessions, the list
of one's organizations (with creation), and accepting an invitation.

The forms post JSON to `/auth/v1/browser/*`, `/auth/v1/*` and `/api/v1/*` from
`static/js/forms.js`; these pages only render.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from sentinel.api.deps import Res
from sentinel.auth.errors import Unauthorized
from sentinel.auth.passwords import MIN_LENGTH
from sentinel.auth.principal import CurrentUser, current_principal
from sentinel.auth.verifier import Principal
from sentinel.orgs import service as org_service
from sentinel.web import layout
from sentinel.web.errors import safe_next
from sentinel.web.rendering import render


async def optional_principal(request: Request, res: Res) -> Principal | None:
    try:
        return await current_principal(request, res)
    except Unauthorized:
        return None


MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


async def home(user: MaybeUser, res: Res) -> Response:
    """Signed in: the first organization (or the list, to create one); otherwise the login."""
    if user is None:
        return RedirectResponse("/login", status_code=303)
    orgs = await org_service.list_orgs(res, user)
    target = f"/orgs/{orgs[0]['id']}" if len(orgs) == 1 else "/orgs"
    return RedirectResponse(target, status_code=303)


def _auth_page(request: Request, template: str, user: Principal | None) -> Response:
    after = safe_next(request.query_params.get("next"))
    if user is not None:
        return RedirectResponse(after, status_code=303)
    return render(
        request,
        template,
        {"user": None, "org": None, "orgs": [], "next": after, "min_length": MIN_LENGTH},
    )


async def login_page(request: Request, user: MaybeUser) -> Response:
    return _auth_page(request, "login.html", user)


async def signup_page(request: Request, user: MaybeUser) -> Response:
    return _auth_page(request, "signup.html", user)


async def account_page(request: Request, user: CurrentUser, res: Res) -> Response:
    profile = await res.auth.user(user.user_id)
    sessions = await res.auth.sessions(user.user_id)
    for session in sessions:
        session["current"] = session["id"] == str(user.session_id)
    context = await layout.personal(res, user, "account")
    return render(request, "account.html", {**context, "profile": profile, "sessions": sessions})


async def orgs_page(request: Request, user: CurrentUser, res: Res) -> Response:
    context = await layout.personal(res, user, "orgs")
    return render(request, "orgs.html", context)


async def invitation_page(request: Request, user: MaybeUser, res: Res) -> Response:
    """The invitation link's landing page; the token stays in the URL fragment (never sent to
    a server log) and `static/js/invitation.js` posts it."""
    context: dict[str, Any]
    if user is None:
        context = {"user": None, "org": None, "orgs": []}
    else:
        context = await layout.personal(res, user, "orgs")
    return render(request, "invitation.html", context)
