"""The command line of the chaos run: `python -m bench.chaos [--requests 1000]
[--visitors 8] [--kills-each 5] [--json out.json]` starts the stack, the visitors and the
chaos loop, waits for the deliveries and prints the one line (bench/chaos/__init__.py)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

from . import __doc__ as PACKAGE_DOC
from .common import log  # first: puts the repository on sys.path for tests.support
from .killer import Chaos
from .stack import Stack
from .verdict import one_line, verdict, wait_for_deliveries
from .visitors import RestVisitor, SocketVisitor, Tally

from tests.support.rt_server import rt_installed


def main(argv: Optional[List[str]] = None) -> int:
    # prog: the usage line as it was when this was bench/chaos.py (else it would say __main__.py)
    parser = argparse.ArgumentParser(prog="chaos.py", description=PACKAGE_DOC.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=8)
    parser.add_argument("--kills-each", type=int, default=5)
    parser.add_argument("--pause", type=float, default=3.0,
                        help="at least this many seconds between a process being back and the next kill")
    parser.add_argument("--deliver-timeout", type=float, default=1200,
                        help="seconds to wait after the visitors for every ticket and mail to be out")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if not rt_installed():
        print("Request Tracker 5 is not installed: run scripts/install-system-deps.sh as root", file=sys.stderr)
        return 2
    import logging

    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns at every AUTH login
    workdir = Path(tempfile.mkdtemp(prefix="imago-chaos-"))
    log(f"work directory {workdir}")
    stack = Stack(workdir)
    stop = threading.Event()
    try:
        stack.start()
        tally = Tally()
        rest = (args.visitors + 1) // 2
        visitors = [RestVisitor(i, stack, tally, args.requests) if i < rest else SocketVisitor(i, stack, tally,
                                                                                               args.requests)
                    for i in range(args.visitors)]
        chaos = Chaos(stack, args.kills_each, args.pause, stop, lambda: tally.started, args.requests)
        started = time.monotonic()
        threads = [threading.Thread(target=v.run, name=f"visitor-{v.index}", daemon=True) for v in visitors]
        chaos_thread = threading.Thread(target=chaos.run, name="chaos", daemon=True)
        for thread in threads:
            thread.start()
        chaos_thread.start()
        last_report = time.monotonic()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                log(f"progress: {tally.started} conversations, {len(tally.told)} references told, "
                    f"{len(chaos.kills)} kills, {len(tally.lost_places)} lost places, {len(tally.unexpected)} unexpected")
        stop.set()
        chaos_thread.join(timeout=600)
        seconds = time.monotonic() - started
        log("visitors done; every process up; waiting for deliveries and mails ...")
        for part in [stack.postgres, stack.redis, stack.rt, *stack.actions, *stack.rasa]:
            try:
                up = part.ready()
            except Exception:  # noqa: BLE001 - down (a restart the chaos loop could not finish)
                up = False
            if not up:
                log(f"{part.name} is down at the end; starting it")
                part.kill()
                part.start()
                part.wait_ready(400)
        drain_started = time.monotonic()
        pending = wait_for_deliveries(stack, args.deliver_timeout)
        drained_in = time.monotonic() - drain_started
        if pending:
            log(f"{pending} requests still pending delivery or mail after {args.deliver_timeout:.0f} s")
        result = verdict(stack, tally, chaos, args.visitors, rest, seconds)
        result["pending_at_end"] = pending
        result["deliveries_drained_s"] = round(drained_in)
        line = one_line(result)
        print(line, flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0
    finally:
        stop.set()
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
