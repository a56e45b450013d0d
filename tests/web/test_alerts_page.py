"""The alerts page: an open alert shows with its device, severity and time; the owner
acknowledges it and switches a rule off without a reload; a readonly member sees the same
alert and no control."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, expect

from sentinel.db.tenancy import tenant_schema
from sentinel.stack.launcher import Stack
from tests.db.access import owner_connection
from tests.web.browser import screenshot
from tests.web.org_pages import (
    Org,
    assert_clean,
    assert_no_mutating_control,
    new_org,
    open_as,
    run,
)

TITLE = "Disk almost full on the library PC"


async def _open_alert(stack: Stack, org: Org, rule_id: str) -> str:
    """An open alert, written as the schema owner (as the engine would write it)."""
    alert_id = uuid.uuid4()
    async with owner_connection(stack.settings) as conn:
        await conn.execute(
            f"""INSERT INTO {tenant_schema(uuid.UUID(org.org_id))}.alerts
                (id, rule_id, device_id, state, severity, title, since, opened_at)
                VALUES ($1, $2, $3, 'open', 'critical', $4, now(), now())""",
            alert_id,
            uuid.UUID(rule_id),
            uuid.UUID(org.device.device_id),
            TITLE,
        )
    return str(alert_id)


def test_alerts_page(
    stack: Stack, https: httpx.Client, new_context: Callable[[], BrowserContext]
) -> None:
    org = new_org(https)
    rules = https.get(f"{org.api}/alert-rules", headers=org.owner.headers).json()
    assert rules, "an organization starts with default rules"
    alert_id = run(_open_alert(stack, org, rules[0]["id"]))

    page, watch = open_as(new_context, org.owner, org.page("alerts"))
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_contain_text(TITLE)
    expect(row).to_contain_text("library-pc-01")
    expect(row).to_contain_text("Critical")
    expect(row.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(row.locator("[data-alert-state]")).to_have_text("Open")
    for rule in rules:
        expect(page.locator(f"tr[data-rule-id='{rule['id']}']")).to_contain_text(rule["name"])

    screenshot(page, "alerts")
    # Acknowledge: the list re-renders in place.
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"tr[data-alert-id='{alert_id}'] [data-alert-state]")).to_have_text(
        "Acknowledged"
    )
    alerts = https.get(f"{org.api}/alerts", headers=org.owner.headers).json()
    assert [(a["id"], a["state"]) for a in alerts] == [(alert_id, "acknowledged")]

    # A rule switched off (and on the page, without a reload).
    enabled = next(r for r in rules if r["enabled"])
    rule_row = page.locator(f"tr[data-rule-id='{enabled['id']}']")
    rule_row.get_by_role("button", name="Disable").click()
    expect(page.locator(f"tr[data-rule-id='{enabled['id']}'] [data-rule-enabled]")).to_have_text(
        "No"
    )
    after = https.get(f"{org.api}/alert-rules", headers=org.owner.headers).json()
    assert next(r for r in after if r["id"] == enabled["id"])["enabled"] is False
    assert watch.loads == 1, "the page was reloaded"
    assert_clean(page, watch)

    page, watch = open_as(new_context, org.readonly, org.page("alerts"))
    expect(page.locator(f"tr[data-alert-id='{alert_id}']")).to_contain_text(TITLE)
    expect(page.locator("main h1")).to_have_text("Alerts")
    assert_no_mutating_control(page)
    assert_clean(page, watch)
