"""The billing page: plan, seats used and available, status and the plans; a readonly member
sees the same facts and no control."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.web.browser import screenshot
from tests.web.org_pages import assert_clean, assert_no_mutating_control, new_org, open_as


def test_billing_page(https: httpx.Client, new_context: Callable[[], BrowserContext]) -> None:
    org = new_org(https)
    billing = https.get(f"{org.api}/billing", headers=org.owner.headers).json()
    seats = billing["seats"]
    assert seats["used"] == 1, seats  # the one enrolled device

    page, watch = open_as(new_context, org.owner, org.page("billing"))
    expect(page.locator("main h1")).to_have_text("Billing")
    expect(page.locator("#plan-title")).to_have_text(f"{billing['plan']['name']} plan")
    expect(page.locator("[data-billing=seats-used]")).to_have_text(
        f"{seats['used']} of {seats['limit']}"
    )
    expect(page.locator("[data-billing=seats-available]")).to_have_text(str(seats["available"]))
    for plan in billing["plans"]:
        expect(page.locator(f"#plans tr[data-plan='{plan['key']}']")).to_contain_text(plan["name"])
    expect(page.locator(f"#plans tr[data-plan='{billing['plan']['key']}']")).to_contain_text(
        "Current"
    )
    screenshot(page, "billing")
    assert_clean(page, watch)

    page, watch = open_as(new_context, org.readonly, org.page("billing"))
    expect(page.locator("[data-billing=seats-used]")).to_have_text(
        f"{seats['used']} of {seats['limit']}"
    )
    expect(
        page.get_by_text("Only an owner of this organization can change the plan.")
    ).to_be_visible()
    assert_no_mutating_control(page)
    assert_clean(page, watch)
