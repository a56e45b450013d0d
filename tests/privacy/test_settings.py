"""Privacy settings: only the owner changes them, every change is audit-logged, invalid bounds
are refused, every member can read them (with the oldest data held and the retention cutoffs),
and agents receive the effective values — collection flags, and the interval the admins chose
clamped to the owner's bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sentinel.config import Settings
from tests.people import User
from tests.privacy.support import School, assert_problem, new_school, ok

DEFAULTS = {
    "collect_user_names": False,
    "collect_ip_addresses": False,
    "telemetry_interval_min_s": 1,
    "telemetry_interval_max_s": 3600,
    "telemetry_retention_days": 90,
    "audit_retention_days": 365,
}
CHANGED = {
    "collect_user_names": True,
    "collect_ip_addresses": False,
    "telemetry_interval_min_s": 120,
    "telemetry_interval_max_s": 600,
    "telemetry_retention_days": 30,
    "audit_retention_days": 400,
}


@pytest.fixture
def school(https: httpx.Client) -> School:
    return new_school(https, members=True, devices=1)


@pytest.fixture
def plain(https: httpx.Client) -> School:
    return new_school(https)


def _agent_config(https: httpx.Client, school: School) -> dict[str, Any]:
    token = school.devices[0].token
    body: dict[str, Any] = ok(
        https.get("/api/v1/agent/config", headers={"Authorization": f"Bearer {token}"})
    )
    return body


def _put(https: httpx.Client, school: School, user: User, **changes: Any) -> httpx.Response:
    return https.put(school.url("privacy"), json={**DEFAULTS, **changes}, headers=user.headers)


def _close(moment: str, expected: datetime) -> bool:
    return abs(datetime.fromisoformat(moment) - expected) < timedelta(seconds=30)


def test_owner_changes_settings_admin_and_readonly_cannot(
    https: httpx.Client, school: School
) -> None:
    assert school.admin is not None and school.readonly is not None
    for member in (school.owner, school.admin, school.readonly):
        view = ok(https.get(school.url("privacy"), headers=member.headers))
        assert view["settings"] == DEFAULTS
        assert set(view["oldest"]) == {"telemetry", "audit_log", "inventory", "alerts"}
        assert view["retention"]["purge_runs_every_seconds"] > 0

    for member in (school.admin, school.readonly):
        assert_problem(_put(https, school, member, **CHANGED), 403, "forbidden")
    assert ok(https.get(school.url("privacy"), headers=school.owner.headers))["settings"] == (
        DEFAULTS
    )

    view = ok(_put(https, school, school.owner, **CHANGED))
    assert view["settings"] == CHANGED
    now = datetime.now(UTC)
    assert _close(view["retention"]["telemetry_older_than"], now - timedelta(days=30))
    assert _close(view["retention"]["audit_older_than"], now - timedelta(days=400))
    # Readable by every member, as changed.
    seen = ok(https.get(school.url("privacy"), headers=school.readonly.headers))
    assert seen["settings"] == CHANGED

    entries = ok(
        https.get(
            school.url("audit-log"),
            params={"action": "privacy.updated"},
            headers=school.owner.headers,
        )
    )
    [entry] = entries["items"]
    assert entry["actor_id"] == school.owner.id
    assert entry["before"] == DEFAULTS
    assert entry["after"] == CHANGED


@pytest.mark.parametrize(
    "changes",
    [
        {"telemetry_interval_min_s": 600, "telemetry_interval_max_s": 60},  # min above max
        {"telemetry_interval_min_s": 0},
        {"telemetry_interval_max_s": 86_401},
        {"telemetry_retention_days": 0},
        {"telemetry_retention_days": 731},
        {"audit_retention_days": 29},
        {"collect_user_names": "sometimes"},
        {"collect_keystrokes": True},  # unknown settings are refused, not ignored
    ],
)
def test_invalid_settings_are_refused(
    https: httpx.Client, plain: School, changes: dict[str, Any]
) -> None:
    assert_problem(_put(https, plain, plain.owner, **changes), 422, "validation_failed")
    assert ok(https.get(plain.url("privacy"), headers=plain.owner.headers))["settings"] == DEFAULTS


def test_agents_receive_the_effective_settings(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    config = _agent_config(https, school)
    assert config["collect_user_names"] is False
    assert config["collect_ip_addresses"] is False
    assert config["telemetry_interval_s"] == settings.telemetry_interval_seconds

    # The owner's bounds clamp the interval the admins chose, up…
    ok(_put(https, school, school.owner, **CHANGED))
    config = _agent_config(https, school)
    assert config["telemetry_interval_s"] == 120
    assert config["collect_user_names"] is True
    assert config["collect_ip_addresses"] is False

    # …and down; the admin's own choice is kept when inside the bounds.
    assert school.admin is not None
    ok(
        https.patch(
            school.url("agent-settings"),
            json={"telemetry_interval_s": 3000},
            headers=school.admin.headers,
        )
    )
    assert _agent_config(https, school)["telemetry_interval_s"] == 600
    ok(_put(https, school, school.owner, collect_ip_addresses=True, telemetry_interval_min_s=10))
    config = _agent_config(https, school)
    assert config["telemetry_interval_s"] == 3000
    assert config["collect_user_names"] is False
    assert config["collect_ip_addresses"] is True
    ok(_put(https, school, school.owner, telemetry_interval_max_s=45))
    assert _agent_config(https, school)["telemetry_interval_s"] == 45
