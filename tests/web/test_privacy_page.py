"""The privacy page: the oldest telemetry held and the retention cutoffs; the owner lowers the
telemetry retention and the page shows the new cutoff without a reload; a readonly member
sees the settings as text and no control."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import BrowserContext, expect

from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient
from tests.web.browser import screenshot
from tests.web.org_pages import assert_clean, assert_no_mutating_control, new_org, open_as


def _time(value: str | None) -> datetime:
    assert value, "no <time datetime>"
    return datetime.fromisoformat(value)


def test_privacy_page(
    stack: Stack, https: httpx.Client, new_context: Callable[[], BrowserContext]
) -> None:
    org = new_org(https)
    device = DeviceClient(stack.settings, org.device)
    device.connect()
    try:
        device.send_samples(range(1, 4), cpu_pct=12.0)
        device.wait_receipts({1, 2, 3})
    finally:
        device.close()
    privacy = https.get(f"{org.api}/privacy", headers=org.owner.headers).json()
    oldest = datetime.fromisoformat(privacy["oldest"]["telemetry"]).replace(microsecond=0)

    page, watch = open_as(new_context, org.owner, org.page("privacy"))
    shown = page.locator("[data-oldest=telemetry] time")
    assert _time(shown.get_attribute("datetime")) == oldest
    expect(page.locator("[data-cutoff=telemetry]")).to_contain_text("(90 days)")

    screenshot(page, "privacy")
    page.get_by_label("Keep telemetry (days)").fill("30")
    page.get_by_label("Collect IP addresses").check()
    page.get_by_role("button", name="Save privacy settings").click()
    expect(page.locator("[data-cutoff=telemetry]")).to_contain_text("(30 days)")
    cutoff = _time(page.locator("[data-cutoff=telemetry] time").get_attribute("datetime"))
    assert abs(cutoff - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=5)
    expect(page.locator("#privacy-form [data-form-ok]")).to_contain_text("Saved")
    settings = https.get(f"{org.api}/privacy", headers=org.owner.headers).json()["settings"]
    assert (settings["telemetry_retention_days"], settings["collect_ip_addresses"]) == (30, True)
    assert watch.loads == 1, "the page was reloaded"

    page.get_by_role("button", name="Export data").click()
    expect(page.locator("[data-export-link]")).to_be_visible(timeout=30_000)
    assert "/exports/" in str(page.locator("[data-export-link]").get_attribute("href"))
    assert_clean(page, watch)

    page, watch = open_as(new_context, org.readonly, org.page("privacy"))
    expect(page.locator("#privacy-settings")).to_contain_text("IP addresses")
    expect(page.locator("#privacy-settings")).to_contain_text("30 days")
    assert _time(page.locator("[data-oldest=telemetry] time").get_attribute("datetime")) == oldest
    assert_no_mutating_control(page)
    assert_clean(page, watch)
