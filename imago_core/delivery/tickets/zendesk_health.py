"""Zendesk credentials that die quietly: a check at start and every day.

Deliveries happen only when someone files a request, so after a quiet month the first
request would be the one to find out that Zendesk no longer takes the credentials.
Three ways they lapse without anyone touching them:
- an OAuth refresh token lapses (30 days by default, at least 7: support.zendesk.com
  article 10212201463962); each refresh hands out a new one, so renewing it early
  keeps the pair alive (OAuthTokenPair.keep_alive);
- since 28 July 2026 an API token unused for 30 days is deactivated ("Migrating from API
  tokens to OAuth access tokens", developer.zendesk.com/documentation/api-basics/
  authentication/oauth-migration/): the daily call below is a use, so it keeps the token
  alive while it still works;
- a client secret revoked, a client deleted, an agent downgraded: nothing renews those,
  so the check names them.

The check asks `GET /api/v2/users/me.json` (which Zendesk user the credentials act as).
Its outcome is logged (never a token; the user by id and role only) and, when something
is wrong, recorded as an `integration_attention` audit event that `imago-requests list`
shows until an `integration_healthy` one follows. The client-credentials grant, the
documented default (deploy/README.md), has no refresh token to lapse.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Optional

from sqlalchemy import select

from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent

from .base import (
    BackendAuthError,
    PermanentBackendError,
    TicketBackend,
    TransientBackendError,
)
from .factory import create_backend
from .zendesk import ZendeskBackend
from .zendesk_auth import OAuthTokenPair

logger = logging.getLogger(__name__)

CHECK_INTERVAL = timedelta(days=1)
# After a problem, look again soon: an outage that passes, or a secret a person fixed,
# should not leave the ATTENTION line standing for a day.
RECHECK_AFTER_PROBLEM = timedelta(minutes=15)
# The shortest refresh-token life Zendesk allows is 7 days; renewing with 3 days left
# gives a daily check three chances (a Zendesk outage, a restart) before it lapses.
RENEW_REFRESH_WITHIN = timedelta(days=3)
ATTENTION_EVENT = "integration_attention"
HEALTHY_EVENT = "integration_healthy"
ACTOR = "zendesk-health"
# Roles that may create tickets for other people (Users API: end-user, agent, admin).
TICKET_ROLES = ("agent", "admin")


@dataclass(frozen=True)
class Health:
    ok: bool
    problem: Optional[str] = None  # what a person must fix; never a secret
    user_id: Optional[int] = None
    role: Optional[str] = None
    renewed_refresh_token: bool = False


def check(backend: ZendeskBackend) -> Health:
    """Renews a refresh token close to lapsing, then asks Zendesk who the credentials are."""
    renewed = False
    try:
        if isinstance(backend.auth, OAuthTokenPair):
            renewed = backend.auth.keep_alive(backend._http(), backend.base_url, backend.timeout,
                                              RENEW_REFRESH_WITHIN.total_seconds())
        user = backend.current_user()
    except BackendAuthError as exc:  # before TransientBackendError: it is one
        return Health(False, f"Zendesk refuses the credentials: {exc}", renewed_refresh_token=renewed)
    except TransientBackendError as exc:
        return Health(False, f"Zendesk could not be asked (will try again): {exc}", renewed_refresh_token=renewed)
    except PermanentBackendError as exc:
        return Health(False, f"Zendesk check failed: {exc}", renewed_refresh_token=renewed)
    user_id, role = user.get("id"), str(user.get("role") or "")
    if not isinstance(user_id, int):
        return Health(False, "Zendesk answered as an anonymous user: the credentials are not accepted; "
                      + backend.auth.hint(), renewed_refresh_token=renewed)
    if role not in TICKET_ROLES:
        return Health(False, f"Zendesk user {user_id} the integration acts as has the role {role or '-'}; it "
                      "needs an agent or admin to create tickets for requesters", user_id, role, renewed)
    return Health(True, None, user_id, role, renewed)


def record(health: Health) -> None:
    """Logs the outcome and keeps the attention state in the audit log (on change only)."""
    previous = current_attention()
    if health.ok:
        logger.info("Zendesk credentials OK: acting as user %s (role %s)%s", health.user_id, health.role,
                    "; refresh token renewed" if health.renewed_refresh_token else "")
        if previous is not None:
            audit.record(HEALTHY_EVENT, actor=ACTOR, detail={"backend": "zendesk"})
        return
    logger.error("ATTENTION Zendesk: %s. Requests are kept and delivered once this is fixed.", health.problem)
    if previous != health.problem:
        audit.record(ATTENTION_EVENT, actor=ACTOR, detail={"backend": "zendesk", "problem": health.problem[:500]})


def current_attention() -> Optional[str]:
    """The problem of the last check, if the last check found one."""
    with session_scope() as session:
        row = session.execute(
            select(AuditEvent).where(AuditEvent.event.in_([ATTENTION_EVENT, HEALTHY_EVENT]),
                                     AuditEvent.actor == ACTOR)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1)
        ).scalar_one_or_none()
        if row is None or row.event != ATTENTION_EVENT:
            return None
        return str(json.loads(row.detail or "{}").get("problem") or "see the action server log")


def check_once(backend_factory: Callable[[], Optional[TicketBackend]]) -> Optional[Health]:
    backend = backend_factory()
    if not isinstance(backend, ZendeskBackend):
        return None
    health = check(backend)
    record(health)
    return health


def run_daily(stop: threading.Event, interval: timedelta = CHECK_INTERVAL,
              backend_factory: Optional[Callable[[], Optional[TicketBackend]]] = None,
              recheck: timedelta = RECHECK_AFTER_PROBLEM) -> None:
    """At start, then every `interval` (every `recheck` while there is a problem), until
    `stop` is set (a background job)."""
    if backend_factory is None:
        backend_factory = create_backend
    while not stop.is_set():
        wait = interval
        try:
            health = check_once(backend_factory)
            if health is not None and not health.ok:
                wait = recheck
        except Exception:  # noqa: BLE001 - a failed check is tried again later
            logger.exception("Zendesk credentials check failed; tried again in %s", recheck)
            wait = recheck
        stop.wait(wait.total_seconds())
