"""Enrollment over HTTPS. A whole school behind one address may enroll at once, so a 429 is
answered by waiting `Retry-After` plus random jitter and trying again, as are network errors
and 5xx answers; other refusals are final and explained."""

from __future__ import annotations

import math
import random
import ssl
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from sentinel_agent.state import AgentHome, Enrollment

DEFAULT_RETRY_AFTER = 10.0


class EnrollmentError(RuntimeError):
    pass


def retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110);
    anything else — a proxy's own format, garbage — means the default, never a crash."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (
                time.time() if now is None else now
            )
        except (TypeError, ValueError, IndexError, OverflowError):
            return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), 3600.0)


def _context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def enroll(
    server: str,
    token: str,
    home: AgentHome,
    hostname: str | None = None,
    ca_file: str | None = None,
    deadline_seconds: float = 600,
    sleep: Callable[[float], None] = time.sleep,
) -> Enrollment:
    url = server.rstrip("/") + "/api/v1/agent/enroll"
    body = {"token": token, "hostname": hostname}
    deadline = time.monotonic() + deadline_seconds
    backoff = 1.0
    with httpx.Client(verify=_context(ca_file), timeout=30) as client:
        while True:
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                response = None
                reason = f"network error ({exc.__class__.__name__})"
            if response is not None and response.status_code == 200:
                break
            if response is not None and response.status_code == 429:
                wait = retry_after(response.headers.get("retry-after"))
                wait += random.uniform(0, max(1.0, wait / 2))  # noqa: S311 - jitter, not crypto
                reason = "rate limited"
            elif response is not None and response.status_code < 500:
                problem = _detail(response)
                raise EnrollmentError(f"enrollment refused ({response.status_code}): {problem}")
            else:
                wait = backoff + random.uniform(0, backoff)  # noqa: S311
                backoff = min(backoff * 2, 60)
                reason = reason if response is None else f"server error {response.status_code}"
            if time.monotonic() + wait > deadline:
                raise EnrollmentError(f"gave up enrolling: {reason}")
            sleep(wait)
    data = response.json()
    mqtt = data["mqtt"]
    enrollment = Enrollment(
        server=server.rstrip("/"),
        org_id=data["org_id"],
        device_id=data["device_id"],
        mqtt_host=mqtt["host"],
        mqtt_port=int(mqtt["port"]),
        mqtt_username=mqtt["username"],
        topic_prefix=mqtt["topic_prefix"],
    )
    home.save(enrollment, data["device_token"], data["ca_cert"])
    return enrollment


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("title") or body)
    except ValueError:
        return response.text[:200]
