"""`sentinel-agent enroll | run | status | unenroll`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
from types import FrameType

from sentinel_agent import __version__
from sentinel_agent.enroll import EnrollmentError, enroll
from sentinel_agent.runtime import EXIT_REVOKED, Agent, Revoked
from sentinel_agent.spool import Spool
from sentinel_agent.state import AgentHome


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentinel-agent", description=__doc__)
    parser.add_argument("--home", help="state directory (default: the system location)")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    enroll_cmd = sub.add_parser("enroll", help="join an organization with an enrollment token")
    enroll_cmd.add_argument("--server", required=True, help="e.g. https://sentinel.school.org")
    enroll_cmd.add_argument("--token", required=True, help="the enrollment token")
    enroll_cmd.add_argument("--ca-file", help="CA to trust for enrollment (local deployments)")
    enroll_cmd.add_argument("--hostname", default=socket.gethostname())
    sub.add_parser("run", help="run in the foreground (what the service runs)")
    sub.add_parser("status", help="show enrollment and spool state")
    sub.add_parser("unenroll", help="forget the credential and the spool")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    home = AgentHome(None if args.home is None else __import__("pathlib").Path(args.home))
    if args.command == "enroll":
        try:
            enrollment = enroll(args.server, args.token, home, args.hostname, args.ca_file)
        except EnrollmentError as exc:
            print(f"sentinel-agent: {exc}", file=sys.stderr)
            return 2
        print(f"enrolled as device {enrollment.device_id}")
        return 0
    if not home.enrolled():
        print("sentinel-agent: not enrolled; run `sentinel-agent enroll` first", file=sys.stderr)
        return 2
    if args.command == "status":
        enrollment, _ = home.load()
        spool = Spool(home.spool_file)
        print(
            json.dumps(
                {
                    "server": enrollment.server,
                    "org_id": enrollment.org_id,
                    "device_id": enrollment.device_id,
                    "spooled": spool.pending(),
                    "next_seq": spool.next_seq(),
                },
                indent=2,
            )
        )
        spool.close()
        return 0
    if args.command == "unenroll":
        home.forget()
        print("unenrolled; the device can be removed in the dashboard")
        return 0
    agent = Agent(home)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        agent.stop_event.set()
        agent.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return agent.run()
    except Revoked as exc:
        print(f"sentinel-agent: {exc}; re-enroll with `sentinel-agent enroll`", file=sys.stderr)
        agent.shutdown()
        return EXIT_REVOKED


if __name__ == "__main__":
    raise SystemExit(main())
