"""Background jobs of the action server, started and stopped with it.

A job is a function that runs until the `threading.Event` it is given is set. Which
jobs run is decided by `imago_core.service` (the delivery loop, the daily retention
purge); this module only runs them. Several action-server replicas may run the same
jobs: each must be safe to run concurrently (the delivery loop claims rows
atomically; the purge deletes in short batches what is due, so two purges delete it
once).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[threading.Event], None]
    wanted: Callable[[], bool] = lambda: True  # e.g. no delivery with the local backend


_running: Dict[str, threading.Thread] = {}
_stop = threading.Event()
_lock = threading.Lock()


def start_jobs(jobs: Iterable[Job]) -> List[str]:
    """Starts every wanted job that is not running yet; returns the names running."""
    with _lock:
        _stop.clear()
        for job in jobs:
            thread = _running.get(job.name)
            if (thread is not None and thread.is_alive()) or not job.wanted():
                continue
            thread = threading.Thread(target=job.run, args=(_stop,), name=job.name, daemon=True)
            thread.start()
            _running[job.name] = thread
            logger.info("background job %s started", job.name)
        return sorted(name for name, thread in _running.items() if thread.is_alive())


def stop_jobs(wake: Callable[[], None] = lambda: None, timeout: float = 10.0) -> None:
    """Sets every job's stop event, wakes the sleepers (`wake`), and waits for them."""
    with _lock:
        _stop.set()
        wake()
        for name, thread in list(_running.items()):
            thread.join(timeout)
            if not thread.is_alive():
                del _running[name]
