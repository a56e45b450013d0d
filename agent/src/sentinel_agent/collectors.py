"""What the agent measures, with psutil and OS facilities.

Every collector degrades gracefully: a metric the platform cannot provide is simply absent,
and a collector that fails never stops the agent. User names are collected only when the
organization enables it; nothing that reveals content (keystrokes, screens, files, browsing)
is ever collected.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from sentinel_agent import __version__

IGNORED_FS = {"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "tracefs"}


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


class RateTracker:
    """Turns cumulative counters (bytes read, bytes received) into per-second rates."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def rate(self, name: str, total: float | None, now: float) -> float | None:
        if total is None:
            return None
        previous = self._last.get(name)
        self._last[name] = (now, total)
        if previous is None or now <= previous[0] or total < previous[1]:
            return None
        return (total - previous[1]) / (now - previous[0])


def _volumes() -> dict[str, float]:
    volumes: dict[str, float] = {}
    for part in psutil.disk_partitions(all=False):
        if part.fstype in IGNORED_FS or part.mountpoint.startswith(("/snap", "/boot/efi")):
            continue
        usage = _safe(partial(psutil.disk_usage, part.mountpoint))
        if usage is not None and usage.total > 0:
            volumes[part.mountpoint[:200]] = round(usage.percent, 1)
    return dict(list(volumes.items())[:64])


def _temperature() -> float | None:
    sensors = getattr(psutil, "sensors_temperatures", None)
    if sensors is None:
        return None
    readings = [t.current for group in (sensors() or {}).values() for t in group if t.current]
    return round(max(readings), 1) if readings else None


class Collector:
    def __init__(self) -> None:
        self.rates = RateTracker()
        psutil.cpu_percent(interval=None)  # prime: the first reading is meaningless

    def sample(self, collect_user_names: bool = False) -> dict[str, Any]:
        now = time.time()
        sample: dict[str, Any] = {}
        sample["cpu_pct"] = _safe(lambda: round(psutil.cpu_percent(interval=None), 1))
        sample["load1"] = _safe(lambda: round(os.getloadavg()[0], 2))
        sample["mem_pct"] = _safe(lambda: round(psutil.virtual_memory().percent, 1))
        sample["swap_pct"] = _safe(lambda: round(psutil.swap_memory().percent, 1))
        disks = _safe(_volumes) or {}
        if disks:
            sample["disks"] = disks
            sample["disk_pct"] = max(disks.values())
        io = _safe(psutil.disk_io_counters)
        sample["disk_read_bps"] = self.rates.rate("read", io and io.read_bytes, now)
        sample["disk_write_bps"] = self.rates.rate("write", io and io.write_bytes, now)
        net = _safe(psutil.net_io_counters)
        sample["net_rx_bps"] = self.rates.rate("rx", net and net.bytes_recv, now)
        sample["net_tx_bps"] = self.rates.rate("tx", net and net.bytes_sent, now)
        battery = _safe(psutil.sensors_battery)
        if battery is not None:
            sample["battery_pct"] = round(battery.percent, 1)
            sample["charging"] = bool(battery.power_plugged)
        sample["temp_c"] = _safe(_temperature)
        sample["uptime_s"] = _safe(lambda: int(now - psutil.boot_time()))
        users = _safe(psutil.users) or []
        sample["users"] = len({u.name for u in users})
        if collect_user_names:
            sample["user_names"] = sorted({u.name[:200] for u in users})[:100]
        return {k: v for k, v in sample.items() if v is not None}


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError):
        value = Path(path).read_text().strip()
        return value[:200] or None
    return None


def _linux_software() -> list[dict[str, str]]:
    for command in (
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"],
        ["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"],
    ):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
            rows = [line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line]
            return [{"name": n[:200], "version": v[:200]} for n, v in rows][:10_000]
    return []


def _windows_software() -> list[dict[str, str]]:  # pragma: no cover - Windows only
    if sys.platform != "win32":
        return []
    import winreg

    found: dict[str, dict[str, str]] = {}
    roots = [
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
    ]
    for root in roots:
        with contextlib.suppress(OSError), winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, root) as key:
            for i in range(winreg.QueryInfoKey(key)[0]):
                with (
                    contextlib.suppress(OSError),
                    winreg.OpenKey(key, winreg.EnumKey(key, i)) as app,
                ):
                    name = str(winreg.QueryValueEx(app, "DisplayName")[0])[:200]
                    entry = {"name": name}
                    with contextlib.suppress(OSError):
                        entry["version"] = str(winreg.QueryValueEx(app, "DisplayVersion")[0])[:200]
                    with contextlib.suppress(OSError):
                        entry["publisher"] = str(winreg.QueryValueEx(app, "Publisher")[0])[:200]
                    found[name] = entry
    return list(found.values())[:10_000]


def _macos_software() -> list[dict[str, str]]:  # pragma: no cover - macOS only
    apps = sorted(p.stem for p in Path("/Applications").glob("*.app"))
    return [{"name": name[:200]} for name in apps][:10_000]


def installed_software() -> list[dict[str, str]]:
    if sys.platform.startswith("linux"):
        return _linux_software()
    if sys.platform == "win32":
        return _windows_software()
    if sys.platform == "darwin":
        return _macos_software()
    return []


def _network(collect_ip_addresses: bool) -> list[dict[str, Any]]:
    interfaces = []
    for name, addresses in list((psutil.net_if_addrs() or {}).items())[:64]:
        if name == "lo":
            continue
        entry: dict[str, Any] = {"name": name[:100]}
        for addr in addresses:
            if addr.family == psutil.AF_LINK:
                entry["mac"] = addr.address
            elif collect_ip_addresses and addr.family in (socket.AF_INET, socket.AF_INET6):
                entry.setdefault("ips", []).append(addr.address.split("%")[0])
        interfaces.append(entry)
    return interfaces


def inventory(collect_ip_addresses: bool = True) -> dict[str, Any]:
    uname = platform.uname()
    os_name, os_version = uname.system, uname.release
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            info = dict(
                line.split("=", 1)
                for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line
            )
            os_name = info.get("NAME", os_name).strip('"')
            os_version = info.get("VERSION_ID", os_version).strip('"')
    memory = _safe(psutil.virtual_memory)
    disks = []
    for part in _safe(lambda: psutil.disk_partitions(all=False)) or []:
        usage = _safe(partial(psutil.disk_usage, part.mountpoint))
        if usage is not None and part.fstype not in IGNORED_FS:
            disks.append(
                {
                    "mount": part.mountpoint[:200],
                    "fstype": part.fstype[:50],
                    "total_bytes": usage.total,
                }
            )
    result: dict[str, Any] = {
        "hostname": socket.gethostname()[:253],
        "os_name": os_name[:200],
        "os_version": os_version[:200],
        "os_build": uname.version[:200],
        "agent_version": __version__,
        "manufacturer": _read("/sys/class/dmi/id/sys_vendor"),
        "model": _read("/sys/class/dmi/id/product_name"),
        "serial": _read("/sys/class/dmi/id/product_serial"),
        "cpu_model": (platform.processor() or _cpu_model() or "")[:200] or None,
        "cpu_cores": psutil.cpu_count(logical=True),
        "ram_bytes": memory.total if memory else None,
        "disks": disks[:64],
        "network": _safe(lambda: _network(collect_ip_addresses)) or [],
        "software": _safe(installed_software) or [],
        "boot_time": _safe(psutil.boot_time),
    }
    return {k: v for k, v in result.items() if v is not None}


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None
