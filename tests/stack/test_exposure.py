"""Only Caddy's HTTPS/HTTP ports and Mosquitto's TLS port may listen beyond loopback."""

from __future__ import annotations

import ipaddress

import psutil

from sentinel.stack.launcher import Stack


def _listening(stack: Stack) -> dict[tuple[str, int], str]:
    owners = {}
    for component in stack.components:
        assert component.process is not None
        procs = [psutil.Process(component.process.pid)]
        procs += procs[0].children(recursive=True)
        for proc in procs:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    owners[(conn.laddr.ip, conn.laddr.port)] = component.name
    return owners


def test_only_public_ports_listen_beyond_loopback(stack: Stack) -> None:
    s = stack.settings
    public_allowed = {s.https_port, s.http_port, s.mqtts_port}
    listening = _listening(stack)
    ports_by_component: dict[str, set[int]] = {}
    for (ip, port), name in listening.items():
        ports_by_component.setdefault(name, set()).add(port)
        if not ipaddress.ip_address(ip).is_loopback:
            assert port in public_allowed, f"{name} listens on {ip}:{port}"
    assert ports_by_component["postgres"] == {s.pg_port}
    assert ports_by_component["redis"] == {s.redis_port}
    assert ports_by_component["api"] == {s.api_port}
    assert ports_by_component["mosquitto"] == {s.mqtt_internal_port, s.mqtts_port}
    loopback_only = {s.pg_port, s.redis_port, s.api_port, s.mqtt_internal_port}
    for (ip, port), _ in listening.items():
        if port in loopback_only:
            assert ipaddress.ip_address(ip).is_loopback
    # The public ports really are public: bound to a wildcard address.
    public = {port for (ip, port) in listening if ip in ("0.0.0.0", "::")}  # noqa: S104
    assert public_allowed <= public
