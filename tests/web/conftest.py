"""Fixtures of the browser tests: one Chromium per module, a fresh context (cookies, storage)
per person, pages watched for console errors, page errors and WebSockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from sentinel.stack.launcher import Stack
from tests.web.browser import launch

VIEWPORT = {"width": 1280, "height": 900}
# Not UTC, so that a time shown in UTC by mistake is noticed.
VIEWER_TIME_ZONE = "America/New_York"


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright, stack.settings)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(stack: Stack, browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """A factory of browser contexts (one per person), closed after the test."""
    opened: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=stack.settings.public_url,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            timezone_id=VIEWER_TIME_ZONE,
            locale="en-US",
        )
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()
