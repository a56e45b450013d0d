"""A test device that keeps its samples the way the real agent does: every sample stays in an
in-memory spool until a receipt lists it as stored (or refused for good), and whatever is still
unreceipted is resent, with its original `seq` and `ts`, after every reconnect and whenever it
has waited longer than `resend_after` seconds."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.ingest.receipts import expand
from tests.fleet import DeviceClient

RESEND_CHUNK = 100


@dataclass
class SpoolingDevice(DeviceClient):
    resend_after: float = 3.0
    produced: dict[int, dict[str, Any]] = field(default_factory=dict)
    spool: dict[int, dict[str, Any]] = field(default_factory=dict)
    sent_at: dict[int, float] = field(default_factory=dict)
    receipted: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    resent_after_reconnect: int = 0
    resent_after_timeout: int = 0
    published_messages: int = 0
    connects: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.reconnected = threading.Event()
        self.client.reconnect_delay_set(1, 2)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        super()._on_connect(client, userdata, flags, rc, props)  # subscribes to receipts
        if not rc.is_failure:
            self.connects += 1
            if self.connects > 1:
                self.reconnected.set()  # the spool is resent by the driving thread

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if not message.topic.endswith("/receipts"):
            return
        receipt = json.loads(message.payload)
        stored, refused = expand(receipt["stored"]), expand(receipt["rejected"])
        with self.lock:
            self.receipts.append(receipt)
            for seq in stored:
                self.receipted.add(seq)
                self.spool.pop(seq, None)
            for seq in refused:
                self.refused.add(seq)
                self.spool.pop(seq, None)

    def _send(self, samples: list[dict[str, Any]]) -> None:
        """Publish without waiting: while the broker is down paho queues the message."""
        payload = json.dumps({"v": 1, "samples": samples}, separators=(",", ":"))
        self.client.publish(f"{self.enrollment.prefix}/telemetry", payload, qos=1)
        self.published_messages += 1

    def produce(self, seqs: range) -> None:
        """Take new samples (timestamped now), spool them and send them once."""
        now = time.time()
        samples = [
            {"seq": seq, "ts": round(now - 0.001 * (len(seqs) - i), 6), **sample_metrics(seq)}
            for i, seq in enumerate(seqs)
        ]
        with self.lock:
            for sample in samples:
                self.produced[sample["seq"]] = sample
                self.spool[sample["seq"]] = sample
                self.sent_at[sample["seq"]] = time.monotonic()
        self._send(samples)

    def resend_unreceipted(self) -> int:
        """Resend everything unreceipted after a reconnect, else what has waited too long."""
        everything = self.reconnected.is_set()
        self.reconnected.clear()
        now = time.monotonic()
        with self.lock:
            due = [
                sample
                for seq, sample in sorted(self.spool.items())
                if everything or now - self.sent_at[seq] >= self.resend_after
            ]
            for sample in due:
                self.sent_at[sample["seq"]] = now
        for start in range(0, len(due), RESEND_CHUNK):
            self._send(due[start : start + RESEND_CHUNK])
        if everything:
            self.resent_after_reconnect += len(due)
        else:
            self.resent_after_timeout += len(due)
        return len(due)

    def replay(self, seqs: range) -> None:
        """Send already receipted samples again, as an agent whose receipt was lost would."""
        with self.lock:
            samples = [self.produced[seq] for seq in seqs]
        self._send(samples)

    def unreceipted(self) -> int:
        with self.lock:
            return len(self.spool)


def sample_metrics(seq: int) -> dict[str, Any]:
    """Deterministic values per sequence number, so a stored row can be checked exactly."""
    return {"cpu_pct": float(seq % 100), "mem_pct": float((seq * 7) % 100)}
