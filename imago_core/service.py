"""The assistant's parts put together: the one module that knows every domain.

The domains never call each other sideways to make the whole work; this module
wires them, and the entry points use it: the action server's plugin
(rasa_sdk_plugins/) starts the background jobs, and the staff CLI delivers.
Importing it registers the outbox kinds (requests, escalations), so whoever
delivers, delivers both.
"""
from __future__ import annotations

import threading
from typing import List

from imago_core.delivery import jobs, loop
from imago_core.delivery.jobs import Job
from imago_core.handoff import tickets as _escalation_tickets  # noqa: F401 - registers escalations
from imago_core.requests import confirmation, retention
from imago_core.requests import tickets as _request_tickets  # noqa: F401 - registers requests
from imago_core.settings import get_settings


def _delivery_loop(stop: threading.Event) -> None:
    loop.run_forever(stop=stop)


def _delivery_wanted() -> bool:
    return get_settings().ticket_backend != "local"


def _retention_purge(stop: threading.Event) -> None:
    retention.run_daily(stop)


def _confirmation_mails(stop: threading.Event) -> None:
    confirmation.run_forever(stop)


JOBS: List[Job] = [
    Job("ticket-delivery", _delivery_loop, _delivery_wanted),
    # Confirmation mails a crash left unsent (the filing action sends them at once).
    Job("confirmation-mails", _confirmation_mails),
    Job("retention-purge", _retention_purge),
]


def start_background_jobs() -> List[str]:
    """Starts every wanted job that is not running yet; returns the names running."""
    get_settings()  # a bad setting (REQUEST_RETENTION_DAYS < 45) stops the server here, not in a thread
    return jobs.start_jobs(JOBS)


def stop_background_jobs(timeout: float = 10.0) -> None:
    jobs.stop_jobs(wake=loop.kick, timeout=timeout)  # the delivery loop sleeps on its wake-up event
