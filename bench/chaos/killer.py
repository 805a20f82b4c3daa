"""The chaos loop: one process at a time SIGKILLed at random (each kind in turn,
shuffled every round), down for a moment, started again; every kill recorded."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from .common import KINDS, log
from .stack import Stack


@dataclass
class Kill:
    kind: str
    name: str
    at: float
    back_at: Optional[float] = None


class Chaos:
    """Kill k of K falls due when k/(K+1) of the conversations have started (and the
    last victim is back, and `pause` has passed): spread over the run whatever its speed."""

    def __init__(self, stack: Stack, kills_each: int, pause: float, stop: threading.Event,
                 progress: Callable[[], int], total: int):
        self.stack, self.kills_each, self.pause, self.stop = stack, kills_each, pause, stop
        self.progress, self.total = progress, total
        self.kills: List[Kill] = []
        self.errors: List[str] = []

    def run(self) -> None:
        plan = []
        for _ in range(self.kills_each):
            kinds = list(KINDS)
            random.shuffle(kinds)
            plan += kinds
        for number, kind in enumerate(plan, start=1):
            if self.stop.wait(self.pause):
                return
            due = self.total * number / (len(plan) + 1)
            while self.progress() < due:
                if self.stop.wait(0.5):
                    return
            victim = random.choice(self.stack.processes()[kind])
            kill = Kill(kind, victim.name, time.monotonic())
            victim.up = False
            log(f"chaos: SIGKILL {victim.name}")
            victim.kill()
            self.kills.append(kill)
            time.sleep(random.uniform(1.0, 3.0))  # down for a moment, as a crash-looping pod is
            try:
                victim.start()
                victim.wait_ready(400)
            except Exception as exc:  # noqa: BLE001 - reported; the run goes on with what is left
                self.errors.append(f"{victim.name} did not come back: {exc}")
                log(f"chaos: {victim.name} did not come back: {exc}")
                continue
            victim.up = True
            kill.back_at = time.monotonic()
            log(f"chaos: {victim.name} back after {kill.back_at - kill.at:.1f} s")

