"""The first hour of a school IT person, in a real browser through Caddy: sign up, create the
organization, create an enrollment token, a (simulated) computer enrolls and comes online in
the device list without a reload, its live chart gains points, it is revoked and shows offline.

All along: no CSP violation, no console or page error, and the live feed is a wss:// WebSocket
through Caddy's HTTPS port.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient, Enrollment, enroll
from tests.people import PASSWORD, unique_email
from tests.web.browser import Watch, screenshot

ONLINE = {"v": 1, "state": "online"}


def sign_up_and_create_organization(page: Page, name: str) -> str:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email address").fill(unique_email("it-lead"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/orgs$"))
    expect(page.get_by_text("You are not in any organization yet")).to_be_visible()
    screenshot(page, "organizations")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(re.compile(r"/orgs/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return page.url.rsplit("/", 1)[1]


def create_enrollment_token(page: Page) -> str:
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Enrollment").click()
    page.get_by_label("Label").fill("Library laptops")
    page.get_by_label("Number of devices").fill("5")
    page.get_by_role("button", name="Create token").click()
    panel = page.locator("#new-token")
    expect(panel).to_be_visible()
    token = page.locator("#new-token-value").inner_text()
    assert token.startswith("set_") or len(token) > 20, token
    # The install commands carry the same token, ready to paste.
    expect(page.locator("#install-linux")).to_contain_text(token)
    expect(page.locator("#tokens")).to_contain_text("Library laptops")
    expect(page.locator("#tokens")).to_contain_text("0 of 5")
    screenshot(page, "enrollment")
    return token


def online_device(stack: Stack, https: httpx.Client, token: str) -> tuple[Enrollment, DeviceClient]:
    enrollment = enroll(https, token, hostname="library-laptop-01")
    device = DeviceClient(stack.settings, enrollment)
    device.connect()
    device.publish("status", ONLINE, retain=True)  # what the agent does on connecting
    return enrollment, device


def test_enroll_watch_live_and_revoke(
    stack: Stack, https: httpx.Client, new_context: Callable[[], BrowserContext]
) -> None:
    page = new_context().new_page()
    watch = Watch().attach(page)
    org_id = sign_up_and_create_organization(page, "Hillside Primary")
    expect(page.get_by_text("No devices yet")).to_be_visible()
    token = create_enrollment_token(page)

    # The device list, empty, with the live feed connected before anything happens.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Devices").click()
    expect(page.get_by_text("No devices yet")).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    loads = watch.loads

    enrollment, device = online_device(stack, https, token)
    try:
        row = page.locator(f'#device-table tr[data-device-id="{enrollment.device_id}"]')
        expect(row).to_be_visible()  # enrolled: the table refreshed itself
        expect(row.locator('[data-live="presence"]')).to_have_text("Online")
        device.send_samples([1], cpu_pct=37.0, mem_pct=52.0, disk_pct=61.0, battery_pct=88.0)
        expect(row.locator('[data-live="cpu_pct"]')).to_have_text("37\u00a0%")
        assert watch.loads == loads, "the device list reloaded the page"
        # Enrollment times are shown in the viewer's zone, not in the UTC fallback text.
        enrolled = row.locator(".col-enrolled time")
        assert "UTC" not in enrolled.inner_text()
        screenshot(page, "devices")

        row.get_by_role("link", name="library-laptop-01").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("library-laptop-01")
        cpu_chart = page.locator('figure[data-chart="cpu"]')
        expect(page.locator("[data-chart-status]")).not_to_have_text("Loading…")
        loads = watch.loads
        before = int(cpu_chart.get_attribute("data-points") or "0")
        for seq in range(2, 6):
            device.send_samples([seq], cpu_pct=20.0 + seq, mem_pct=50.0, disk_pct=61.0)
            time.sleep(0.3)
        page.wait_for_function(
            "([el, n]) => Number(el.dataset.points) >= n",
            arg=[cpu_chart.element_handle(), before + 4],
        )
        expect(page.locator('.metrics [data-live="cpu_pct"]')).to_have_text("25\u00a0%")
        assert watch.loads == loads, "the device page reloaded"
        screenshot(page, "device")

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke").click()
        badge = page.locator('h1 + [data-live="presence"]')
        expect(badge).to_have_text("Revoked")
        expect(page.locator('[data-live="connection"]')).to_have_text("Offline")
        expect(page.locator('[data-live="status"]')).to_have_text("Revoked")
        assert watch.loads == loads, "revoking reloaded the page"
    finally:
        device.close()

    page.goto(f"/orgs/{org_id}")
    expect(page.locator("#summary")).to_contain_text("revoked")
    screenshot(page, "overview")

    assert watch.problems == [], watch.problems
    origin = f"wss://localhost:{stack.settings.https_port}/"
    assert watch.websockets, "no live feed was opened"
    assert all(url.startswith(origin) for url in watch.websockets), watch.websockets
