"""Browser sessions (cookies) through Caddy, as a browser would see them:

- `/auth/v1/browser/signup` and `/login` set `sentinel_at` (HttpOnly, Secure, SameSite=Lax),
  `sentinel_rt` (HttpOnly, Secure, SameSite=Strict) and a readable `sentinel_csrf`, all on
  Path=/, and return the CSRF token but neither token in the body;
- reads work by cookie; unsafe requests need `X-CSRF-Token` equal to the CSRF cookie (403
  `csrf_failed` otherwise, and nothing happens);
- transparent refresh: with the access cookie missing, expired or garbage, a request succeeds,
  fresh cookies come back and the old refresh token has been rotated; CSRF is still enforced and
  the page's CSRF token stays valid, even next to cookies Python's cookie parser cannot read;
- `/auth/v1/browser/refresh` needs the CSRF header;
- logout needs CSRF, clears the cookies and ends the session for good (the refresh cookie no
  longer works), also when the access cookie has already expired.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import Morsel, SimpleCookie
from typing import Any

import httpx
import pytest

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.harness import trust
from tests.people import PASSWORD, unique_email

AT, RT, CSRF = "sentinel_at", "sentinel_rt", "sentinel_csrf"


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    """Every Set-Cookie of the response, parsed with its attributes (last one wins)."""
    found: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        found.update(jar)
    return found


def cleared(morsel: Morsel[str]) -> bool:
    return morsel.value == "" or morsel["max-age"] == "0"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


@dataclass
class Browser:
    """A cookie jar we control: what the server set, sent back explicitly in `Cookie`."""

    client: httpx.Client
    jar: dict[str, str] = field(default_factory=dict)
    extra_cookies: dict[str, str] = field(default_factory=dict)
    last_set: dict[str, Morsel[str]] = field(default_factory=dict)

    def request(
        self, method: str, url: str, csrf: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers: dict[str, str] = dict(kwargs.pop("headers", {}))
        cookies = {**self.extra_cookies, **self.jar}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        response = self.client.request(method, url, headers=headers, **kwargs)
        self.client.cookies.clear()  # only our jar decides what is sent
        self.last_set = set_cookies(response)
        for name, morsel in self.last_set.items():
            if cleared(morsel):
                self.jar.pop(name, None)
            else:
                self.jar[name] = morsel.value
        return response

    @property
    def csrf(self) -> str:
        return self.jar[CSRF]

    def create_org(self, csrf: str | None) -> httpx.Response:
        name = f"Cookie school {secrets.token_hex(3)}"
        return self.request("POST", "/api/v1/orgs", csrf=csrf, json={"name": name})

    def org_names(self) -> set[str]:
        response = self.request("GET", "/api/v1/orgs")
        assert response.status_code == 200, response.text
        return {org["name"] for org in response.json()}


@pytest.fixture
def browser(stack: Stack, settings: Settings) -> Iterator[Browser]:
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=10) as client:
        yield Browser(client)


def browser_signup(browser: Browser) -> tuple[str, dict[str, Any]]:
    email = unique_email("cookie")
    response = browser.request(
        "POST", "/auth/v1/browser/signup", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return email, response.json()


def assert_session_cookies(response: httpx.Response, csrf_in_body: str) -> None:
    cookies = set_cookies(response)
    assert {AT, RT, CSRF} <= set(cookies), list(cookies)
    at, rt, csrf = cookies[AT], cookies[RT], cookies[CSRF]
    assert at["httponly"] and at["secure"]
    assert at["samesite"].lower() == "lax"
    assert rt["httponly"] and rt["secure"]
    assert rt["samesite"].lower() == "strict"
    assert not csrf["httponly"], "scripts must be able to read the CSRF token"
    assert csrf["secure"]
    assert csrf["samesite"].lower() in ("strict", "lax")
    for morsel in (at, rt, csrf):
        assert morsel["path"] == "/"
        assert int(morsel["max-age"]) > 0
        assert not morsel["domain"], "host-only cookies"
    assert csrf.value == csrf_in_body
    assert len(csrf.value) >= 32
    assert at.value.count(".") == 2  # a JWS
    assert rt.value and rt.value != at.value


def test_signup_and_login_set_hardened_cookies(browser: Browser) -> None:
    email, body = browser_signup(browser)
    response_cookies = browser.last_set
    assert body["user"]["email"] == email
    assert "access_token" not in body and "refresh_token" not in body
    assert body["csrf_token"] == response_cookies[CSRF].value

    again = Browser(browser.client)
    response = again.request(
        "POST", "/auth/v1/browser/login", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert_session_cookies(response, response.json()["csrf_token"])
    assert again.jar[RT] != browser.jar[RT] and again.csrf != browser.csrf  # a new session


def test_signup_cookie_attributes(browser: Browser) -> None:
    email = unique_email("cookie")
    response = browser.request(
        "POST", "/auth/v1/browser/signup", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert_session_cookies(response, response.json()["csrf_token"])


def test_wrong_password_sets_no_cookies(browser: Browser) -> None:
    email, _ = browser_signup(browser)
    stranger = Browser(browser.client)
    response = stranger.request(
        "POST", "/auth/v1/browser/login", json={"email": email, "password": PASSWORD + "x"}
    )
    assert response.status_code == 400, response.text
    assert not set_cookies(response)


def test_cookie_reads_work(browser: Browser) -> None:
    email, _ = browser_signup(browser)
    me = browser.request("GET", "/auth/v1/user")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    assert browser.request("GET", "/api/v1/orgs").status_code == 200
    assert not browser.last_set  # a valid access cookie is not refreshed needlessly


def test_unsafe_requests_need_the_csrf_header(browser: Browser) -> None:
    browser_signup(browser)
    before = browser.org_names()
    assert_problem(browser.create_org(csrf=None), 403, "csrf_failed")
    assert_problem(browser.create_org(csrf=browser.csrf + "x"), 403, "csrf_failed")
    assert_problem(browser.create_org(csrf=""), 403, "csrf_failed")
    other = Browser(browser.client)
    browser_signup(other)
    assert_problem(browser.create_org(csrf=other.csrf), 403, "csrf_failed")
    assert browser.org_names() == before
    created = browser.create_org(csrf=browser.csrf)
    assert created.status_code == 201, created.text
    assert browser.org_names() == before | {created.json()["name"]}


@pytest.mark.parametrize("access", ["missing", "garbage", "expired_signature"])
def test_transparent_refresh(browser: Browser, access: str) -> None:
    email, _ = browser_signup(browser)
    old_at, old_rt, csrf = browser.jar[AT], browser.jar[RT], browser.csrf
    if access == "missing":
        del browser.jar[AT]
    elif access == "garbage":
        browser.jar[AT] = "garbage"
    else:
        head, payload, signature = old_at.split(".")
        browser.jar[AT] = f"{head}.{payload}.{signature[::-1]}"

    response = browser.request("GET", "/api/v1/orgs")
    assert response.status_code == 200, response.text
    fresh = browser.last_set
    assert {AT, RT} <= set(fresh), list(fresh)
    assert fresh[AT]["httponly"] and fresh[RT]["httponly"]
    assert fresh[RT]["samesite"].lower() == "strict"
    assert browser.jar[AT] != old_at
    assert browser.jar[RT] != old_rt, "the refresh token must be rotated"
    assert browser.csrf == csrf, "the page's CSRF token stays valid across the refresh"

    # The rotated token is spent: presented again (inside the reuse grace window) it yields the
    # session's current token, not a new branch of the session.
    replay = browser.client.post(
        "/auth/v1/token", params={"grant_type": "refresh_token"}, json={"refresh_token": old_rt}
    )
    browser.client.cookies.clear()
    assert replay.status_code == 200, replay.text
    assert replay.json()["refresh_token"] == browser.jar[RT]

    # The fresh cookies carry on working, for reads and (with CSRF) writes.
    me = browser.request("GET", "/auth/v1/user")
    assert me.status_code == 200 and me.json()["email"] == email
    assert browser.create_org(csrf=csrf).status_code == 201


@pytest.mark.parametrize("path", ["/auth/v1/user", "/auth/v1/sessions"])
def test_transparent_refresh_covers_the_users_own_endpoints(browser: Browser, path: str) -> None:
    """`/auth/v1/user` is what a page asks first ("who am I?"): it must not answer 401 to a
    live session just because the 15-minute access cookie ran out."""
    email, _ = browser_signup(browser)
    old_rt = browser.jar[RT]
    del browser.jar[AT]
    response = browser.request("GET", path)
    assert response.status_code == 200, response.text
    assert browser.jar[RT] != old_rt and AT in browser.jar
    assert browser.request("GET", "/auth/v1/user").json()["email"] == email


def test_parallel_requests_refresh_once(browser: Browser) -> None:
    """A page fires several calls at once after the access cookie ran out: all succeed, they
    agree on the rotated refresh token, and the session is not mistaken for a stolen one."""
    browser_signup(browser)
    old_rt = browser.jar[RT]
    header = {"Cookie": f"{RT}={old_rt}; {CSRF}={browser.csrf}"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(
            pool.map(lambda _: browser.client.get("/api/v1/orgs", headers=header), range(6))
        )
    browser.client.cookies.clear()
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    new_rts = {set_cookies(r)[RT].value for r in responses}
    assert len(new_rts) == 1 and old_rt not in new_rts
    browser.jar[RT] = new_rts.pop()
    del browser.jar[AT]
    assert browser.request("GET", "/api/v1/orgs").status_code == 200  # the session lives on


def test_transparent_refresh_still_enforces_csrf(browser: Browser) -> None:
    browser_signup(browser)
    del browser.jar[AT]
    before_rt = browser.jar[RT]
    assert_problem(browser.create_org(csrf=None), 403, "csrf_failed")
    assert browser.jar[RT] != before_rt  # refreshed, but the write was refused
    assert browser.create_org(csrf=browser.csrf).status_code == 201


def test_transparent_refresh_next_to_unparseable_third_party_cookies(browser: Browser) -> None:
    """Other software on the same host may set cookies Python's `SimpleCookie` refuses (JSON,
    spaces); the refreshed request must still see its own CSRF cookie."""
    browser_signup(browser)
    csrf = browser.csrf
    browser.extra_cookies = {"consent": '{"analytics":false}', "pref": "dark mode"}
    del browser.jar[AT]
    created = browser.create_org(csrf=csrf)
    assert created.status_code == 201, created.text
    assert browser.csrf == csrf
    assert browser.create_org(csrf=csrf).status_code == 201


def test_refresh_endpoint_needs_csrf(browser: Browser) -> None:
    browser_signup(browser)
    old_rt = browser.jar[RT]
    assert_problem(browser.request("POST", "/auth/v1/browser/refresh"), 403, "csrf_failed")
    assert_problem(
        browser.request("POST", "/auth/v1/browser/refresh", csrf="nope"), 403, "csrf_failed"
    )
    assert browser.jar[RT] == old_rt  # nothing rotated by the refused attempts

    response = browser.request("POST", "/auth/v1/browser/refresh", csrf=browser.csrf)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and "access_token" not in body
    assert_session_cookies(response, body["csrf_token"])
    assert browser.jar[RT] != old_rt
    assert browser.csrf == body["csrf_token"]
    assert browser.request("GET", "/auth/v1/user").status_code == 200


def test_refresh_endpoint_without_a_session(browser: Browser) -> None:
    browser.jar[CSRF] = "c" * 40
    assert_problem(
        browser.request("POST", "/auth/v1/browser/refresh", csrf="c" * 40), 401, "unauthorized"
    )


def assert_logged_out(browser: Browser, response: httpx.Response, old: dict[str, str]) -> None:
    assert response.status_code == 204, response.text
    gone = set_cookies(response)
    assert {AT, RT, CSRF} <= set(gone), list(gone)
    assert all(cleared(gone[name]) for name in (AT, RT, CSRF))
    assert gone[RT]["path"] == "/" and gone[AT]["path"] == "/"
    assert not browser.jar

    # The session is over: neither the old refresh cookie nor the old access token works.
    refresh = browser.client.post(
        "/auth/v1/browser/refresh",
        headers={
            "Cookie": f"{RT}={old[RT]}; {CSRF}={old[CSRF]}",
            "X-CSRF-Token": old[CSRF],
        },
    )
    browser.client.cookies.clear()
    assert refresh.status_code in (400, 401), refresh.text
    assert refresh.json()["code"] in ("invalid_grant", "unauthorized")
    transparent = browser.client.get("/api/v1/orgs", headers={"Cookie": f"{RT}={old[RT]}"})
    browser.client.cookies.clear()
    assert_problem(transparent, 401, "unauthorized")
    stale = browser.client.get("/auth/v1/user", headers={"Cookie": f"{AT}={old[AT]}"})
    browser.client.cookies.clear()
    assert_problem(stale, 401, "unauthorized")


def test_logout_needs_csrf_then_ends_the_session(browser: Browser) -> None:
    browser_signup(browser)
    old = dict(browser.jar)
    assert_problem(browser.request("POST", "/auth/v1/browser/logout"), 403, "csrf_failed")
    assert browser.request("GET", "/auth/v1/user").status_code == 200  # still signed in
    response = browser.request("POST", "/auth/v1/browser/logout", csrf=old[CSRF])
    assert_logged_out(browser, response, old)


def test_logout_after_the_access_cookie_expired(browser: Browser) -> None:
    """The access cookie lives 15 minutes, the session 30 days: logging out later must still
    end the session rather than leave a working refresh cookie behind."""
    browser_signup(browser)
    old = dict(browser.jar)
    del browser.jar[AT]
    response = browser.request("POST", "/auth/v1/browser/logout", csrf=old[CSRF])
    assert_logged_out(browser, response, old)
