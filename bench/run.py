"""Run every benchmark against a private stack and print a table of figures with their
baselines (`.venv/bin/python -m bench.run`). Results go to bench/results/latest.json."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import psutil

from bench import api, connections, enrollment, ingest
from bench.common import bench_stack, write_results

RESULTS = Path(__file__).parent / "results" / "latest.json"


def machine() -> dict[str, Any]:
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with bench_stack() as stack:
        for name, bench in (
            ("ingest", ingest.run),
            ("api", api.run),
            ("connections", connections.run),
            ("enrollment", enrollment.run),  # last: its 100,000-device reload bloats the broker
        ):
            step = time.perf_counter()
            try:
                results[name] = bench(stack)
            except Exception as exc:
                results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
            print(f"{name}: done in {time.perf_counter() - step:.0f}s", flush=True)
    results["total_seconds"] = round(time.perf_counter() - started)
    write_results(results, RESULTS)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
