"""The assistant's parts put together: the one module that knows every domain.

The domains never call each other sideways to make the whole work; this module
wires them, and the entry points use it: the action server's plugin
(rasa_sdk_plugins/) starts the background jobs, and the staff CLI delivers.
Importing it registers the outbox kinds (requests, escalations), so whoever
delivers, delivers both.
"""
from __future__ import annotations

import logging
import threading
from typing import List

from imago_core.delivery import jobs, loop
from imago_core.delivery.jobs import Job
from imago_core.delivery.tickets import zendesk_health
from imago_core.handoff import tickets as _escalation_tickets  # noqa: F401 - registers escalations
from imago_core.requests import confirmation, notices, retention, ticket_sync, waiting
from imago_core.requests import tickets as _request_tickets  # noqa: F401 - registers requests
from imago_core.requests.clocks import regimes_from_setting
from imago_core.settings import get_settings
from imago_core.storage.conversations import tracker_store_url

logger = logging.getLogger(__name__)


def _delivery_loop(stop: threading.Event) -> None:
    loop.run_forever(stop=stop)


def _delivery_wanted() -> bool:
    return get_settings().ticket_backend != "local"


def _retention_purge(stop: threading.Event) -> None:
    retention.run_daily(stop)


def _zendesk_check(stop: threading.Event) -> None:
    zendesk_health.run_daily(stop)


def _zendesk_wanted() -> bool:
    return get_settings().ticket_backend == "zendesk"


CLOCK_PASS_SECONDS = 20


def _request_clocks(stop: threading.Event) -> None:
    """What a clock change owes, retried: the visitor's mails, the ticket's Due and
    status, and resuming a request the visitor answered in the chat. The desk (in the
    Rasa server) does each at once; this pass picks up whatever failed there."""
    while not stop.is_set():
        for step in (waiting.resume_answered, notices.send_all_due, ticket_sync.push_all_due):
            try:
                step()
            except Exception:  # noqa: BLE001 - one failing step must not stop the others, or the job
                logger.exception("request clocks: %s failed; next pass in %ss", step.__name__, CLOCK_PASS_SECONDS)
        stop.wait(CLOCK_PASS_SECONDS)


def _confirmation_mails(stop: threading.Event) -> None:
    confirmation.run_forever(stop)


JOBS: List[Job] = [
    Job("ticket-delivery", _delivery_loop, _delivery_wanted),
    # Confirmation mails a crash left unsent (the filing action sends them at once).
    Job("confirmation-mails", _confirmation_mails),
    Job("retention-purge", _retention_purge),
    # Credentials that lapse unused are found at start and daily, not by the next request.
    Job("zendesk-credentials-check", _zendesk_check, _zendesk_wanted),
    Job("request-clocks", _request_clocks),
]


def start_background_jobs() -> List[str]:
    """Starts every wanted job that is not running yet; returns the names running."""
    settings = get_settings()  # a bad setting (REQUEST_RETENTION_DAYS < 45) stops the server here, not in a thread
    regimes_from_setting(settings.regimes)  # so does a misspelt regime (REGIMES=gdrp)
    tracker_store_url()  # erasure and the purge run here: without the store they would delete nothing
    return jobs.start_jobs(JOBS)


def stop_background_jobs(timeout: float = 10.0) -> None:
    jobs.stop_jobs(wake=loop.kick, timeout=timeout)  # the delivery loop sleeps on its wake-up event
