"""A readonly member sees every page but no control that changes anything, and whatever they
forge — a plain form post, or a script's fetch with their cookie and the CSRF token — the
server refuses (403) and nothing changes. An owner sees the controls on the same pages, so the
absence is about the role, not about a page that never shows them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.fleet import enroll, enrollment_token
from tests.people import PASSWORD, User, add_member, create_org, signup
from tests.web.browser import Watch, screenshot, sign_in

MUTATING_WORDS = re.compile(
    r"\b(create|revoke|remove|withdraw|invite|apply|send|save|rotate|decommission|change role|"
    r"delete|enroll devices)\b",
    re.IGNORECASE,
)
FORGE_FETCH = """async ([method, url, body, withCsrf]) => {
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("sentinel_csrf="));
  const headers = {"Content-Type": "application/json"};
  if (withCsrf) headers["X-CSRF-Token"] = decodeURIComponent(csrf.split("=")[1]);
  const response = await fetch(url, {method, headers, body: body === null ? undefined : JSON.stringify(body)});
  return [response.status, await response.json()];
}"""
FORGE_FORM = """([url, fields]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = url;
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}"""


class School:
    def __init__(self, https: httpx.Client) -> None:
        self.owner: User = signup(https)
        self.org_id: str = create_org(https, self.owner, "Riverside Academy")["id"]
        token = enrollment_token(https, self.owner, self.org_id)
        self.device_id = enroll(https, token, hostname="art-room-pc").device_id
        self.readonly: User = add_member(https, self.owner, self.org_id, "readonly")
        self.api = f"/api/v1/orgs/{self.org_id}"

    def pages(self) -> dict[str, str]:
        base = f"/orgs/{self.org_id}"
        return {
            "overview": base,
            "devices": f"{base}/devices",
            "device": f"{base}/devices/{self.device_id}",
            "enrollment": f"{base}/enrollment",
            "members": f"{base}/members",
            "audit": f"{base}/audit",
        }

    def state(self, https: httpx.Client) -> dict[str, Any]:
        """What a forged request would change, read by the owner through the API."""
        headers = self.owner.headers
        device = https.get(f"{self.api}/devices/{self.device_id}", headers=headers).json()
        return {
            "device": {k: device[k] for k in ("name", "status", "tags", "group_id")},
            "tokens": len(https.get(f"{self.api}/enrollment-tokens", headers=headers).json()),
            "members": sorted(
                (m["user_id"], m["role"])
                for m in https.get(f"{self.api}/members", headers=headers).json()
            ),
            "invitations": len(https.get(f"{self.api}/invitations", headers=headers).json()),
            "commands": len(
                https.get(f"{self.api}/devices/{self.device_id}/commands", headers=headers).json()
            ),
        }


@pytest.fixture
def school(https: httpx.Client) -> School:
    return School(https)


def mutating_controls(page: Page) -> list[str]:
    """Controls that declare a write permission, forms that call a write endpoint (other than
    one's own session), and visible buttons or links whose words change something."""
    found = [
        f"[data-requires={el.get_attribute('data-requires')}]"
        for el in page.locator("[data-requires]").all()
    ]
    found += [
        f"form {el.get_attribute('data-api-method')} {el.get_attribute('data-api-url')}"
        for el in page.locator("form[data-api-method]:not([data-personal])").all()
    ]
    for control in page.locator("main button:visible, main a.button:visible").all():
        text = control.inner_text().strip()
        if MUTATING_WORDS.search(text):
            found.append(f"control {text!r}")
    return found


def test_readonly_sees_no_mutating_control_and_owner_does(
    school: School, new_context: Callable[[], BrowserContext]
) -> None:
    readonly = new_context()
    page = readonly.new_page()
    watch = Watch().attach(page)
    page.goto("/login")
    page.get_by_label("Email address").fill(school.readonly.email)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{school.org_id}$"))

    for name, path in school.pages().items():
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        assert mutating_controls(page) == [], f"{name}: {mutating_controls(page)}"
        if name == "devices":
            screenshot(page, "devices-readonly")
    assert watch.problems == [], watch.problems

    page = sign_in(new_context(), school.owner.email, PASSWORD)
    for name in ("devices", "device", "enrollment", "members"):
        page.goto(school.pages()[name])
        assert mutating_controls(page), f"the owner sees no control on {name}"
    screenshot(page, "members")
    page.goto(school.pages()["audit"])
    expect(page.locator("main table")).to_contain_text("Device enrolled")
    screenshot(page, "audit")
    page.goto("/account")
    expect(page.get_by_text("This browser")).to_be_visible()
    screenshot(page, "account")


def test_forged_requests_from_a_readonly_session_are_refused(
    school: School, https: httpx.Client, new_context: Callable[[], BrowserContext]
) -> None:
    before = school.state(https)
    page = sign_in(new_context(), school.readonly.email, PASSWORD)
    page.goto(school.pages()["device"])

    api, device = school.api, f"{school.api}/devices/{school.device_id}"
    forged: list[tuple[str, str, Any]] = [
        ("POST", f"{api}/enrollment-tokens", {"label": "forged", "max_uses": 100}),
        ("POST", f"{device}/revoke", None),
        ("POST", f"{device}/decommission", None),
        ("POST", f"{device}/rotate-token", None),
        ("PATCH", device, {"name": "forged", "tags": ["forged"]}),
        ("POST", f"{api}/devices/bulk", {"device_ids": [school.device_id], "add_tags": ["x"]}),
        ("POST", f"{device}/commands", {"name": "ping"}),
        ("POST", f"{api}/invitations", {"email": "forged@school.example", "role": "owner"}),
        ("PATCH", f"{api}/members/{school.readonly.id}", {"role": "owner"}),
        ("DELETE", f"{api}/members/{school.owner.id}", None),
        ("PATCH", f"{api}/agent-settings", {"allow_reboot": True}),
    ]
    for method, url, body in forged:
        status, problem = page.evaluate(FORGE_FETCH, [method, url, body, True])
        assert (status, problem["code"]) == (403, "forbidden"), (method, url, problem)
        # Without the CSRF header the cookie alone is worth nothing.
        status, problem = page.evaluate(FORGE_FETCH, [method, url, body, False])
        assert (status, problem["code"]) == (403, "csrf_failed"), (method, url, problem)

    # A classic HTML form post (what a cross-site page could try too): no header, refused.
    for url, fields in ((f"{device}/revoke", {}), (f"{api}/enrollment-tokens", {"label": "x"})):
        with page.expect_navigation() as navigation:
            page.evaluate(FORGE_FORM, [url, fields])
        response = navigation.value
        assert response is not None and response.status == 403, url
        assert response.json()["code"] == "csrf_failed"

    assert school.state(https) == before
