"""The `sentinel` command: run the local stack and Sentinel's own processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import psutil
import typer
from rich.console import Console
from rich.table import Table

from sentinel.api.problems import Problem
from sentinel.config import Settings
from sentinel.logging import configure_logging
from sentinel.stack.component import StackError
from sentinel.stack.files import write_atomic
from sentinel.stack.launcher import Stack, read_state
from sentinel.stack.sentinel_processes import settings_env

app = typer.Typer(
    help="Sentinel: device monitoring for schools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where all state lives (default ./var, or SENTINEL_DATA_DIR)."),
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]sentinel:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command()
def up(
    data_dir: DataDir = None,
    detach: Annotated[bool, typer.Option(help="Return once everything is ready.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --detach.")] = 180,
    demo: Annotated[
        bool, typer.Option(help="Also create a demo organization and run a simulated fleet in it.")
    ] = False,
    demo_devices: Annotated[int, typer.Option(min=1, max=2000)] = 25,
) -> None:
    """Start the whole local stack: PostgreSQL, Redis, Mosquitto, API, worker and Caddy."""
    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_json, "supervisor")
    if detach:
        _up_detached(settings, timeout, demo, demo_devices)
        return
    stack = Stack(settings, echo=lambda line: print(line, flush=True))
    stopping = threading.Event()

    def request_stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
        if demo:
            _start_demo(stack, demo_devices)
    except StackError as exc:
        stack.stop()
        raise _fail(str(exc)) from None
    stack.write_state(os.getpid())
    print(f"Sentinel is ready at {settings.public_url} (CA: {settings.ca_cert_path})", flush=True)
    while not stopping.wait(0.5):
        failed = stack.first_failed()
        if failed is not None:
            console.print(
                f"[red]sentinel:[/red] {failed.name} exited; stopping the stack "
                f"(see {failed.log_path})"
            )
            break
    stack.stop()
    print("Sentinel stopped.", flush=True)


DEMO_INTERVAL = 10
DETACHED_ENV = "SENTINEL_DETACHED"


def _demo_note(settings: Settings) -> Path:
    return settings.run_dir / "demo-login"


def _start_demo(stack: Stack, devices: int) -> None:
    from sentinel.demo import ensure_demo
    from sentinel.stack.sentinel_processes import Simulator
    from sentinel.sync import run_sync

    demo = run_sync(ensure_demo(stack.settings, DEMO_INTERVAL))
    if demo.password is not None:
        message = (
            f"Demo organization created. Sign in at {stack.settings.public_url} as "
            f"{demo.email} with password {demo.password} (shown only this once)."
        )
    else:
        message = f"Demo organization: sign in as {demo.email} (password shown on first start)."
    if os.environ.get(DETACHED_ENV):
        # Detached output goes to a log file; the password must not. The waiting parent
        # prints this file's line and deletes it.
        write_atomic(_demo_note(stack.settings), message, mode=0o600)
    else:
        print(message, flush=True)
    stack.add(Simulator(stack.settings, str(demo.org_id), devices, DEMO_INTERVAL))


def _up_detached(settings: Settings, timeout: float, demo: bool, demo_devices: int) -> None:
    stack = Stack(settings)
    state = read_state(stack.state_file)
    if state and psutil.pid_exists(state["supervisor_pid"]):
        raise _fail(f"already running (supervisor pid {state['supervisor_pid']})")
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / "supervisor.log"
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sentinel",
                "up",
                *(["--demo", "--demo-devices", str(demo_devices)] if demo else []),
            ],
            env={**settings_env(settings), DETACHED_ENV: "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(stack.state_file)
        if state and state.get("supervisor_pid") == child.pid:
            note = _demo_note(settings)
            if note.exists():
                print(note.read_text())
                note.unlink()
            print(f"Sentinel is ready at {settings.public_url} (CA: {settings.ca_cert_path})")
            return
        if child.poll() is not None:
            raise _fail(_last_error(log_path))
        time.sleep(0.3)
    child.terminate()
    raise _fail(f"not ready after {timeout:.0f}s; see {log_path}")


def _last_error(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").strip().splitlines()
    errors = [line for line in lines if line.startswith("sentinel: ")]
    return errors[-1].removeprefix("sentinel: ") if errors else f"start failed; see {log_path}"


@app.command()
def down(data_dir: DataDir = None, timeout: float = 60) -> None:
    """Stop a detached stack."""
    settings = _settings(data_dir)
    stack = Stack(settings)
    state = read_state(stack.state_file)
    if state is None:
        console.print("Sentinel is not running.")
        return
    pids = [state["supervisor_pid"]] + [
        info["pid"] for info in state["components"].values() if info.get("pid")
    ]
    with contextlib.suppress(ProcessLookupError):
        os.kill(state["supervisor_pid"], signal.SIGTERM)
    _, alive = psutil.wait_procs(_existing(pids[:1]), timeout=timeout)
    for proc in alive + _existing(pids[1:]):
        proc.kill()
    stack.state_file.unlink(missing_ok=True)
    console.print("Sentinel stopped.")


def _existing(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append(psutil.Process(pid))
    return found


@app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show every component with its address, pid and health."""
    settings = _settings(data_dir)
    configure_logging("error")
    stack = Stack(settings)
    components = [c.as_dict() for c in stack.status()]
    healthy = all(c["healthy"] for c in components)
    if as_json:
        print(
            json.dumps(
                {
                    "healthy": healthy,
                    "url": settings.public_url,
                    "ca_cert": str(settings.ca_cert_path),
                    "components": components,
                },
                indent=2,
            )
        )
    else:
        table = Table("component", "address", "pid", "health")
        for c in components:
            table.add_row(
                c["name"],
                c["address"],
                str(c["pid"] or "-"),
                "ok" if c["healthy"] else f"[red]{c['detail']}[/red]",
            )
        Console().print(table)
        Console().print(f"URL: {settings.public_url}  CA: {settings.ca_cert_path}")
    if not healthy:
        raise typer.Exit(1)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Upgrade the control schema and every organization's schema (stack must be running)."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from sentinel.db.migrate import migrate_everything
    from sentinel.stack.secrets import load_secrets

    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_json, "migrate")
    load_secrets(settings.secrets_dir)
    with Progress(
        TextColumn("tenant schemas"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("migrate", total=None)
        report = asyncio.run(
            migrate_everything(
                settings,
                on_start=lambda total: progress.update(task, total=total),
                on_done=lambda _result: progress.advance(task),
            )
        )
    console.print(
        f"control: {report.control_applied} migration(s) applied; "
        f"tenants: {len(report.tenants)} checked, "
        f"{sum(t.applied for t in report.tenants)} migration(s) applied"
    )
    for failed in report.failed:
        console.print(f"[red]{failed.schema}: {failed.error}[/red]", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def simulate(
    org: Annotated[str, typer.Option(help="The organization id to fill with virtual devices.")],
    devices: Annotated[int, typer.Option(min=1, max=20_000)] = 25,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between samples.")] = 10.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default: forever).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run a simulated fleet against the running stack (Ctrl-C stops it)."""
    import asyncio
    from uuid import UUID

    from sentinel.simulator.enrollment import enroll_fleet
    from sentinel.simulator.fleet import Fleet, summary
    from sentinel.stack.secrets import load_secrets

    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_json, "simulator")
    load_secrets(settings.secrets_dir)
    try:
        org_id = UUID(org)
    except ValueError:
        raise _fail(f"--org must be an organization id, not {org!r}") from None
    try:
        credentials = asyncio.run(enroll_fleet(settings, org_id, devices))
    except Problem as exc:
        raise _fail(f"{exc.detail}") from None
    fleet = Fleet(
        credentials, "localhost", settings.mqtts_port, str(settings.ca_cert_path), interval
    )
    signal.signal(signal.SIGTERM, lambda *_: fleet.stop.set())
    signal.signal(signal.SIGINT, lambda *_: fleet.stop.set())
    console.print(f"simulating {len(credentials)} devices every {interval:g}s", highlight=False)
    stats = fleet.run(duration)
    result = summary(stats, fleet.pending())
    fleet.close()
    print(json.dumps(result), flush=True)
    if duration is not None and result["pending"]:
        raise typer.Exit(1)


@app.command()
def export(
    org: Annotated[str, typer.Option(help="The organization to export.")],
    output: Annotated[Path, typer.Option(help="Where to write the .zip archive.")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Telemetry of the last N days.")] = 30,
    data_dir: DataDir = None,
) -> None:
    """Export all of an organization's data (operator command; audit-logged)."""
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn

    from sentinel.operator import export_org

    settings = _operator(data_dir)
    with Progress(TextColumn("exporting"), BarColumn(), console=console) as progress:
        task = progress.add_task("export", total=1.0)

        async def report(value: float) -> None:
            progress.update(task, completed=value)

        try:
            manifest = asyncio.run(
                export_org(settings, _uuid(org, "--org"), output.absolute(), days, report)
            )
        except LookupError as exc:
            raise _fail(str(exc)) from None
    rows = sum(f["rows"] for name, f in manifest["files"].items() if name.endswith(".jsonl"))
    console.print(f"wrote {output} ({rows} rows in {len(manifest['files'])} files)")


@app.command("move-org")
def move_org(
    org: Annotated[str, typer.Option(help="The organization to move.")],
    to: Annotated[str, typer.Option(help="The target shard (see SENTINEL_EXTRA_SHARDS).")],
    data_dir: DataDir = None,
) -> None:
    """Move an organization's data to another PostgreSQL shard without losing any."""
    import asyncio

    from sentinel.orgs.moving import MoveError
    from sentinel.orgs.moving import move_org as run_move

    settings = _operator(data_dir)
    try:
        result = asyncio.run(run_move(settings, _uuid(org, "--org"), to, console.print))
    except MoveError as exc:
        raise _fail(str(exc)) from None
    print(json.dumps(result))


devices_app = typer.Typer(help="Operator commands for devices.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")


def _operator(data_dir: Path | None) -> Settings:
    from sentinel.stack.secrets import load_secrets

    settings = _settings(data_dir)
    configure_logging("warning")
    load_secrets(settings.secrets_dir)
    return settings


def _uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise _fail(f"{what} must be an id, not {value!r}") from None


@devices_app.command("list")
def devices_list(org: Annotated[str, typer.Option()], data_dir: DataDir = None) -> None:
    """List an organization's devices as JSON lines."""
    import asyncio

    from sentinel.operator import list_devices

    settings = _operator(data_dir)
    try:
        rows = asyncio.run(list_devices(settings, _uuid(org, "--org")))
    except LookupError as exc:
        raise _fail(str(exc)) from None
    for row in rows:
        print(json.dumps(row, default=str))


@devices_app.command("revoke")
def devices_revoke(
    org: Annotated[str, typer.Option()],
    device: Annotated[str, typer.Option()],
    data_dir: DataDir = None,
) -> None:
    """Revoke a device's credential; the broker cuts it off within seconds."""
    import asyncio

    from sentinel.operator import revoke_device

    settings = _operator(data_dir)
    try:
        found = asyncio.run(revoke_device(settings, _uuid(org, "--org"), _uuid(device, "--device")))
    except LookupError as exc:
        raise _fail(str(exc)) from None
    if not found:
        raise _fail(f"no organization {org}")
    console.print(f"device {device} revoked")


billing_app = typer.Typer(help="Operator commands for invoice billing.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")
Day = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])]


@billing_app.command("set-plan")
def billing_set_plan(
    org: Annotated[str, typer.Option()],
    plan: Annotated[str, typer.Option()],
    seats: Annotated[int | None, typer.Option(min=0)] = None,
    period_start: Day = None,
    period_end: Day = None,
    data_dir: DataDir = None,
) -> None:
    """Set an organization's plan, seats and billing period (purchase order / invoice)."""
    import asyncio

    from sentinel.billing.operator import as_json, set_plan

    settings = _operator(data_dir)
    try:
        summary = asyncio.run(
            set_plan(settings, _uuid(org, "--org"), plan, seats, period_start, period_end)
        )
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc)) from None
    print(as_json(summary))


@billing_app.command("show")
def billing_show(org: Annotated[str, typer.Option()], data_dir: DataDir = None) -> None:
    """An organization's plan, seats in use, period and grace deadline."""
    import asyncio

    from sentinel.billing.operator import as_json, show

    try:
        print(as_json(asyncio.run(show(_operator(data_dir), _uuid(org, "--org")))))
    except LookupError as exc:
        raise _fail(str(exc)) from None


@billing_app.command("assign-default")
def billing_assign_default(data_dir: DataDir = None) -> None:
    """Place every organization that has no plan yet on the default plan."""
    import asyncio

    from sentinel.billing.operator import assign_default_plan

    print(json.dumps(asyncio.run(assign_default_plan(_operator(data_dir)))))


@app.command("broker-sync")
def broker_sync(data_dir: DataDir = None) -> None:
    """Rewrite the broker's password file from the database now (the worker does this too)."""
    import asyncio

    from sentinel.operator import reconcile_broker

    changed = asyncio.run(reconcile_broker(_operator(data_dir)))
    console.print("broker credentials updated" if changed else "broker credentials already current")


@app.command("ingest-stats")
def ingest_stats(data_dir: DataDir = None) -> None:
    """Ingest counters summed over every ingest process: stored, duplicates, rejections."""
    import asyncio

    from sentinel.operator import ingest_stats as read_stats

    print(json.dumps(asyncio.run(read_stats(_operator(data_dir))), indent=2))


@app.command("serve-api", hidden=True)
def serve_api(port: Annotated[int | None, typer.Option(min=1, max=65535)] = None) -> None:
    """Run the API server (started by `sentinel up`)."""
    import uvicorn

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, "api")
    from sentinel.stack.secrets import load_secrets

    load_secrets(settings.secrets_dir)  # registers secret values for log masking
    uvicorn.run(
        "sentinel.api.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port or settings.api_port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        access_log=False,
        log_config=None,
        server_header=False,
    )


@app.command("serve-worker", hidden=True)
def serve_worker() -> None:
    """Run the background worker (started by `sentinel up`)."""
    import asyncio

    from sentinel.stack.secrets import load_secrets
    from sentinel.worker.main import run_worker

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, "worker")
    load_secrets(settings.secrets_dir)
    asyncio.run(run_worker(settings))


@app.command("serve-ingest", hidden=True)
def serve_ingest(index: Annotated[int, typer.Option(min=0)] = 0) -> None:
    """Run one ingest process (started by `sentinel up`)."""
    import asyncio

    from sentinel.ingest.main import run_ingest
    from sentinel.stack.secrets import load_secrets

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, f"ingest-{index}")
    load_secrets(settings.secrets_dir)
    asyncio.run(run_ingest(settings, index))


def main() -> None:
    app()
