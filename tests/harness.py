"""Test harness helpers: a stack on free ports in a temporary directory."""

from __future__ import annotations

import socket
import ssl
import warnings
from pathlib import Path

from sentinel.config import Settings

PORT_FIELDS = (
    "https_port",
    "http_port",
    "api_port",
    "mqtts_port",
    "mqtt_internal_port",
    "pg_port",
    "redis_port",
)


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stack_settings(data_dir: Path, **overrides: object) -> Settings:
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    return Settings(data_dir=data_dir, **{**ports, "worker_heartbeat_seconds": 1.0, **overrides})


def trust(settings: Settings) -> ssl.SSLContext:
    """A client TLS context that trusts exactly the stack's local CA."""
    return ssl.create_default_context(cafile=str(settings.ca_cert_path))


def tls_handshake(settings: Settings, port: int, version: ssl.TLSVersion) -> str:
    """Handshake with exactly `version` (old versions allowed client-side); returns the version."""
    context = trust(settings)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is what we probe
        context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version() or ""
