"""Background work of the action server, started and stopped with it.

rasa_sdk calls the `attach_sanic_app_extensions` hook of the `rasa_sdk_plugins`
package when the action server starts (rasa_sdk/plugin.py; actions/server.py attaches
the plugins to the app it builds); ours (rasa_sdk_plugins/__init__.py) registers
`start_background_jobs` and `stop_background_jobs` as the server's start and stop
listeners. So the work runs from the moment the server is up, not from the first
action that happens to need it.

A job is a function that runs until the `threading.Event` it is given is set. To add
one, append a `Job` to `JOBS`. Several action-server replicas may run the same jobs:
each must be safe to run concurrently (the delivery loop claims rows atomically; the
purge deletes in short batches what is due, so two purges delete it once).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[threading.Event], None]
    wanted: Callable[[], bool] = lambda: True  # e.g. no delivery with the local backend


def _delivery_loop(stop: threading.Event) -> None:
    from imago_core.delivery import run_forever

    run_forever(stop=stop)


def _delivery_wanted() -> bool:
    from imago_core.settings import get_settings

    return get_settings().ticket_backend != "local"


def _retention_purge(stop: threading.Event) -> None:
    from imago_core.retention import run_daily

    run_daily(stop)


def _zendesk_check(stop: threading.Event) -> None:
    from imago_core.tickets.zendesk_health import run_daily

    run_daily(stop)


def _zendesk_wanted() -> bool:
    from imago_core.settings import get_settings

    return get_settings().ticket_backend == "zendesk"


JOBS: List[Job] = [
    Job("ticket-delivery", _delivery_loop, _delivery_wanted),
    Job("retention-purge", _retention_purge),
    # Credentials that lapse unused are found at start and daily, not by the next request.
    Job("zendesk-credentials-check", _zendesk_check, _zendesk_wanted),
]

_running: Dict[str, threading.Thread] = {}
_stop = threading.Event()
_lock = threading.Lock()


def start_background_jobs() -> List[str]:
    """Starts every wanted job that is not running yet; returns the names running."""
    from imago_core.settings import get_settings

    get_settings()  # a bad setting (REQUEST_RETENTION_DAYS < 45) stops the server here, not in a thread
    with _lock:
        _stop.clear()
        for job in JOBS:
            thread = _running.get(job.name)
            if (thread is not None and thread.is_alive()) or not job.wanted():
                continue
            thread = threading.Thread(target=job.run, args=(_stop,), name=job.name, daemon=True)
            thread.start()
            _running[job.name] = thread
            logger.info("background job %s started", job.name)
        return sorted(name for name, thread in _running.items() if thread.is_alive())


def stop_background_jobs(timeout: float = 10.0) -> None:
    from imago_core.delivery import kick

    with _lock:
        _stop.set()
        kick()  # the delivery loop sleeps on its wake-up event
        for name, thread in list(_running.items()):
            thread.join(timeout)
            if not thread.is_alive():
                del _running[name]
