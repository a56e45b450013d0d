"""The dashboard's pages over plain HTTPS (no browser): people are sent to the login page and
shown HTML errors while programs get problem+json; the device list filters, pages and renders
fragments on the server; the CSV export is complete and safe to open in a spreadsheet; static
assets are served, nothing outside them."""

from __future__ import annotations

import csv
import io
import uuid
from urllib.parse import quote

import httpx

from tests.fleet import enroll, enrollment_token
from tests.people import User, create_org, signup

HTML = {"Accept": "text/html,application/xhtml+xml"}


def org_with_devices(https: httpx.Client, names: list[str]) -> tuple[User, str, list[str]]:
    owner = signup(https)
    org_id = create_org(https, owner)["id"]
    token = enrollment_token(https, owner, org_id)
    ids = [enroll(https, token, hostname=name).device_id for name in names]
    return owner, org_id, ids


def test_people_are_sent_to_sign_in_and_programs_get_problems(https: httpx.Client) -> None:
    path = f"/orgs/{uuid.uuid4()}/devices?status=online"
    person = https.get(path, headers=HTML)
    assert person.status_code == 303
    assert person.headers["location"] == f"/login?next={quote(path, safe='')}"
    program = https.get(path)
    assert program.status_code == 401
    assert program.headers["content-type"].startswith("application/problem+json")
    for elsewhere in (
        "//evil.example/",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example",
    ):
        login = https.get("/login", params={"next": elsewhere}, headers=HTML)
        assert login.status_code == 200
        assert "evil.example" not in login.text  # an open redirect would send people away
    kept = https.get("/login", params={"next": "/orgs?x=1"}, headers=HTML)
    assert 'data-success-redirect="/orgs?x=1"' in kept.text


def test_other_organizations_answer_not_found_as_a_page(https: httpx.Client) -> None:
    stranger = signup(https)
    _, org_id, _ = org_with_devices(https, [])
    page = https.get(f"/orgs/{org_id}", headers={**HTML, **stranger.headers})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    assert page.headers["cache-control"] == "no-store"
    # Through Caddy, with the strict policy: no inline script or style is allowed anywhere.
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_device_list_filters_sorts_and_renders_fragments(https: httpx.Client) -> None:
    owner, org_id, _ = org_with_devices(https, ["lab-01", "lab-02", "office-01"])
    page = https.get(f"/orgs/{org_id}/devices", params={"q": "lab"}, headers=owner.headers)
    assert page.status_code == 200
    assert "lab-01" in page.text and "lab-02" in page.text and "office-01" not in page.text
    assert "<html" in page.text

    fragment = https.get(
        f"/orgs/{org_id}/devices",
        params={"sort": "-name", "limit": 25},
        headers={**owner.headers, "HX-Request": "true", "HX-Target": "device-table"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="device-table"' in fragment.text
    order = [fragment.text.index(name) for name in ("office-01", "lab-02", "lab-01")]
    assert order == sorted(order)
    assert 'aria-sort="descending"' in fragment.text

    never = https.get(f"/orgs/{org_id}/devices", params={"status": "online"}, headers=owner.headers)
    assert "No device matches these filters" in never.text
    # Unknown filter values are ignored rather than failing the page.
    lenient = https.get(
        f"/orgs/{org_id}/devices",
        params={"status": "bogus", "limit": "7", "group_id": "x"},
        headers=owner.headers,
    )
    assert lenient.status_code == 200 and "office-01" in lenient.text


def test_csv_export_is_complete_and_defuses_formulas(https: httpx.Client) -> None:
    owner, org_id, ids = org_with_devices(https, ["pc-a", "pc-b"])
    renamed = https.patch(
        f"/api/v1/orgs/{org_id}/devices/{ids[0]}",
        json={"name": '=HYPERLINK("https://evil.example")', "tags": ["room-1", "exam"]},
        headers=owner.headers,
    )
    assert renamed.status_code == 200, renamed.text
    export = https.get(f"/orgs/{org_id}/devices.csv", headers=owner.headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["id"] for r in rows} == set(ids)
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids[0]]["name"] == '\'=HYPERLINK("https://evil.example")'
    assert by_id[ids[0]]["tags"] == "exam;room-1"
    assert by_id[ids[1]]["state"] == "Waiting for first contact"
    only_b = https.get(f"/orgs/{org_id}/devices.csv?q=pc-b", headers=owner.headers)
    assert [r["hostname"] for r in csv.DictReader(io.StringIO(only_b.text))] == ["pc-b"]


def test_static_assets_and_nothing_else(https: httpx.Client) -> None:
    for path, kind in (
        ("/static/vendor/htmx.min.js", "javascript"),
        ("/static/vendor/uPlot.esm.js", "javascript"),
        ("/static/js/app.js", "javascript"),
        ("/static/css/app.css", "text/css"),
    ):
        response = https.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"], path
    assert https.get("/static/../../pyproject.toml").status_code == 404
    assert https.get("/static/%2e%2e/routes.py").status_code == 404
