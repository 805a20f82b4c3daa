"""Filing a conversation's confirmed drafts: all of it or nothing, and the same answer
when the turn runs again (issue 21).

Before, filing took the drafts (one transaction each) and then recorded each request
(one more each): a turn killed between the two left drafts consumed and no request,
and the visitor's "yes", sent again, got "I have nothing confirmed to file". Here one
transaction claims the drafts, records a request for each (or finds the open one of the
same type for the address, as `records.record_request` does), marks each draft with
the reference it was filed as, and schedules the confirmation mail: a crash leaves
either everything or nothing.

A turn can also run again after everything was committed (the Rasa server died before
it stored the turn, so the visitor's message comes again): then no draft is left, and
`file_confirmed` answers with the requests that this conversation's latest drafts were
filed as (`replayed=True`), so the visitor still learns the references.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, List, Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from imago_core.requests import clock_store
from imago_core.requests.drafts import DRAFT_TTL
from imago_core.requests.reactions import after_clock_change
from imago_core.requests.records import RequestView, insert_request
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    PrivacyRequest,
    RequestDraft,
    open_request_key,
    utcnow,
)


@dataclass
class Filing:
    views: List[RequestView] = field(default_factory=list)
    replayed: bool = False  # the answer of a filing already committed


def file_confirmed(conversation_id: str, email: str, channel: Optional[str], backend: str = "local",
                   address_key: Optional[str] = None, now: Optional[datetime] = None, *,
                   volunteered: Iterable[str] = (), language: Optional[str] = None) -> Filing:
    """Files this conversation's fresh, unconsumed drafts for `email` in one transaction;
    with none left, answers with what its latest drafts were filed as. Each request's
    legal clock opens here, as in records.record_request: the REGIMES setting plus the
    regimes the visitor `volunteered`, the due date the earliest of theirs."""
    for _ in range(5):  # a reference clash or a parallel identical request: run the whole again
        try:
            filing, new_ids = _file_once(conversation_id, email, channel, backend, address_key, now or utcnow(),
                                         tuple(volunteered), language)
        except IntegrityError:
            continue
        for request_id in new_ids:
            after_clock_change(request_id)  # a receipt confirmation, where CCPA applies
        if filing.views:
            return filing
        return Filing(_already_filed(conversation_id, email), replayed=True)
    raise RuntimeError("could not file the request")


def _file_once(conversation_id: str, email: str, channel: Optional[str], backend: str,
               address_key: Optional[str], now: datetime, volunteered: tuple, language: Optional[str]):
    views: List[RequestView] = []
    new_ids: List[int] = []
    with session_scope() as session:
        # FOR UPDATE (PostgreSQL): a parallel filing of the same drafts waits, then finds them consumed.
        drafts = session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id,
            RequestDraft.consumed_at.is_(None),
            RequestDraft.created_at > now - DRAFT_TTL,
        ).order_by(RequestDraft.id).with_for_update()).scalars().all()
        for draft in drafts:
            draft.consumed_at = now
            if draft.email != email:
                continue  # verified for another address since: never filed under this one
            key = open_request_key(email, draft.request_type)
            existing = session.execute(select(PrivacyRequest).where(PrivacyRequest.open_key == key)).scalar_one_or_none()
            if existing is not None:
                audit.record("duplicate_request_answered", conversation_id=conversation_id, address_key=address_key,
                             request_id=existing.id, session=session)
                draft.filed_reference = existing.reference
                views.append(RequestView.of(existing, duplicate=True))
                continue
            row = insert_request(session, email=email, request_type=draft.request_type, details=draft.details,
                                 channel=channel, conversation_id=conversation_id, backend=backend, now=now,
                                 key=key, clock=clock_store.open_clock(draft.request_type, now, volunteered),
                                 language=language, address_key=address_key, confirmation_due_at=now)
            draft.filed_reference = row.reference
            views.append(RequestView.of(row))
            new_ids.append(row.id)
    return Filing(views), new_ids


def _already_filed(conversation_id: str, email: str) -> List[RequestView]:
    """The requests this conversation's latest drafts were filed as, when those drafts are
    still fresh and nothing was drafted after them (a cancelled or newer draft means the
    visitor moved on: then nothing)."""
    with session_scope() as session:
        latest = session.execute(select(func.max(RequestDraft.id)).where(
            RequestDraft.conversation_id == conversation_id)).scalar_one_or_none()
        if latest is None:
            return []
        last = session.get(RequestDraft, latest)
        if last.filed_reference is None or last.consumed_at is None or last.email != email \
                or last.created_at <= utcnow() - DRAFT_TTL:
            return []
        batch = session.execute(select(RequestDraft).where(
            RequestDraft.conversation_id == conversation_id,
            RequestDraft.consumed_at == last.consumed_at,
            RequestDraft.filed_reference.is_not(None),
        ).order_by(RequestDraft.id)).scalars().all()
        references = [draft.filed_reference for draft in batch]
        rows = {row.reference: row for row in session.execute(
            select(PrivacyRequest).where(PrivacyRequest.reference.in_(references))).scalars()}
        return [RequestView.of(rows[ref], duplicate=rows[ref].conversation_id != conversation_id)
                for ref in references if ref in rows]
