"""The versioned device message schema (v1) and topic parsing.

Ingest trusts the topic — the broker's ACL guarantees a device can only publish under its own
`sentinel/{org_id}/devices/{device_id}/` — and never an identity inside a payload: a payload
that names another organization or device is rejected.

Whatever validates here can be stored: text never contains NUL characters and numbers are
finite (PostgreSQL refuses both), so a bad value is refused as `invalid_schema` up front instead
of failing a whole batch at write time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

TOPIC = re.compile(
    r"^sentinel/(?P<org>[0-9a-f-]{36})/devices/(?P<device>[0-9a-f-]{36})/"
    r"(?P<kind>telemetry|status|inventory|commands/result)$"
)
MAX_SAMPLES = 500
Pct = Annotated[float, Field(ge=0, le=100)]
Rate = Annotated[float, Field(ge=0, le=1e12)]
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]


def _storable(value: Any) -> Any:
    """Free-form JSON (inventory details): no NUL in any string, no NaN or infinity."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list):
        for item in value:
            _storable(item)
    return value


Details = Annotated[list[dict[Text, Any]], AfterValidator(_storable)]


@dataclass(frozen=True)
class Topic:
    org_id: UUID
    device_id: UUID
    kind: str


def parse_topic(topic: str) -> Topic | None:
    match = TOPIC.match(topic)
    if match is None:
        return None
    try:
        return Topic(UUID(match["org"]), UUID(match["device"]), match["kind"])
    except ValueError:
        return None


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    v: Literal[1]
    # Accepted only so that a mismatch can be detected and refused; never used as identity.
    org_id: UUID | None = None
    device_id: UUID | None = None


class Sample(BaseModel):
    # Every number is bounded (so NaN and infinity fail) except `ts`, whose impossible values
    # (infinity included) are refused per sample as `clock_skew` by the pipeline.
    model_config = ConfigDict(extra="forbid", frozen=True)
    seq: int = Field(ge=0, le=2**62)
    ts: float = Field(gt=0)
    cpu_pct: Pct | None = None
    load1: Annotated[float, Field(ge=0, le=10_000)] | None = None
    mem_pct: Pct | None = None
    swap_pct: Pct | None = None
    disk_pct: Pct | None = None
    disk_read_bps: Rate | None = None
    disk_write_bps: Rate | None = None
    net_rx_bps: Rate | None = None
    net_tx_bps: Rate | None = None
    battery_pct: Pct | None = None
    charging: bool | None = None
    temp_c: Annotated[float, Field(ge=-100, le=200)] | None = None
    uptime_s: Annotated[int, Field(ge=0, le=10**10)] | None = None
    users: Annotated[int, Field(ge=0, le=10_000)] | None = None
    user_names: list[Text] | None = Field(None, max_length=100)
    disks: dict[Text, Pct] | None = Field(None, max_length=64)
    spool_dropped: Annotated[int, Field(ge=0)] | None = None


class TelemetryMessage(Message):
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES)


class StatusMessage(Message):
    state: Literal["online", "offline"]
    agent_version: Text | None = None


class Software(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: Text
    version: Text | None = None
    publisher: Text | None = None


class InventoryMessage(Message):
    hostname: Annotated[str, StringConstraints(max_length=253, pattern=NO_NUL)] | None = None
    os_name: Text | None = None
    os_version: Text | None = None
    os_build: Text | None = None
    agent_version: Text | None = None
    manufacturer: Text | None = None
    model: Text | None = None
    serial: Text | None = None
    cpu_model: Text | None = None
    cpu_cores: Annotated[int, Field(ge=0, le=10_000)] | None = None
    ram_bytes: Annotated[int, Field(ge=0)] | None = None
    disks: Details | None = Field(None, max_length=64)
    network: Details | None = Field(None, max_length=64)
    software: list[Software] | None = Field(None, max_length=10_000)
    boot_time: float | None = None


class CommandResultMessage(Message):
    id: UUID
    status: Literal["done", "failed", "rejected"]
    output: Annotated[str, StringConstraints(max_length=4000)] = ""
    replay: bool = False


SAMPLE_COLUMNS = (
    "cpu_pct",
    "load1",
    "mem_pct",
    "swap_pct",
    "disk_pct",
    "disk_read_bps",
    "disk_write_bps",
    "net_rx_bps",
    "net_tx_bps",
    "battery_pct",
    "charging",
    "temp_c",
    "uptime_s",
    "users",
)


def sample_extra(sample: Sample, keep_user_names: bool) -> dict[str, Any] | None:
    extra: dict[str, Any] = {}
    if sample.disks:
        extra["disks"] = sample.disks
    if keep_user_names and sample.user_names:
        extra["user_names"] = sample.user_names
    if sample.spool_dropped:
        extra["spool_dropped"] = sample.spool_dropped
    return extra or None
