"""The agent's enrollment client against a scripted local HTTP server (a whole school behind
one address enrolling at once): 429 is answered by waiting `Retry-After` plus jitter — also
when the header is an HTTP date or garbage — network trouble and 5xx by exponential backoff,
other refusals end at once with the server's explanation, and a wait beyond the deadline gives
up instead of sleeping. A successful enrollment stores the credential owner-only."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from time import time
from typing import Any

import pytest
from sentinel_agent.enroll import EnrollmentError, enroll, retry_after
from sentinel_agent.state import AgentHome

ORG = "7d3c0a46-52f2-4f43-9d8a-2f1d0b7b1f10"
DEVICE = "0f0e0d0c-0b0a-4908-8706-050403020100"
OK_BODY = {
    "org_id": ORG,
    "device_id": DEVICE,
    "device_token": "sntl_dev_secret",
    "mqtt": {
        "host": "broker.school.example",
        "port": 8883,
        "username": f"{ORG}/devices/{DEVICE}",
        "client_id": f"{ORG}/devices/{DEVICE}",
        "topic_prefix": f"sentinel/{ORG}/devices/{DEVICE}",
    },
    "api_url": "https://sentinel.school.example",
    "ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}

Answer = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class Script:
    answers: list[Answer]
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            script.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            status, headers, body = script.answers.pop(0) if script.answers else (200, {}, OK_BODY)
            raw = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_429_waits_retry_after_plus_jitter(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.answers = [
        (429, {"Retry-After": "4"}, {"code": "rate_limited"}),
        (429, {"Retry-After": "2"}, {"code": "rate_limited"}),
    ]
    sleeps: list[float] = []
    home = AgentHome(tmp_path / "home")
    enrollment = enroll(url, "enroll-token", home, "pc-01", sleep=sleeps.append)
    assert enrollment.device_id == DEVICE
    assert len(sleeps) == 2
    assert 4 <= sleeps[0] <= 6  # Retry-After plus up to half of it as jitter
    assert 2 <= sleeps[1] <= 3
    assert len(script.requests) == 3
    assert all(r["path"] == "/api/v1/agent/enroll" for r in script.requests)
    assert script.requests[0]["body"] == {"token": "enroll-token", "hostname": "pc-01"}

    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.token_file.stat().st_mode) == 0o600
    assert home.token_file.read_text() == "sntl_dev_secret"
    loaded, token = home.load()
    assert loaded == enrollment and token == "sntl_dev_secret"


def test_jitter_spreads_a_school_apart(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    sleeps: list[float] = []
    for i in range(8):
        script.answers = [(429, {"Retry-After": "10"}, {})]
        enroll(url, "t", AgentHome(tmp_path / f"h{i}"), sleep=sleeps.append)
    assert all(10 <= s <= 15 for s in sleeps)
    assert len(set(sleeps)) == len(sleeps), "every agent waits a different time"


@pytest.mark.parametrize(
    "retry_after",
    [formatdate(time() + 3, usegmt=True), "soon", ""],
    ids=["http_date", "garbage", "empty"],
)
def test_unusual_retry_after_still_retries(
    server: tuple[str, Script], tmp_path: Path, retry_after: str
) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": retry_after}, {})]
    sleeps: list[float] = []
    enroll(url, "t", AgentHome(tmp_path / "home"), sleep=sleeps.append)
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 60


def test_server_errors_back_off_exponentially(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.answers = [(503, {}, {}), (502, {}, {}), (500, {}, {})]
    sleeps: list[float] = []
    enroll(url, "t", AgentHome(tmp_path / "home"), sleep=sleeps.append)
    assert len(sleeps) == 3
    assert 1 <= sleeps[0] <= 2 and 2 <= sleeps[1] <= 4 and 4 <= sleeps[2] <= 8


def test_refusals_are_final_and_explained(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.answers = [(403, {}, {"code": "invalid_token", "detail": "This token has expired."})]
    sleeps: list[float] = []
    home = AgentHome(tmp_path / "home")
    with pytest.raises(EnrollmentError, match=r"403.*This token has expired"):
        enroll(url, "t", home, sleep=sleeps.append)
    assert sleeps == []
    assert len(script.requests) == 1
    assert not home.enrolled()


def test_gives_up_instead_of_waiting_past_the_deadline(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "120"}, {})]
    sleeps: list[float] = []
    with pytest.raises(EnrollmentError, match="gave up enrolling: rate limited"):
        enroll(url, "t", AgentHome(tmp_path / "home"), deadline_seconds=60, sleep=sleeps.append)
    assert sleeps == []


def test_unreachable_server_is_retried_then_given_up(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with pytest.raises(EnrollmentError, match="network error"):
        enroll(
            "http://127.0.0.1:9",
            "t",
            AgentHome(tmp_path / "home"),
            deadline_seconds=10,
            sleep=sleeps.append,
        )
    assert sleeps and all(s >= 1 for s in sleeps)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1e9", 3600.0),
        ("nan", 10.0),
        ("inf", 10.0),
        ("", 10.0),
        (None, 10.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # in the past: retry now
    ],
)
def test_retry_after_parsing(header: str | None, expected: float) -> None:
    assert retry_after(header) == expected


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    assert retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
