"""Caddy: the only public HTTP entry. TLS ≥ 1.2, HSTS and security headers, reverse proxy to
the API (WebSocket upgrades included). Locally it presents a certificate from the local CA;
`deploy/Caddyfile` is the production variant with ACME.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx

from sentinel.stack.binaries import find_binary
from sentinel.stack.component import Component, Listen
from sentinel.stack.files import write_atomic
from sentinel.stack.sentinel_processes import api_ports

SECURITY_HEADERS = """\
		Strict-Transport-Security "max-age=31536000; includeSubDomains"
		Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
		X-Content-Type-Options "nosniff"
		X-Frame-Options "DENY"
		Referrer-Policy "no-referrer"
		Permissions-Policy "camera=(), microphone=(), geolocation=()"
		Cross-Origin-Opener-Policy "same-origin"
		-Server"""


class Caddy(Component):
    name = "caddy"

    @property
    def home(self) -> Path:
        return self.settings.root / "caddy"

    @property
    def listens(self) -> list[Listen]:
        return [
            Listen("0.0.0.0", self.settings.https_port),  # noqa: S104 - the public HTTPS port
            Listen("0.0.0.0", self.settings.http_port),  # noqa: S104 - redirect to HTTPS only
        ]

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        s = self.settings
        upstreams = " ".join(f"127.0.0.1:{port}" for port in api_ports(s))
        write_atomic(
            self.home / "Caddyfile",
            f"""{{
	admin off
	auto_https disable_redirects
	http_port {s.http_port}
	https_port {s.https_port}
	default_sni {s.public_host}
	servers {{
		protocols h1 h2
	}}
	log {{
		output stderr
		format console
	}}
}}

https://:{s.https_port} {{
	tls {s.tls_dir / "server.crt"} {s.tls_dir / "server.key"} {{
		protocols tls1.2 tls1.3
	}}
	header {{
{SECURITY_HEADERS}
	}}
	reverse_proxy {upstreams} {{
		lb_policy round_robin
		lb_try_duration 5s
		fail_duration 10s
	}}
}}

http://:{s.http_port} {{
	header -Server
	redir https://{{host}}:{s.https_port}{{uri}} permanent
}}
""",
            mode=0o600,
        )

    def command(self) -> list[str]:
        return [
            find_binary("caddy"),
            "run",
            "--config",
            str(self.home / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.home / "data"),
            XDG_CONFIG_HOME=str(self.home / "config"),
        )
        return env

    def probe(self) -> None:
        url = f"https://{self.settings.public_host}:{self.settings.https_port}/healthz"
        context = ssl.create_default_context(cafile=str(self.settings.ca_cert_path))
        response = httpx.get(url, verify=context, timeout=2)
        response.raise_for_status()
