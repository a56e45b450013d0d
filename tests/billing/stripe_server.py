"""A local stand-in for Stripe's API at the HTTP edge: a real HTTP server on 127.0.0.1 (in a
thread) that answers the endpoints Sentinel calls. The `stripe` library talks to it exactly as
it talks to api.stripe.com (`Settings.stripe_api_base`), so everything above the socket is the
production code path."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_sentinel_local"


@dataclass
class Call:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    """Records every call; `fail_next` makes the next call answer with a Stripe API error."""

    calls: list[Call] = field(default_factory=list)
    customers_by_key: dict[str, str] = field(default_factory=dict)
    fail_next: bool = False

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        if call.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
        with self.lock:
            self.calls.append(call)
            if self.fail_next:
                self.fail_next = False
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such price",
                    }
                }
        if call.method == "POST" and call.path == "/v1/customers":
            key = call.headers.get("idempotency-key") or secrets.token_hex(4)
            with self.lock:
                customer = self.customers_by_key.setdefault(key, f"cus_{secrets.token_hex(7)}")
            return 200, {"id": customer, "object": "customer", "name": call.form.get("name")}
        if call.method == "POST" and call.path == "/v1/checkout/sessions":
            session = f"cs_test_{secrets.token_hex(8)}"
            return 200, {
                "id": session,
                "object": "checkout.session",
                "mode": "subscription",
                "customer": call.form.get("customer"),
                "url": f"https://checkout.stripe.test/c/pay/{session}",
            }
        if call.method == "POST" and call.path == "/v1/billing_portal/sessions":
            session = f"bps_{secrets.token_hex(8)}"
            return 200, {
                "id": session,
                "object": "billing_portal.session",
                "customer": call.form.get("customer"),
                "url": f"https://billing.stripe.test/p/session/{session}",
            }
        return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                call = Call(
                    self.command,
                    self.path.split("?")[0],
                    dict(parse_qsl(body, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                status, payload = fake.answer(call)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler
