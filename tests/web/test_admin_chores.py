"""Everyday administration in the browser: bulk-moving and tagging devices, choosing columns
(remembered by the browser), inviting a colleague who signs up from the link and joins, ending
another session from the account page, a transparent session refresh, and signing out."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.fleet import enroll, enrollment_token
from tests.people import PASSWORD, create_org, signup, unique_email
from tests.web.browser import Watch, sign_in


def test_bulk_actions_columns_invitations_and_sessions(
    https: httpx.Client, new_context: Callable[[], BrowserContext]
) -> None:
    owner = signup(https)  # this API sign-up is a second session of the owner's
    org_id = create_org(https, owner, "Northgate High")["id"]
    group = https.post(
        f"/api/v1/orgs/{org_id}/device-groups", json={"name": "Room 12"}, headers=owner.headers
    ).json()
    token = enrollment_token(https, owner, org_id)
    for name in ("room12-a", "room12-b"):
        enroll(https, token, hostname=name)

    page = sign_in(new_context(), owner.email, PASSWORD)
    watch = Watch().attach(page)
    page.goto(f"/orgs/{org_id}/devices")
    page.get_by_label("Select every device on this page").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_label("Move to").select_option(label="Room 12")
    page.get_by_label("Add tags").fill("exam, room-12")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.locator("#bulk-form [data-form-ok]")).to_have_text("2 devices updated.")
    rows = page.locator("#device-table tbody tr")
    expect(rows.filter(has_text="Room 12")).to_have_count(2)
    expect(rows.first.locator(".tag")).to_have_text(["exam", "room-12"])
    devices = https.get(f"/api/v1/orgs/{org_id}/devices", headers=owner.headers).json()["items"]
    assert {d["group_id"] for d in devices} == {group["id"]}

    page.locator("#column-chooser summary").click()
    page.get_by_label("Agent version").uncheck()
    expect(page.locator("#device-table th.col-agent")).to_be_hidden()
    page.reload()
    expect(page.locator("#device-table th.col-agent")).to_be_hidden()
    expect(page.locator("#device-table th.col-os")).to_be_visible()

    page.goto(f"/orgs/{org_id}/members")
    colleague = unique_email("colleague")
    page.get_by_label("Email address").fill(colleague)
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Create invitation").click()
    link = page.locator("#invitation-link")
    expect(link).to_contain_text("/invitations/accept#")
    expect(page.locator("#people")).to_contain_text(colleague)

    newcomer = new_context().new_page()
    newcomer.goto(link.inner_text())
    newcomer.get_by_role("link", name="Create an account").click()
    newcomer.get_by_label("Email address").fill(colleague)
    newcomer.get_by_label("Password").fill(PASSWORD)
    newcomer.get_by_role("button", name="Create account").click()
    expect(newcomer).to_have_url(re.compile(r"/invitations/accept#"))
    newcomer.get_by_role("button", name="Accept invitation").click()
    expect(newcomer).to_have_url(re.compile(rf"/orgs/{org_id}$"))
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("Northgate High")

    page.goto("/account")
    sessions = page.locator("main tbody tr")
    expect(sessions).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End session").click()
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("This browser")
    assert https.get("/auth/v1/user", headers=owner.headers).status_code == 401

    # The access cookie is short-lived; a page load refreshes the session transparently.
    page.context.clear_cookies(name="sentinel_at")
    page.goto("/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert "sentinel_at" in {c["name"] for c in page.context.cookies()}

    page.locator(".user-menu summary").click()
    page.locator(".user-menu").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/orgs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Forgs$"))

    assert watch.problems == [], watch.problems
