"""The devices API: listing (status, search, tag and group-subtree filters, sorting, keyset
pagination), editing with audit entries, bulk actions, the device-group hierarchy, and who may
do what — a readonly member may only read, and ids of another organization are never found.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx

from sentinel.config import Settings
from tests.broker.mqtt import connected
from tests.devices.api import (
    School,
    agent_config,
    create_token,
    cut,
    device_ids,
    enroll_devices,
    enroll_one,
    enrollment_tokens,
    get_device,
    list_all,
    list_page,
    new_school,
    ok,
    readonly_member,
    wait_for_presence,
)
from tests.orgs.api import assert_problem, audit_entries
from tests.people import User, add_member

UNKNOWN = "00000000-0000-4000-8000-000000000000"
SORTS = ["name", "-name", "enrolled", "-enrolled", "last_seen", "-last_seen"]


def _ids(https: httpx.Client, school: School, **params: str | int) -> set[str]:
    return set(device_ids(list_all(https, school.owner, school, **params)))


def _patch(
    https: httpx.Client,
    school: School,
    device_id: str,
    body: dict[str, Any],
    user: User | None = None,
) -> httpx.Response:
    headers = (user or school.owner).headers
    return https.patch(school.device_url(device_id), json=body, headers=headers)


def _group(https: httpx.Client, school: School, name: str, parent_id: str | None = None) -> str:
    body = {"name": name, "parent_id": parent_id}
    created = ok(
        https.post(school.url("device-groups"), json=body, headers=school.owner.headers), 201
    )
    return str(created["id"])


def _groups(https: httpx.Client, school: School) -> dict[str, dict[str, Any]]:
    listed = ok(https.get(school.url("device-groups"), headers=school.owner.headers))
    return {str(g["id"]): g for g in listed}


# --- listing ----------------------------------------------------------------------------------


def test_status_filter(https: httpx.Client, settings: Settings, school: School) -> None:
    names = ["online", "offline", "never", "revoked", "decommissioned"]
    online, offline, never, revoked, decommissioned = enroll_devices(https, school, 5, names=names)
    with connected(settings, online) as live:
        live.publish("status", {"v": 1, "state": "online"})
        with connected(settings, offline) as leaving:
            leaving.publish("status", {"v": 1, "state": "online"})
            wait_for_presence(https, school, offline.device_id, True)
            leaving.publish("status", {"v": 1, "state": "offline"})
            wait_for_presence(https, school, offline.device_id, False)
        wait_for_presence(https, school, online.device_id, True)
        assert cut(https, school, "revoke", revoked.device_id).status_code == 204
        assert cut(https, school, "decommission", decommissioned.device_id).status_code == 204

        expected = {
            "online": online,
            "offline": offline,
            "never_seen": never,
            "revoked": revoked,
            "decommissioned": decommissioned,
        }
        for status, enrollment in expected.items():
            assert _ids(https, school, status=status) == {enrollment.device_id}, status
        assert _ids(https, school) == {e.device_id for e in expected.values()}
    assert (
        https.get(
            school.url("devices"), params={"status": "deleted"}, headers=school.owner.headers
        ).status_code
        == 422
    )


def test_search_and_tag_filters(https: httpx.Client, school: School) -> None:
    library, lab, office, percent = enroll_devices(
        https, school, 4, names=["lib-pc-01", "lab-pc_02", "office-mac", "quota100%"]
    )
    ok(_patch(https, school, library.device_id, {"name": "Library PC", "tags": ["windows"]}))
    ok(_patch(https, school, lab.device_id, {"tags": ["lab", "windows"]}))
    ok(_patch(https, school, office.device_id, {"asset_tag": "ASSET-0042"}))

    searches = {
        "library": {library},  # name, any case
        "LIB-PC": {library},  # hostname
        "asset-0042": {office},  # asset tag
        "pc": {library, lab},
        "pc_02": {lab},
        "b_pc": set(),  # `_` is a character, not a wildcard (it would match "lib-pc")
        "%": {percent},  # so is `%`
        "nothing-like-this": set(),
    }
    for q, expected in searches.items():
        assert _ids(https, school, q=q) == {e.device_id for e in expected}, q
    assert _ids(https, school, tag="windows") == {library.device_id, lab.device_id}
    assert _ids(https, school, tag="lab") == {lab.device_id}
    assert _ids(https, school, tag="win") == set()
    assert _ids(https, school, tag="windows", q="lab") == {lab.device_id}


def test_group_filter_includes_subgroups(https: httpx.Client, school: School) -> None:
    campus = _group(https, school, "Campus")
    building = _group(https, school, "Building A", campus)
    room = _group(https, school, "Room 1", building)
    other = _group(https, school, "Annex")
    devices = enroll_devices(https, school, 5)
    for enrollment, group_id in zip(devices, [campus, building, room, other, None], strict=True):
        ok(_patch(https, school, enrollment.device_id, {"group_id": group_id}))
    in_campus, in_building, in_room, in_other, _ = (e.device_id for e in devices)

    assert _ids(https, school, group_id=campus) == {in_campus, in_building, in_room}
    assert _ids(https, school, group_id=building) == {in_building, in_room}
    assert _ids(https, school, group_id=room) == {in_room}
    assert _ids(https, school, group_id=other) == {in_other}
    response = https.get(
        school.url("devices"), params={"group_id": UNKNOWN}, headers=school.owner.headers
    )
    assert_problem(response, 404, "not_found")
    assert _groups(https, school)[campus]["device_count"] == 1


def test_sort_by_name_both_ways(https: httpx.Client, school: School) -> None:
    names = ["bravo", "Alpha", "charlie", "Delta", "echo"]
    enroll_devices(https, school, len(names), names=names)
    ascending = [d["name"] for d in list_page(https, school.owner, school, sort="name")["items"]]
    assert ascending == ["Alpha", "bravo", "charlie", "Delta", "echo"]
    descending = [d["name"] for d in list_page(https, school.owner, school, sort="-name")["items"]]
    assert descending == ascending[::-1]


def test_cursor_pagination_returns_every_device_exactly_once(
    https: httpx.Client, school: School
) -> None:
    # Few distinct names (and no last_seen at all), so most rows tie on the sort key and the
    # id has to break the tie across page boundaries.
    names = [["Lab", "lab", "Library", "Office", "Annex", "LAB"][i % 6] for i in range(25)]
    everyone = {e.device_id for e in enroll_devices(https, school, 25, names=names)}
    for sort in SORTS:
        whole = device_ids(list_page(https, school.owner, school, sort=sort, limit=500)["items"])
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"sort": sort, "limit": 10}
            page = list_page(
                https, school.owner, school, **params, **({"cursor": cursor} if cursor else {})
            )
            pages.append(device_ids(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [10, 10, 5], sort
        flat = [device_id for page in pages for device_id in page]
        assert flat == whole, sort  # the same order as one big page, nothing twice
        assert set(flat) == everyone, sort
    # Garbage, and cursors that decode but hold no time for a time-sorted list (one taken from
    # a name-sorted page, one hand-made).
    name_cursor = list_page(https, school.owner, school, sort="name", limit=1)["next_cursor"]
    forged = _cursor("not-a-time", UNKNOWN)
    for sort, cursor in (
        ("name", "not-a-cursor"),
        ("name", _cursor("x")),
        ("name", _cursor("x", "not-a-uuid")),
        ("enrolled", name_cursor),
        ("-last_seen", forged),
        ("-enrolled", forged),
    ):
        response = https.get(
            school.url("devices"),
            params={"cursor": cursor, "sort": sort},
            headers=school.owner.headers,
        )
        assert_problem(response, 422, "invalid_cursor")


def _cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


# --- editing ----------------------------------------------------------------------------------


def test_patch_changes_fields_and_is_audited(https: httpx.Client, school: School) -> None:
    device = enroll_one(https, school, "pc-17")
    group = _group(https, school, "Science")
    changes = {
        "name": "  Science PC 17 ",
        "tags": ["windows", "lab", "windows"],
        "notes": "Replaced the keyboard.",
        "asset_tag": "INV-1717",
        "group_id": group,
    }
    updated = ok(_patch(https, school, device.device_id, changes))
    expected = {
        "name": "Science PC 17",
        "tags": ["lab", "windows"],
        "notes": "Replaced the keyboard.",
        "asset_tag": "INV-1717",
        "group_id": group,
    }
    assert {k: updated[k] for k in expected} == expected
    stored = get_device(https, school, device.device_id)
    assert {k: stored[k] for k in expected} == expected

    assert_problem(_patch(https, school, device.device_id, {"group_id": UNKNOWN}), 404, "not_found")
    for invalid in (
        {"status": "active"},
        {"tags": ["no;semicolons"]},
        {"name": ""},
        {"id": UNKNOWN},
    ):
        response = _patch(https, school, device.device_id, invalid)
        assert response.status_code == 422, (invalid, response.text)
    assert get_device(https, school, device.device_id) == stored

    cleared = ok(
        _patch(
            https, school, device.device_id, {"notes": None, "asset_tag": None, "group_id": None}
        )
    )
    assert (cleared["notes"], cleared["asset_tag"], cleared["group_id"]) == ("", None, None)
    assert ok(_patch(https, school, device.device_id, {}))["name"] == "Science PC 17"

    updates = [
        e
        for e in audit_entries(https, school.owner, school.org_id, action="device")
        if e["action"] == "device.updated" and e["target_id"] == device.device_id
    ]
    assert len(updates) == 2, updates  # the refused and the empty PATCH left no entry
    first = updates[-1]  # newest first
    assert first["actor_id"] == school.owner.id
    assert first["before"]["name"] == "pc-17"
    assert first["after"] == expected
    assert updates[0]["after"] == {"notes": "", "asset_tag": None, "group_id": None}


def test_bulk_move_and_tag(https: httpx.Client, school: School) -> None:
    devices = enroll_devices(https, school, 4)
    moved, untouched = [e.device_id for e in devices[:3]], devices[3].device_id
    ok(_patch(https, school, moved[0], {"tags": ["old"]}))
    group = _group(https, school, "Lab 2")
    stranger = enroll_one(https, new_school(https)).device_id
    url, headers = school.url("devices", "bulk"), school.owner.headers

    body = {"device_ids": [*moved, stranger], "move_to_group": True, "group_id": group}
    assert ok(https.post(url, json={**body, "add_tags": ["lab", "2024"]}, headers=headers)) == {
        "updated": 3
    }
    for device_id in moved:
        device = get_device(https, school, device_id)
        assert device["group_id"] == group
        assert set(device["tags"]) >= {"lab", "2024"}
    assert get_device(https, school, moved[0])["tags"] == ["2024", "lab", "old"]
    assert (
        get_device(https, school, untouched)["group_id"],
        get_device(https, school, untouched)["tags"],
    ) == (None, [])

    # Tagging alone leaves groups alone; moving to no group ungroups.
    assert ok(https.post(url, json={"device_ids": [moved[0]], "add_tags": ["x"]}, headers=headers))
    assert get_device(https, school, moved[0])["group_id"] == group
    ok(https.post(url, json={"device_ids": moved, "move_to_group": True}, headers=headers))
    assert all(get_device(https, school, d)["group_id"] is None for d in moved)

    response = https.post(
        url, json={"device_ids": moved, "move_to_group": True, "group_id": UNKNOWN}, headers=headers
    )
    assert_problem(response, 404, "not_found")
    assert https.post(url, json={"device_ids": []}, headers=headers).status_code == 422
    entries = audit_entries(https, school.owner, school.org_id, action="device.bulk_updated")
    assert len(entries) == 3
    assert entries[-1]["after"]["count"] == 3


# --- groups -----------------------------------------------------------------------------------


def test_group_hierarchy(https: httpx.Client, school: School) -> None:
    campus = _group(https, school, "Campus")
    building = _group(https, school, "Building A", campus)
    room = _group(https, school, "Room 1", building)
    annex = _group(https, school, "Annex")
    headers = school.owner.headers

    def patch(group_id: str, body: dict[str, Any]) -> httpx.Response:
        return https.patch(school.url("device-groups", group_id), json=body, headers=headers)

    # Rename keeps the group where it is; moving changes only the parent.
    assert ok(patch(room, {"name": "Room 101"}))["parent_id"] == building
    assert ok(patch(room, {"parent_id": annex}))["name"] == "Room 101"
    assert ok(patch(room, {"name": "Room 1", "parent_id": building}))["parent_id"] == building
    groups = _groups(https, school)
    assert (groups[room]["name"], groups[room]["parent_id"]) == ("Room 1", building)
    assert ok(patch(building, {"parent_id": None}))["parent_id"] is None
    ok(patch(building, {"parent_id": campus}))

    for group_id, parent in (
        (campus, campus),
        (campus, building),
        (campus, room),
        (building, room),
    ):
        assert_problem(patch(group_id, {"parent_id": parent}), 422, "group_cycle")
    assert _groups(https, school)[campus]["parent_id"] is None
    assert_problem(patch(room, {"parent_id": UNKNOWN}), 404, "not_found")
    assert_problem(patch(UNKNOWN, {"name": "x"}), 404, "not_found")

    # Names are unique among siblings (case-insensitively), not across the tree.
    taken = https.post(
        school.url("device-groups"),
        json={"name": "building a", "parent_id": campus},
        headers=headers,
    )
    assert_problem(taken, 409, "conflict")
    assert_problem(patch(annex, {"name": "CAMPUS"}), 409, "conflict")
    annex_room = _group(https, school, "Room 1", annex)

    assert_problem(
        https.delete(school.url("device-groups", building), headers=headers), 409, "group_not_empty"
    )
    device = enroll_one(https, school)
    ok(_patch(https, school, device.device_id, {"group_id": room}))
    assert https.delete(school.url("device-groups", room), headers=headers).status_code == 204
    assert get_device(https, school, device.device_id)["group_id"] is None
    assert https.delete(school.url("device-groups", building), headers=headers).status_code == 204
    assert set(_groups(https, school)) == {campus, annex, annex_room}
    actions = {
        e["action"] for e in audit_entries(https, school.owner, school.org_id, action="group")
    }
    assert actions == {"group.created", "group.updated", "group.deleted"}


async def test_concurrent_moves_cannot_make_a_cycle(
    https: httpx.Client, ahttps: httpx.AsyncClient, school: School
) -> None:
    headers = school.owner.headers
    for _ in range(5):
        first, second = (
            _group(https, school, f"A {uuid.uuid4()}"),
            _group(https, school, f"B {uuid.uuid4()}"),
        )
        responses = await asyncio.gather(
            ahttps.patch(
                school.url("device-groups", first), json={"parent_id": second}, headers=headers
            ),
            ahttps.patch(
                school.url("device-groups", second), json={"parent_id": first}, headers=headers
            ),
        )
        assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]


# --- who may do what --------------------------------------------------------------------------


def _by_id(
    school: School, device_id: str, group_id: str, token_id: str
) -> list[tuple[str, str, Any]]:
    """Every mutating route that names a device, group or enrollment token."""
    device = school.device_url(device_id)
    return [
        ("PATCH", device, {"name": "mine now"}),
        ("POST", f"{device}/rotate-token", None),
        ("POST", f"{device}/revoke", None),
        ("POST", f"{device}/decommission", None),
        ("DELETE", device, None),
        ("PATCH", school.url("device-groups", group_id), {"name": "Mine"}),
        ("DELETE", school.url("device-groups", group_id), None),
        ("DELETE", school.url("enrollment-tokens", token_id), None),
    ]


def _collections(school: School, device_id: str) -> list[tuple[str, str, Any]]:
    """The other mutating routes of devices, groups and enrollment tokens."""
    return [
        ("POST", school.url("devices", "bulk"), {"device_ids": [device_id], "add_tags": ["x"]}),
        ("POST", school.url("device-groups"), {"name": "Mine"}),
        ("POST", school.url("enrollment-tokens"), {"label": "mine"}),
    ]


def test_a_readonly_member_can_read_but_not_change_anything(
    https: httpx.Client, school: School
) -> None:
    device = enroll_one(https, school)
    group = _group(https, school, "Hall")
    token = create_token(https, school)
    reader = readonly_member(https, school)

    assert device_ids(list_all(https, reader, school)) == [device.device_id]
    for path in (
        school.device_url(device.device_id),
        school.url("device-groups"),
        school.url("enrollment-tokens"),
    ):
        assert https.get(path, headers=reader.headers).status_code == 200, path
    before = get_device(https, school, device.device_id)
    mutations = _by_id(school, device.device_id, group, str(token["id"]))
    for method, path, body in [*mutations, *_collections(school, device.device_id)]:
        response = https.request(method, path, json=body, headers=reader.headers)
        assert_problem(response, 403, "forbidden")
    assert get_device(https, school, device.device_id) == before
    assert agent_config(https, device.token).status_code == 200
    assert set(_groups(https, school)) == {group}
    assert enrollment_tokens(https, school)[str(token["id"])]["revoked_at"] is None


def test_another_organizations_ids_are_never_found(https: httpx.Client, school: School) -> None:
    mine = enroll_one(https, school)
    other = new_school(https)
    theirs = enroll_one(https, other)
    their_group = _group(https, other, "Theirs")
    their_token = create_token(https, other)
    before = get_device(https, other, theirs.device_id)
    headers = school.owner.headers

    for method, path, body in _by_id(school, theirs.device_id, their_group, str(their_token["id"])):
        response = https.request(method, path, json=body, headers=headers)
        assert_problem(response, 404, "not_found")
    assert_problem(
        https.get(school.device_url(theirs.device_id), headers=headers), 404, "not_found"
    )

    bulk = {"device_ids": [theirs.device_id], "add_tags": ["x"], "move_to_group": True}
    response = https.post(school.url("devices", "bulk"), json=bulk, headers=headers)
    assert ok(response) == {"updated": 0}
    assert_problem(
        _patch(https, school, mine.device_id, {"group_id": their_group}), 404, "not_found"
    )
    for response in (
        https.get(school.url("devices"), params={"group_id": their_group}, headers=headers),
        https.post(
            school.url("enrollment-tokens"),
            json={"label": "x", "group_id": their_group},
            headers=headers,
        ),
        https.post(
            school.url("device-groups"),
            json={"name": "x", "parent_id": their_group},
            headers=headers,
        ),
    ):
        assert_problem(response, 404, "not_found")

    assert get_device(https, other, theirs.device_id) == before
    assert agent_config(https, theirs.token).status_code == 200
    assert set(_groups(https, other)) == {their_group}
    assert enrollment_tokens(https, other)[str(their_token["id"])]["revoked_at"] is None


def test_an_admin_manages_devices(https: httpx.Client, school: School) -> None:
    admin = add_member(https, school.owner, school.org_id, "admin")
    device = enroll_one(https, school)
    renamed = ok(_patch(https, school, device.device_id, {"name": "Renamed"}, admin))
    assert renamed["name"] == "Renamed"
    response = https.post(school.device_url(device.device_id, "revoke"), headers=admin.headers)
    assert response.status_code == 204
