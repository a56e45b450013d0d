"""MQTT helpers for the broker tests.

- `ServiceObserver`: Sentinel's own credential on the loopback listener. It may read all of
  `sentinel/#` and `$SYS/#`, so it sees every message the broker actually routed: what it never
  receives was never delivered to anyone.
- `connack`: one connection attempt with paho, returning the broker's CONNACK reason code.
- `mosquitto_pub` / `MosquittoSub`: the broker's own client binaries over MQTTS with MQTT v5, so
  refusals come back as reason codes (135 = not authorized) rather than silent drops.
- Password-file and worker-log readers, and waiting for a device client to be cut off.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import device_password_file
from tests.fleet import DeviceClient, Enrollment

NOT_AUTHORIZED = 135
RELOAD_LOG_LINE = "broker credentials reloaded"


def marker(label: str) -> str:
    """A unique payload, so a message can be recognised wherever it shows up."""
    return f"{label}-{secrets.token_hex(8)}"


# --- the service side ---------------------------------------------------------------------------


@dataclass
class ServiceObserver:
    """A paho client with the service credential on the loopback listener."""

    stack: Stack
    topics: tuple[str, ...] = ("sentinel/#", "$SYS/#")
    messages: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        endpoint = self.stack.mosquitto.service_endpoint()
        self.endpoint = endpoint
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-observer-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if not rc.is_failure:
            client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(self, *_: object) -> None:
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload).decode(errors="replace")))

    def __enter__(self) -> ServiceObserver:
        self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(5):
            self.close()
            raise TimeoutError("the service observer could not subscribe")
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def seen(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.messages)

    def topics_with(self, text: str) -> list[str]:
        """Topics of every received message whose payload contains `text`."""
        return [topic for topic, payload in self.seen() if text in payload]

    def wait_for(self, text: str, timeout: float = 5.0) -> str:
        """The topic of the first message containing `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.topics_with(text):
                return found[0]
            time.sleep(0.02)
        raise TimeoutError(f"the service observer never saw {text!r}")


def received(device: DeviceClient) -> list[tuple[str, str]]:
    with device.lock:
        return [(topic, payload.decode(errors="replace")) for topic, payload in device.messages]


def wait_received(device: DeviceClient, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in payload for _, payload in received(device)):
            return
        time.sleep(0.02)
    raise TimeoutError(f"device never received {text!r}")


def subscribe_all(observer: ServiceObserver, device: DeviceClient, filters: list[str]) -> None:
    """Subscribe `device` to `filters`, then prove the broker processed them: SUBSCRIBEs are
    handled in order, so once a message on the device's own topic (subscribed last) arrives,
    every earlier filter is in place too."""
    for topic_filter in filters:
        device.client.subscribe(topic_filter, 1)
    own = f"{device.enrollment.prefix}/commands"
    device.client.subscribe(own, 1)
    ready = marker("subscribed")
    deadline = time.monotonic() + 5
    while not any(ready in payload for _, payload in received(device)):
        if time.monotonic() > deadline:
            raise TimeoutError("the device's subscriptions never became active")
        observer.publish(own, ready)
        time.sleep(0.1)


# --- connection attempts ------------------------------------------------------------------------


def connack(
    settings: Settings,
    username: str | None,
    password: str | None,
    *,
    client_id: str | None = None,
    internal: bool = False,
    timeout: float = 5.0,
) -> ReasonCode:
    """Connect once (MQTTS device port, or the loopback listener if `internal`) and return the
    CONNACK reason code; the client never retries."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"probe-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if not internal:
        client.tls_set(ca_certs=str(settings.ca_cert_path))
    outcome: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(rc)
    host, port = (
        ("127.0.0.1", settings.mqtt_internal_port)
        if internal
        else ("localhost", settings.mqtts_port)
    )
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + timeout
        while not outcome and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    finally:
        client.disconnect()
    assert outcome, "no CONNACK from the broker"
    return outcome[0]


@contextmanager
def connected(settings: Settings, enrollment: Enrollment, **options: Any) -> Iterator[DeviceClient]:
    """A `tests.fleet.DeviceClient` connected for the duration of the block, then closed."""
    wait_accepted(settings, enrollment)  # paho would back off a whole second per refusal
    device = DeviceClient(settings, enrollment, **options)
    try:
        device.connect()
        yield device
    finally:
        device.close()


def close_all(devices: list[DeviceClient]) -> None:
    """Close clients in parallel: one that paho is backing off to reconnect takes up to a
    second to stop."""
    threads = [threading.Thread(target=device.close) for device in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def wait_cut_off(device: DeviceClient, timeout: float = 5.0) -> float:
    """Seconds until the broker disconnected `device` (which must be connected now)."""
    start = time.monotonic()
    while device.client.is_connected():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"device still connected after {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - start


# --- the mosquitto client binaries --------------------------------------------------------------


def _cli(
    settings: Settings,
    binary: str,
    username: str | None,
    password: str | None,
    client_id: str | None,
) -> list[str]:
    path = shutil.which(binary)
    assert path is not None, f"{binary} is not installed"
    command = [path, "-h", "localhost", "-p", str(settings.mqtts_port)]
    command += ["--cafile", str(settings.ca_cert_path), "-V", "mqttv5", "-d"]
    if username is not None:
        command += ["-u", username]
    if password is not None:
        command += ["-P", password]
    if client_id is not None:
        command += ["-i", client_id]
    return command


@dataclass(frozen=True)
class PubResult:
    returncode: int
    output: str

    def _code(self, packet: str) -> int | None:
        found = re.search(rf"received {packet} \((?:Mid: \d+, RC:)?(\d+)", self.output)
        return None if found is None else int(found[1])

    @property
    def connack(self) -> int | None:
        return self._code("CONNACK")

    @property
    def puback(self) -> int | None:
        return self._code("PUBACK")


def mosquitto_pub(
    settings: Settings,
    username: str | None,
    password: str | None,
    topic: str,
    payload: str,
    *,
    client_id: str | None = None,
    retain: bool = False,
) -> PubResult:
    """Publish once at QoS 1 with MQTT v5 (a refused publish gets PUBACK reason code 135)."""
    command = _cli(settings, "mosquitto_pub", username, password, client_id)
    command += ["-t", topic, "-m", payload, "-q", "1", *(["-r"] if retain else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=15, check=False)
    return PubResult(done.returncode, done.stdout + done.stderr)


class MosquittoSub:
    """`mosquitto_sub` running in the background; its output is collected line by line."""

    def __init__(
        self, settings: Settings, username: str, password: str, filters: list[str]
    ) -> None:
        command = [*_cli(settings, "mosquitto_sub", username, password, None), "-v", "-q", "1"]
        for topic_filter in filters:
            command += ["-t", topic_filter]
        stdbuf = shutil.which("stdbuf")
        self.command = [stdbuf, "-oL", *command] if stdbuf else command
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __enter__(self) -> MosquittoSub:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def __exit__(self, *_: Any) -> None:
        self.process.terminate()
        self.process.wait(5)
        self.reader.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def output(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"mosquitto_sub never printed {text!r}:\n{self.output()}")
            time.sleep(0.02)

    def messages(self) -> list[str]:
        """`topic payload` lines (debug lines start with "Client ")."""
        with self.lock:
            return [line for line in self.lines if line.startswith(("sentinel/", "$SYS/"))]


# --- broker files and the worker log ------------------------------------------------------------


def password_file_users(settings: Settings) -> set[str]:
    text = device_password_file(settings).read_text()
    return {line.split(":", 1)[0] for line in text.splitlines() if line}


def password_file_hash(settings: Settings, username: str) -> str | None:
    for line in device_password_file(settings).read_text().splitlines():
        user, _, hashed = line.partition(":")
        if user == username:
            return hashed
    return None


def broker_reloads(settings: Settings) -> int:
    """How many times the worker has reloaded the broker's credentials so far."""
    return (settings.logs_dir / "worker.log").read_text().count(RELOAD_LOG_LINE)


def _reload_history(settings: Settings, last: int = 8) -> str:
    """The last SIGHUPs the worker sent and the reloads the broker logged, for diagnostics."""
    sent = [
        line
        for line in (settings.logs_dir / "worker.log").read_text().splitlines()
        if RELOAD_LOG_LINE in line
    ]
    done = [
        line
        for line in (settings.logs_dir / "mosquitto.log").read_text().splitlines()
        if "Reloading config" in line
    ]
    return "\n".join([*sent[-last:], *done[-last:]])


def wait_quiet(settings: Settings, quiet: float = 0.6, timeout: float = 10.0) -> int:
    """Wait until no reload happened for `quiet` seconds; returns the reload count."""
    deadline = time.monotonic() + timeout
    count, since = broker_reloads(settings), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError("the broker credential sync never went quiet")
        time.sleep(0.05)
        now = broker_reloads(settings)
        if now != count:
            count, since = now, time.monotonic()
    return count


def wait_accepted(settings: Settings, enrollment: Enrollment, timeout: float = 10.0) -> None:
    """Wait until the broker accepts `enrollment`'s credential (it loads fresh ones on reload)."""
    deadline = time.monotonic() + timeout
    while (refusal := connack(settings, enrollment.username, enrollment.token)).is_failure:
        if time.monotonic() > deadline:
            in_file = enrollment.username in password_file_users(settings)
            raise TimeoutError(
                f"the broker never accepted {enrollment.username} ({refusal}; in the password "
                f"file: {in_file}); the last reloads:\n{_reload_history(settings)}"
            )
        time.sleep(0.1)


def crash_with_will(
    settings: Settings,
    enrollment: Enrollment,
    observer: ServiceObserver,
    will_topic: str,
    will_payload: str,
) -> bool:
    """Connect with a Last Will, then die without DISCONNECT (SIGKILL), so the broker would
    publish the will. Returns whether the connection had been accepted."""
    command = _cli(settings, "mosquitto_pub", enrollment.username, enrollment.token, None)
    command += ["-t", f"{enrollment.prefix}/probe", "-q", "1", "-l"]
    command += ["--will-topic", will_topic, "--will-payload", will_payload, "--will-qos", "1"]
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdin is not None
        alive = marker("alive")
        process.stdin.write(alive + "\n")
        process.stdin.flush()
        try:
            observer.wait_for(alive, timeout=3)
            accepted = True
        except TimeoutError:
            accepted = False
        process.kill()
        process.wait(5)
    return accepted
