"""Every route is accounted for: organization routes carry exactly one guard with the right
kind of permission, and the only mutating routes without one are listed here on purpose."""

from __future__ import annotations

import warnings

import pytest

from sentinel.api.app import create_app
from sentinel.config import Settings
from tests.authz.route_table import (
    ENDPOINTS,
    GUARDED,
    GUARDED_MUTATING,
    GUARDED_READING,
    MUTATING,
    READING,
    Endpoint,
    api_routes,
)

# Mutating routes that are deliberately not scoped to an organization, and why.
UNGUARDED_MUTATING = {
    ("POST", "/auth/v1/signup"): "creates the account itself",
    ("POST", "/auth/v1/token"): "signs in / refreshes; the credentials are the proof",
    ("POST", "/auth/v1/logout"): "acts on the caller's own sessions",
    ("DELETE", "/auth/v1/sessions/{session_id}"): "acts on the caller's own sessions",
    ("POST", "/auth/v1/browser/signup"): "creates the account itself (cookie session)",
    ("POST", "/auth/v1/browser/login"): "signs in; the credentials are the proof",
    ("POST", "/auth/v1/browser/refresh"): "the refresh cookie is the proof",
    ("POST", "/auth/v1/browser/logout"): "acts on the caller's own session",
    ("POST", "/api/v1/orgs"): "creates an organization; the caller becomes its owner",
    ("POST", "/api/v1/invitations/accept"): "the invitation token names the organization",
    ("POST", "/api/v1/agent/enroll"): "a device enrolls with an enrollment token",
    ("POST", "/api/v1/billing/stripe/webhook"): "Stripe's signature is the proof",
}


def test_route_table_is_not_empty() -> None:
    assert len(GUARDED_MUTATING) >= 5
    assert len(GUARDED_READING) >= 3


def test_every_route_uses_a_known_method() -> None:
    assert {e.method for e in ENDPOINTS} <= MUTATING | READING


@pytest.mark.parametrize("endpoint", GUARDED, ids=str)
def test_org_route_has_exactly_one_guard(endpoint: Endpoint) -> None:
    assert len(endpoint.permissions) == 1, f"{endpoint}: guards {endpoint.permissions}"


@pytest.mark.parametrize("endpoint", GUARDED_MUTATING, ids=str)
def test_mutating_org_route_needs_a_write_permission(endpoint: Endpoint) -> None:
    assert not endpoint.permission.is_read, f"{endpoint} only needs {endpoint.permission}"


@pytest.mark.parametrize("endpoint", GUARDED_READING, ids=str)
def test_reading_org_route_needs_a_read_permission(endpoint: Endpoint) -> None:
    assert endpoint.permission.is_read, f"{endpoint} needs {endpoint.permission}"


def test_routes_outside_organizations_have_no_guard() -> None:
    # A guard on such a route would take `org_id` from the query string.
    assert [str(e) for e in ENDPOINTS if not e.org_scoped and e.permissions] == []


def test_unguarded_mutating_routes_are_exactly_the_allow_list() -> None:
    unguarded = {(e.method, e.path) for e in ENDPOINTS if e.mutating and not e.org_scoped}
    assert unguarded - UNGUARDED_MUTATING.keys() == set(), "new unguarded mutating route(s)"
    assert UNGUARDED_MUTATING.keys() - unguarded == set(), "allow-list names missing routes"


def test_the_application_serves_exactly_the_routers_routes(settings: Settings) -> None:
    # Routes added to the app directly would escape the matrices generated from ROUTERS.
    with warnings.catch_warnings():
        # GET and HEAD /healthz share an operation id; that is not what this test is about.
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        schema = create_app(settings).openapi()["paths"]
    served = {
        (method.upper(), path) for path, operations in schema.items() for method in operations
    }
    declared = {
        (method, route.path)
        for route in api_routes()
        if route.include_in_schema
        for method in route.methods or ()
    }
    assert served - {("HEAD", p) for _, p in served} == declared - {
        ("HEAD", p) for _, p in declared
    }
