"""Realistic-looking device behaviour: school-day load, laptop batteries draining and charging,
disks slowly filling, and devices that go offline for a while and come back."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SYSTEMS = (
    ("Windows", "11", "Dell", "Latitude 3440"),
    ("ChromeOS", "124", "Acer", "Chromebook 311"),
    ("Windows", "10", "HP", "ProDesk 400 G7"),
    ("macOS", "14.5", "Apple", "MacBook Air"),
    ("Ubuntu", "22.04", "Lenovo", "ThinkCentre M70q"),
)
SOFTWARE = (("Firefox", "126.0"), ("LibreOffice", "7.6"), ("Scratch", "3.29"))


@dataclass
class DeviceModel:
    rng: random.Random
    laptop: bool
    disk_pct: float = field(default=0.0)
    battery: float = field(default=100.0)
    plugged: bool = field(default=True)
    base_mem: float = field(default=40.0)
    uptime_s: int = field(default=0)

    @classmethod
    def create(cls, seed: int) -> DeviceModel:
        rng = random.Random(seed)  # noqa: S311 - simulation, not cryptography
        model = cls(rng=rng, laptop=rng.random() < 0.6)
        model.disk_pct = rng.uniform(20, 85)
        model.battery = rng.uniform(30, 100)
        model.plugged = rng.random() < 0.5
        model.base_mem = rng.uniform(25, 60)
        model.uptime_s = rng.randint(600, 7 * 86400)
        return model

    def inventory(self, index: int) -> dict[str, Any]:
        """A plausible school computer: the mix of systems a district actually runs."""
        os_name, os_version, maker, model = SYSTEMS[index % len(SYSTEMS)]
        return {
            "hostname": f"sim-{index:05d}",
            "os_name": os_name,
            "os_version": os_version,
            "agent_version": "sim",
            "manufacturer": maker,
            "model": model,
            "cpu_cores": self.rng.choice((2, 4, 8)),
            "ram_bytes": self.rng.choice((4, 8, 16)) * 2**30,
            "software": [{"name": name, "version": version} for name, version in SOFTWARE],
        }

    def school_load(self, now: datetime) -> float:
        """0..1: busy during lessons on weekdays, quiet at night and at weekends."""
        if now.weekday() >= 5:
            return 0.05
        hour = now.hour + now.minute / 60
        return max(0.05, math.sin(math.pi * (hour - 7.5) / 8.0)) if 7.5 <= hour <= 15.5 else 0.05

    def sample(self, now: datetime, interval: float) -> dict[str, Any]:
        rng = self.rng
        load = self.school_load(now)
        cpu = min(100.0, max(0.5, rng.gauss(8 + 70 * load, 8)))
        self.disk_pct = min(99.5, self.disk_pct + rng.uniform(0, 0.0005) * interval)
        self.uptime_s += int(interval)
        sample: dict[str, Any] = {
            "cpu_pct": round(cpu, 1),
            "load1": round(cpu / 25, 2),
            "mem_pct": round(min(99.0, max(5.0, rng.gauss(self.base_mem + 25 * load, 5))), 1),
            "swap_pct": round(max(0.0, rng.gauss(2, 1)), 1),
            "disk_pct": round(self.disk_pct, 1),
            "disk_read_bps": round(max(0.0, rng.gauss(2e5 + 2e6 * load, 1e5))),
            "disk_write_bps": round(max(0.0, rng.gauss(1e5 + 1e6 * load, 5e4))),
            "net_rx_bps": round(max(0.0, rng.gauss(5e4 + 3e6 * load, 2e5))),
            "net_tx_bps": round(max(0.0, rng.gauss(2e4 + 5e5 * load, 5e4))),
            "temp_c": round(rng.gauss(40 + 30 * load, 3), 1),
            "uptime_s": self.uptime_s,
            "users": 1 if load > 0.2 else 0,
        }
        if self.laptop:
            if self.plugged:
                self.battery = min(100.0, self.battery + 0.02 * interval)
                if self.battery >= 99 and rng.random() < 0.01:
                    self.plugged = False
            else:
                self.battery = max(0.0, self.battery - (0.003 + 0.01 * load) * interval)
                if self.battery < 15 and rng.random() < 0.05:
                    self.plugged = True
            sample["battery_pct"] = round(self.battery, 1)
            sample["charging"] = self.plugged
        return sample
