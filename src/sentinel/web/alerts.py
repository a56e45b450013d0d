"""Alerts: open and acknowledged alerts (refreshed on live `alert` events), the alert rules
with an enable / disable switch, and the notification channels with a test button.

Acknowledge, resolve, the rule switch and the channel test go to the JSON API from the page
(`static/js/forms.js`, `static/js/alerts.js`); this module only renders.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from sentinel.alerts import service as alert_service
from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.authz.guard import OrgContext
from sentinel.web import layout
from sentinel.web.access import AlertsRead
from sentinel.web.rendering import render, wants_fragment

ALERTS_ID = "alert-list"
RULES_ID = "alert-rules"
LISTED = 200
KINDS = {
    "metric_threshold": "Metric threshold",
    "battery_low": "Battery low",
    "offline": "Offline",
    "back_online": "Back online",
    "new_device": "New device",
    "spool_overflow": "Agent buffer overflow",
}
STATES = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def duration(seconds: int | None) -> str:
    """`duration_s` as a person reads it: 0 → immediately, 300 → 5 min, 7200 → 2 h."""
    if not seconds:
        return "immediately"
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}\u00a0{unit}"
    return f"{seconds}\u00a0s"


def threshold(rule: dict[str, Any]) -> str:
    if rule.get("threshold") is None:
        return "—"
    value = float(rule["threshold"])
    number = f"{value:.0f}" if value.is_integer() else f"{value:g}"
    metric = str(rule.get("metric") or "").replace("_", " ")
    return " ".join(part for part in (metric, rule.get("operator") or "", number) if part)


async def _alerts(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    alerts = await alert_service.list_alerts(
        res, ctx, ["open", "acknowledged"], None, None, None, LISTED
    )
    for alert in alerts:
        alert["state_label"] = STATES.get(alert["state"], alert["state"])
    return {"alerts": alerts, "alerts_id": ALERTS_ID}


async def _rules(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    rules = await alert_service.list_rules(res, ctx)
    for rule in rules:
        rule["kind_label"] = KINDS.get(rule["kind"], rule["kind"])
        rule["threshold_label"] = threshold(rule)
        rule["duration_label"] = duration(rule["duration_s"])
    return {"rules": rules, "rules_id": RULES_ID}


async def page(request: Request, ctx: AlertsRead, res: Res) -> Response:
    fragment = {"org": {"id": ctx.org_id}, "can": layout.Can(ctx.role)}
    if wants_fragment(request, ALERTS_ID):
        return render(request, "_alerts.html", {**fragment, **await _alerts(res, ctx)})
    if wants_fragment(request, RULES_ID):
        return render(request, "_alert_rules.html", {**fragment, **await _rules(res, ctx)})
    context = await layout.in_org(res, ctx, "alerts")
    context.update(await _alerts(res, ctx))
    context.update(await _rules(res, ctx))
    context["channels"] = await alert_service.list_channels(res, ctx)
    return render(request, "alerts.html", context)
