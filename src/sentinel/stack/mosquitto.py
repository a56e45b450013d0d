"""Sentinel's own Mosquitto 2 broker.

Two listeners with their own credentials (`per_listener_settings`): MQTTS for devices on all
interfaces, and a plain loopback listener that only Sentinel's processes can log in to. Device
usernames are `{org_id}/devices/{device_id}`; one pattern ACL confines each device to
`sentinel/{org_id}/devices/{device_id}/#`, and `use_username_as_clientid` stops one device from
kicking another by reusing its client id.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sentinel.broker.passwords import SERVICE_ITERATIONS, mosquitto_hash, write_password_file
from sentinel.broker.probe import BrokerEndpoint, probe_broker
from sentinel.config import Settings
from sentinel.stack.binaries import find_binary
from sentinel.stack.component import Component, Listen
from sentinel.stack.files import ensure_traversable, give, service_user, write_atomic
from sentinel.stack.secrets import load_secrets

SERVICE_USERNAME = "sentinel-service"
DEVICE_ACL = "pattern readwrite sentinel/%u/#\n"
SERVICE_ACL = f"user {SERVICE_USERNAME}\ntopic readwrite sentinel/#\ntopic read $SYS/#\n"
# The default (1,000 queued QoS 1 messages per client) would drop telemetry while ingest
# restarts; ingest's persistent session must be able to absorb minutes of a fleet's traffic.
MAX_QUEUED_MESSAGES = 1_000_000
MAX_PACKET_BYTES = 256 * 1024
# Ingest acknowledges a message only after its batch is committed, so many must be in flight.
MAX_INFLIGHT = 5000


def device_password_file(settings: Settings) -> Path:
    return settings.broker_dir / "devices.passwd"


def broker_pid_file(settings: Settings) -> Path:
    return settings.broker_dir / "mosquitto.pid"


class Mosquitto(Component):
    name = "mosquitto"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = service_user("mosquitto")

    @property
    def home(self) -> Path:
        return self.settings.broker_dir

    @property
    def device_password_file(self) -> Path:
        return device_password_file(self.settings)

    @property
    def listens(self) -> list[Listen]:
        return [
            Listen("127.0.0.1", self.settings.mqtt_internal_port),
            Listen("0.0.0.0", self.settings.mqtts_port),  # noqa: S104 - the public device port
        ]

    def prepare(self) -> None:
        ensure_traversable(self.settings.root)
        home = self.home
        (home / "data").mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        for name in ("server.crt", "server.key", "ca.crt"):
            shutil.copyfile(self.settings.tls_dir / name, home / name)
            (home / name).chmod(0o600)
        secrets = load_secrets(self.settings.secrets_dir)
        write_password_file(
            home / "service.passwd",
            {SERVICE_USERNAME: mosquitto_hash(secrets.mqtt_service_password, SERVICE_ITERATIONS)},
            owner=self.user,
        )
        if not self.device_password_file.exists():
            write_password_file(self.device_password_file, {}, owner=self.user)
        write_atomic(home / "service.acl", SERVICE_ACL, owner=self.user)
        write_atomic(home / "devices.acl", DEVICE_ACL, owner=self.user)
        write_atomic(home / "mosquitto.conf", self._config(), owner=self.user)
        give(home, self.user, recursive=True)

    def _config(self) -> str:
        home = self.home
        return f"""# Written by Sentinel on every start.
per_listener_settings true
pid_file {home / "mosquitto.pid"}
persistence true
persistence_location {home / "data"}/
autosave_interval 60
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes 0
max_inflight_messages {MAX_INFLIGHT}
max_packet_size {MAX_PACKET_BYTES}
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S

# Sentinel's own processes: loopback only, service credential only.
listener {self.settings.mqtt_internal_port} 127.0.0.1
allow_anonymous false
password_file {home / "service.passwd"}
acl_file {home / "service.acl"}

# Devices: TLS only, per-device credentials, one namespace each.
listener {self.settings.mqtts_port}
allow_anonymous false
password_file {self.device_password_file}
acl_file {home / "devices.acl"}
use_username_as_clientid true
cafile {home / "ca.crt"}
certfile {home / "server.crt"}
keyfile {home / "server.key"}
tls_version tlsv1.2
"""

    def command(self) -> list[str]:
        return [find_binary("mosquitto"), "-c", str(self.home / "mosquitto.conf")]

    def service_endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(
            "127.0.0.1",
            self.settings.mqtt_internal_port,
            SERVICE_USERNAME,
            load_secrets(self.settings.secrets_dir).mqtt_service_password,
        )

    def probe(self) -> None:
        probe_broker(self.service_endpoint(), timeout=2)
