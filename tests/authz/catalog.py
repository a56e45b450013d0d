"""What the generated matrices send to each guarded route.

`prepare_org` builds an organization with an owner, an admin, a readonly member and one sample
object for every object parameter the route table uses (a pending invitation, a device, an
alert, …). `PARAM_SAMPLES` (made over HTTPS) and `DB_SAMPLES` (rows the API cannot create on
demand, written as the schema owner) map a path parameter to the sample that fills it; `BODIES`
holds a minimal valid body per mutating route and `QUERIES` the required query parameters. A
route whose parameter, body or query is missing here fails its matrix test with a message
naming what to add: no route goes untested by omission.

Background work must not change a prepared organization while a test compares snapshots, so
the default alert rules are switched off and exports are awaited until built.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from sentinel.config import Settings
from sentinel.db.tenancy import tenant_schema
from tests.authz.route_table import GUARDED, ORG_PARAM, Endpoint
from tests.db.access import owner_connection
from tests.orgs.api import invite, org_url
from tests.people import User, add_member, create_org, signup, unique_email

ORG = "/api/v1/orgs/{org_id}"
Body = dict[str, Any] | None


@dataclass
class OrgWorld:
    """A prepared organization and its people. `samples` maps a path parameter to an object
    id inside it; `secrets` holds other values requests need (such as a download token)."""

    org_id: str
    name: str
    owner: User
    admin: User
    readonly: User
    samples: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


# --- samples ---------------------------------------------------------------------------------


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


def _post(client: httpx.Client, world: OrgWorld, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return _ok(client.post(org_url(world.org_id, path), json=body, headers=world.owner.headers))


def _pending_invitation(client: httpx.Client, world: OrgWorld) -> str:
    return str(invite(client, world.owner, world.org_id, unique_email("pending"), "admin")["id"])


def _enrollment_token(client: httpx.Client, world: OrgWorld) -> dict[str, Any]:
    return _post(
        client, world, "enrollment-tokens", {"label": f"lab {secrets.token_hex(3)}", "max_uses": 5}
    )


def _device(client: httpx.Client, world: OrgWorld) -> str:
    token = _enrollment_token(client, world)["token"]
    response = client.post(
        "/api/v1/agent/enroll", json={"token": token, "name": f"pc-{secrets.token_hex(3)}"}
    )
    return str(_ok(response)["device_id"])


def _alert_rule(client: httpx.Client, world: OrgWorld) -> str:
    rule = {
        "name": "Sample rule",
        "kind": "metric_threshold",
        "metric": "cpu_pct",
        "operator": ">",
        "threshold": 99,
        "enabled": False,
    }
    return str(_post(client, world, "alert-rules", rule)["id"])


def _channel(client: httpx.Client, world: OrgWorld) -> str:
    channel = {"name": "IT desk", "kind": "email", "config": {"recipients": ["it@school.example"]}}
    return str(_post(client, world, "notification-channels", channel)["id"])


def _export(client: httpx.Client, world: OrgWorld) -> str:
    """A built export (waited for, so its builder has stopped writing); its token is kept."""
    export = _post(client, world, "exports", {})
    world.secrets["export_token"] = parse_qs(urlsplit(export["download_url"]).query)["token"][0]
    deadline = time.monotonic() + 30
    while export["status"] == "building":
        assert time.monotonic() < deadline, f"export still building: {export}"
        time.sleep(0.2)
        url = org_url(world.org_id, "exports", str(export["id"]))
        export = _ok(client.get(url, headers=world.owner.headers))
    assert export["status"] == "ready", export
    return str(export["id"])


PARAM_SAMPLES: dict[str, Callable[[httpx.Client, OrgWorld], str]] = {
    "user_id": lambda _client, world: world.admin.id,
    "invitation_id": _pending_invitation,
    "token_id": lambda client, world: str(_enrollment_token(client, world)["id"]),
    "group_id": lambda client, world: str(
        _post(client, world, "device-groups", {"name": f"Room {secrets.token_hex(3)}"})["id"]
    ),
    "device_id": _device,
    "rule_id": _alert_rule,
    "channel_id": _channel,
    "export_id": _export,
}


async def _open_alert(conn: asyncpg.Connection, world: OrgWorld) -> str:
    alert_id = uuid.uuid4()
    await conn.execute(
        f"""INSERT INTO {tenant_schema(uuid.UUID(world.org_id))}.alerts
            (id, rule_id, device_id, state, severity, title, since, opened_at)
            VALUES ($1, $2, $3, 'open', 'warning', 'Sample alert', now(), now())""",
        alert_id,
        uuid.UUID(world.samples["rule_id"]),
        uuid.UUID(world.samples["device_id"]),
    )
    return str(alert_id)


# Samples written directly as the schema owner, after (and from) the HTTPS ones.
DB_SAMPLES: dict[str, Callable[[asyncpg.Connection, OrgWorld], Awaitable[str]]] = {
    "alert_id": _open_alert,
}
DB_SAMPLES_NEED = {"alert_id": {"rule_id", "device_id"}}


# --- request bodies and queries --------------------------------------------------------------


def _no_body(_world: OrgWorld) -> Body:
    return None


def _rename(_world: OrgWorld) -> Body:
    return {"name": f"Taken over {secrets.token_hex(2)}"}


BODIES: dict[tuple[str, str], Callable[[OrgWorld], Body]] = {
    ("PATCH", ORG): _rename,
    ("DELETE", ORG): lambda world: {"confirm": world.name},
    ("PATCH", f"{ORG}/members/{{user_id}}"): lambda _w: {"role": "readonly"},
    ("DELETE", f"{ORG}/members/{{user_id}}"): _no_body,
    ("POST", f"{ORG}/invitations"): lambda _w: {"email": unique_email("intruder"), "role": "admin"},
    ("DELETE", f"{ORG}/invitations/{{invitation_id}}"): _no_body,
    ("POST", f"{ORG}/enrollment-tokens"): lambda _w: {"label": "intruder"},
    ("DELETE", f"{ORG}/enrollment-tokens/{{token_id}}"): _no_body,
    ("POST", f"{ORG}/devices/bulk"): lambda world: {
        "device_ids": [world.samples["device_id"]],
        "add_tags": ["intruder"],
    },
    ("PATCH", f"{ORG}/devices/{{device_id}}"): _rename,
    ("POST", f"{ORG}/devices/{{device_id}}/rotate-token"): _no_body,
    ("POST", f"{ORG}/devices/{{device_id}}/revoke"): _no_body,
    ("POST", f"{ORG}/devices/{{device_id}}/decommission"): _no_body,
    ("DELETE", f"{ORG}/devices/{{device_id}}"): _no_body,
    ("POST", f"{ORG}/devices/{{device_id}}/commands"): lambda _w: {"name": "ping"},
    ("POST", f"{ORG}/device-groups"): lambda _w: {"name": f"Intruders {secrets.token_hex(2)}"},
    ("PATCH", f"{ORG}/device-groups/{{group_id}}"): _rename,
    ("DELETE", f"{ORG}/device-groups/{{group_id}}"): _no_body,
    ("PATCH", f"{ORG}/agent-settings"): lambda _w: {
        "telemetry_interval_s": 7,
        "allow_reboot": True,
    },
    ("POST", f"{ORG}/alert-rules"): lambda _w: {
        "name": "Intruder rule",
        "kind": "metric_threshold",
        "metric": "cpu_pct",
        "operator": ">",
        "threshold": 95,
        "enabled": False,
    },
    ("PATCH", f"{ORG}/alert-rules/{{rule_id}}"): _rename,
    ("DELETE", f"{ORG}/alert-rules/{{rule_id}}"): _no_body,
    ("POST", f"{ORG}/alerts/{{alert_id}}/acknowledge"): _no_body,
    ("POST", f"{ORG}/alerts/{{alert_id}}/resolve"): _no_body,
    ("POST", f"{ORG}/notification-channels"): lambda _w: {
        "name": "Intruder channel",
        "kind": "email",
        "config": {"recipients": ["intruder@elsewhere.example"]},
    },
    ("PATCH", f"{ORG}/notification-channels/{{channel_id}}"): _rename,
    ("DELETE", f"{ORG}/notification-channels/{{channel_id}}"): _no_body,
    ("POST", f"{ORG}/notification-channels/{{channel_id}}/test"): _no_body,
    ("PUT", f"{ORG}/school-hours"): lambda _w: {"timezone": "Europe/Berlin"},
    ("PUT", f"{ORG}/billing/plan"): lambda _w: {"plan": "free"},
    ("POST", f"{ORG}/billing/checkout"): lambda _w: {"plan": "school", "seats": 20},
    ("POST", f"{ORG}/billing/portal"): _no_body,
    ("POST", f"{ORG}/exports"): lambda _w: {},
    ("PUT", f"{ORG}/privacy"): lambda _w: {"collect_user_names": True},
}

QUERIES: dict[tuple[str, str], Callable[[OrgWorld], dict[str, str]]] = {
    ("GET", f"{ORG}/exports/{{export_id}}/download"): lambda world: {
        "token": world.secrets["export_token"]
    },
}


# --- preparing an organization ---------------------------------------------------------------


def _quiet_alert_rules(client: httpx.Client, world: OrgWorld) -> None:
    """Switch the default alert rules off: no alert may open while snapshots are compared."""
    rules = client.get(org_url(world.org_id, "alert-rules"), headers=world.owner.headers)
    assert rules.status_code == 200, rules.text
    for rule in rules.json():
        response = client.patch(
            org_url(world.org_id, "alert-rules", rule["id"]),
            json={"enabled": False},
            headers=world.owner.headers,
        )
        _ok(response)


def _wanted() -> set[str]:
    names = {name for endpoint in GUARDED for name in endpoint.object_params}
    for name, needs in DB_SAMPLES_NEED.items():
        if name in names:
            names |= needs
    return names


def build_org(client: httpx.Client, label: str) -> OrgWorld:
    """An organization with its people and every sample that can be made over HTTPS."""
    owner = signup(client, unique_email(f"{label}-owner"))
    org = create_org(client, owner, f"{label} school {secrets.token_hex(3)}")
    world = OrgWorld(
        org_id=org["id"],
        name=org["name"],
        owner=owner,
        admin=add_member(client, owner, org["id"], "admin"),
        readonly=add_member(client, owner, org["id"], "readonly"),
    )
    _quiet_alert_rules(client, world)
    for name in sorted(_wanted() & PARAM_SAMPLES.keys()):
        world.samples[name] = PARAM_SAMPLES[name](client, world)
    return world


async def prepare_org(client: httpx.Client, settings: Settings, label: str) -> OrgWorld:
    """`build_org`, then the samples written directly into the database."""
    world = build_org(client, label)
    async with owner_connection(settings) as conn:
        for name in sorted(_wanted() & DB_SAMPLES.keys()):
            world.samples[name] = await DB_SAMPLES[name](conn, world)
    return world


# --- requests --------------------------------------------------------------------------------


def url_for(endpoint: Endpoint, org_id: str, objects: OrgWorld) -> str:
    """`endpoint`'s URL in organization `org_id`, other parameters filled from `objects`."""
    values = {ORG_PARAM: org_id}
    for name in endpoint.object_params:
        if name not in objects.samples:
            pytest.fail(
                f"{endpoint}: no sample for path parameter {name!r}; "
                "add a factory to PARAM_SAMPLES or DB_SAMPLES in tests/authz/catalog.py"
            )
        values[name] = objects.samples[name]
    return endpoint.url(values)


def query_for(endpoint: Endpoint, objects: OrgWorld) -> dict[str, str]:
    if not endpoint.query:
        return {}
    make = QUERIES.get((endpoint.method, endpoint.path))
    if make is None:
        pytest.fail(
            f"{endpoint}: requires query parameters {endpoint.query}; add "
            f"({endpoint.method!r}, {endpoint.path!r}) to QUERIES in tests/authz/catalog.py"
        )
    return make(objects)


def body_for(endpoint: Endpoint, objects: OrgWorld) -> Body:
    if not endpoint.mutating:
        return None
    make = BODIES.get((endpoint.method, endpoint.path))
    if make is None:
        pytest.fail(
            f"{endpoint}: no request body; add ({endpoint.method!r}, {endpoint.path!r}) "
            "to BODIES in tests/authz/catalog.py (a minimal valid body, or _no_body)"
        )
    return make(objects)


async def send(
    client: httpx.AsyncClient, endpoint: Endpoint, user: User, org_id: str, objects: OrgWorld
) -> httpx.Response:
    """Call `endpoint` as `user` in `org_id` with the object ids, query and body of `objects`."""
    return await client.request(
        endpoint.method,
        url_for(endpoint, org_id, objects),
        params=query_for(endpoint, objects),
        json=body_for(endpoint, objects),
        headers=user.headers,
    )
