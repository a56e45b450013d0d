"""Shared pieces of the alerts, billing and privacy page tests: an organization with an owner,
a readonly member and one enrolled device; a signed-in page watched for console errors, page
errors and CSP violations; and a way to run the database helpers (async) from these sync
tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page

from tests.fleet import Enrollment, enroll, enrollment_token
from tests.people import PASSWORD, User, add_member, create_org, signup
from tests.web.browser import Watch, sign_in
from tests.web.test_readonly import mutating_controls

T = TypeVar("T")

# Chromium also logs violations to the console; this records them explicitly as well.
CSP_WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});"""


@dataclass
class Org:
    owner: User
    readonly: User
    org_id: str
    device: Enrollment

    @property
    def api(self) -> str:
        return f"/api/v1/orgs/{self.org_id}"

    def page(self, name: str) -> str:
        return f"/orgs/{self.org_id}/{name}"


def new_org(https: httpx.Client, hostname: str = "library-pc-01") -> Org:
    owner = signup(https)
    org_id = str(create_org(https, owner)["id"])
    device = enroll(https, enrollment_token(https, owner, org_id), hostname=hostname)
    readonly = add_member(https, owner, org_id, "readonly")
    return Org(owner, readonly, org_id, device)


def open_as(new_context: Callable[[], BrowserContext], user: User, path: str) -> tuple[Page, Watch]:
    context = new_context()
    context.add_init_script(CSP_WATCH)
    page = sign_in(context, user.email, PASSWORD)
    watch = Watch().attach(page)
    page.goto(path)
    return page, watch


def assert_clean(page: Page, watch: Watch) -> None:
    assert watch.problems == [], watch.problems
    assert page.evaluate("window.__csp") == []


def assert_no_mutating_control(page: Page) -> None:
    found = mutating_controls(page)
    # Words the shared readonly check does not know, used by these pages.
    for control in page.locator("main button:visible").all():
        text = control.inner_text().strip().lower()
        if text.startswith(("acknowledge", "resolve", "enable", "disable", "switch", "buy")):
            found.append(f"control {text!r}")
    assert found == [], found


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on its own event loop in another thread (Playwright's sync API owns the
    test thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=30)
