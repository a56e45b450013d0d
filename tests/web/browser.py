"""Debian's Chromium driven by Playwright, trusting exactly the test stack's certificate.

Chromium on Linux reads no CA file, so instead of turning TLS checks off the browser is told to
accept one public key: `--ignore-certificate-errors-spki-list` with the SHA-256 of the server
certificate's SubjectPublicKeyInfo. Any other certificate still fails, so the checks stay
meaningful. (Chromium honours the flag only with a profile directory, which Playwright always
passes.)
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    WebSocket,
)

from sentinel.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def spki_pin(certificate: Path) -> str:
    """Base64 of the SHA-256 of the certificate's public key (what Chromium's flag expects)."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def launch(playwright: Playwright, settings: Settings) -> Browser:
    pin = spki_pin(settings.tls_dir / "server.crt")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"],
    )


@dataclass
class Watch:
    """Everything a page complains about, and the WebSockets it opens."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    loads: int = 0

    def attach(self, page: Page) -> Watch:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("websocket", self._websocket)
        page.on("load", self._load)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} @ {message.location}")

    def _websocket(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)

    def _load(self, _page: Page) -> None:
        self.loads += 1

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(context: BrowserContext, email: str, password: str) -> Page:
    """A page of `context` with a browser session, started the way the login page starts it.

    The request goes from Chromium itself (Playwright's own request client runs in Node and
    would not trust the pinned key)."""
    page = context.new_page()
    page.goto("/login")
    status = page.evaluate(
        """async ([email, password]) => (await fetch("/auth/v1/browser/login", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password})})).status""",
        [email, password],
    )
    assert status == 200, status
    return page
