"""What the generated matrices send to each guarded route.

`build_org` prepares an organization with an owner, an admin, a readonly member and one sample
object for every object parameter the route table uses (a pending invitation, a device, …).
`PARAM_SAMPLES` maps a path parameter to the sample that fills it and `BODIES` holds a minimal
valid body per mutating route. A route whose parameter or body is missing fails its matrix test
with a message naming what to add here: no route goes untested by omission.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.authz.route_table import GUARDED, ORG_PARAM, Endpoint
from tests.orgs.api import invite, org_url
from tests.people import User, add_member, create_org, signup, unique_email

ORG = "/api/v1/orgs/{org_id}"
Body = dict[str, Any] | None


@dataclass
class OrgWorld:
    """A prepared organization and its people; `samples` maps a path parameter to an object
    id inside it."""

    org_id: str
    name: str
    owner: User
    admin: User
    readonly: User
    samples: dict[str, str] = field(default_factory=dict)


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _pending_invitation(client: httpx.Client, world: OrgWorld) -> str:
    return str(invite(client, world.owner, world.org_id, unique_email("pending"), "admin")["id"])


def _enrollment_token(client: httpx.Client, world: OrgWorld) -> dict[str, Any]:
    response = client.post(
        org_url(world.org_id, "enrollment-tokens"),
        json={"label": f"lab {secrets.token_hex(3)}", "max_uses": 5},
        headers=world.owner.headers,
    )
    return _created(response)


def _device_group(client: httpx.Client, world: OrgWorld) -> str:
    response = client.post(
        org_url(world.org_id, "device-groups"),
        json={"name": f"Room {secrets.token_hex(3)}"},
        headers=world.owner.headers,
    )
    return str(_created(response)["id"])


def _device(client: httpx.Client, world: OrgWorld) -> str:
    token = _enrollment_token(client, world)["token"]
    response = client.post(
        "/api/v1/agent/enroll", json={"token": token, "name": f"pc-{secrets.token_hex(3)}"}
    )
    return str(_created(response)["device_id"])


PARAM_SAMPLES: dict[str, Callable[[httpx.Client, OrgWorld], str]] = {
    "user_id": lambda _client, world: world.admin.id,
    "invitation_id": _pending_invitation,
    "token_id": lambda client, world: str(_enrollment_token(client, world)["id"]),
    "group_id": _device_group,
    "device_id": _device,
}


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
    ("POST", f"{ORG}/device-groups"): lambda _w: {"name": f"Intruders {secrets.token_hex(2)}"},
    ("PATCH", f"{ORG}/device-groups/{{group_id}}"): _rename,
    ("DELETE", f"{ORG}/device-groups/{{group_id}}"): _no_body,
    ("POST", f"{ORG}/devices/{{device_id}}/commands"): lambda _w: {"name": "ping"},
    ("PATCH", f"{ORG}/agent-settings"): lambda _w: {
        "telemetry_interval_s": 7,
        "allow_reboot": True,
    },
}


def build_org(client: httpx.Client, label: str) -> OrgWorld:
    owner = signup(client, unique_email(f"{label}-owner"))
    org = create_org(client, owner, f"{label} school {secrets.token_hex(3)}")
    world = OrgWorld(
        org_id=org["id"],
        name=org["name"],
        owner=owner,
        admin=add_member(client, owner, org["id"], "admin"),
        readonly=add_member(client, owner, org["id"], "readonly"),
    )
    wanted = {name for endpoint in GUARDED for name in endpoint.object_params}
    for name in sorted(wanted & PARAM_SAMPLES.keys()):
        world.samples[name] = PARAM_SAMPLES[name](client, world)
    return world


def url_for(endpoint: Endpoint, org_id: str, objects: OrgWorld) -> str:
    """`endpoint`'s URL in organization `org_id`, other parameters filled from `objects`."""
    values = {ORG_PARAM: org_id}
    for name in endpoint.object_params:
        if name not in objects.samples:
            pytest.fail(
                f"{endpoint}: no sample for path parameter {name!r}; "
                "add a factory to PARAM_SAMPLES in tests/authz/catalog.py"
            )
        values[name] = objects.samples[name]
    return endpoint.url(values)


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
    """Call `endpoint` as `user` in `org_id` with the object ids and body of `objects`."""
    return await client.request(
        endpoint.method,
        url_for(endpoint, org_id, objects),
        json=body_for(endpoint, objects),
        headers=user.headers,
    )
