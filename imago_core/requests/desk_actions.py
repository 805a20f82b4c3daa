"""What the privacy team does to a request from the desk or the CLI: extend, pause with a
question, resume, complete, refuse with a code and reasons, assign, add a note, and
reveal the verified address (audited).

Every clock action goes through the engine (imago_core/requests/clocks/), which refuses
what the law does not allow (a second extension, one after the notice window, a refusal
without a code or of an opt-out) with a message the desk shows as it is. Each stored
change is audited with its actor and followed by the reactions (mails, ticket update).
A refusal is also written to the refusal log (PDPO s.27): an audit event of its own
kind, `refusal_logged`, which outlives the request row.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from imago_core.requests import clock_store
from imago_core.requests.clocks import Clock, ClockError, ClockRuleError
from imago_core.requests.reactions import after_status_change
from imago_core.requests.records import request_by_reference
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import utcnow

MAX_TEXT = 2000
VERBS = ("start", "extend", "pause", "resume", "complete", "refuse", "assign", "note", "reveal")


class DeskError(ValueError):
    """The action is not possible; the message says why, in words staff can act on."""


def _text(value: Any, name: str, required: bool = True) -> Optional[str]:
    text = str(value).replace("\r\n", "\n").strip() if value is not None else ""
    if required and not text:
        raise DeskError(f"{name} is required")
    if len(text) > MAX_TEXT:
        raise DeskError(f"{name} is longer than {MAX_TEXT} characters")
    return text or None


def _clock_move(verb: str, fields: Dict[str, Any]) -> Callable[[Clock, Any, str], Clock]:
    if verb == "start":
        return lambda c, at, who: c.start(at, who)
    if verb == "extend":
        reason = _text(fields.get("reason"), "reason")
        return lambda c, at, who: c.extend(at, who, reason)
    if verb == "pause":
        question = _text(fields.get("question"), "question")
        return lambda c, at, who: c.pause(at, who, question)
    if verb == "resume":
        reason = _text(fields.get("reason"), "reason", required=False)
        return lambda c, at, who: c.resume(at, who, reason)
    if verb == "complete":
        reason = _text(fields.get("reason"), "reason", required=False)

        def complete(c: Clock, at, who) -> Clock:
            if c.state.value == "waiting_for_visitor":  # the history then shows the team went on
                c = c.resume(at, who, "completed without waiting further")
            return c.complete(at, who, reason)
        return complete
    if verb == "refuse":
        code = _text(fields.get("code"), "code")
        reason = _text(fields.get("reason"), "reason")
        return lambda c, at, who: c.refuse(at, who, code, reason)
    raise DeskError(f"unknown action {verb!r}")


def act(reference: str, verb: str, actor: str, fields: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Does `verb` to the request; returns what changed. LookupError: no such request;
    DeskError: not possible (with the reason)."""
    fields = fields or {}
    if verb not in VERBS:
        raise DeskError(f"unknown action {verb!r}; one of {', '.join(VERBS)}")
    if verb in ("assign", "note", "reveal"):
        return _bookkeeping(reference, verb, actor, fields)
    move = _clock_move(verb, fields)
    with session_scope() as session:
        row = request_by_reference(session, reference)
        clock = clock_store.clock_of(row)
        before_due, before_status = clock.due, row.status
        try:
            clock = move(clock, clock_store.at_least_last(clock, utcnow()), actor)
        except (ClockError, ClockRuleError) as exc:
            raise DeskError(str(exc)) from exc
        clock_store.store(row, clock)
        if row.needs_attention and row.needs_attention.startswith("set to "):
            row.needs_attention = None  # the desk has now recorded what the backend could not say
        event = clock.history[-1]
        detail = {"action": verb, "from": before_status.value, "to": row.status.value,
                  "due_before": before_due.isoformat(), "due": clock.due.isoformat()}
        if event.reason:
            detail["reason"] = event.reason
        if event.code:
            detail["code"] = event.code
        audit.record(f"request_{_past(verb)}", request_id=row.id, actor=actor, session=session, detail=detail)
        if verb == "refuse":
            audit.record("refusal_logged", request_id=row.id, actor=actor, session=session,
                         detail={"reference": row.reference, "type": row.request_type.value, "code": event.code,
                                 "reason": event.reason, "regimes": list(clock.regimes)})
        request_id, result = row.id, {"reference": row.reference, "status": row.status.value,
                                      "due": clock.due.isoformat(), "state": clock.state.value}
    after_status_change(request_id, actor)
    return result


def _past(verb: str) -> str:
    return {"start": "started", "extend": "extended", "pause": "paused", "resume": "resumed",
            "complete": "completed", "refuse": "refused"}[verb]


def _bookkeeping(reference: str, verb: str, actor: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    with session_scope() as session:
        row = request_by_reference(session, reference)
        if verb == "assign":
            # Empty unassigns; no name given at all means "me" (the token's name).
            assignee = _text(fields.get("assignee", actor.split(":", 1)[-1]), "assignee", required=False)
            if assignee and len(assignee) > 64:
                raise DeskError("assignee is longer than 64 characters")
            previous, row.assignee = row.assignee, assignee
            audit.record("request_assigned", request_id=row.id, actor=actor, session=session,
                         detail={"from": previous, "to": assignee})
            return {"reference": row.reference, "assignee": assignee}
        if verb == "note":
            note = _text(fields.get("text") or fields.get("note"), "text")
            audit.record("request_note", request_id=row.id, actor=actor, session=session, detail={"note": note})
            return {"reference": row.reference, "note": note}
        # reveal: the address is personal data the desk masks; who looked is in the audit log.
        audit.record("address_revealed", request_id=row.id, actor=actor, session=session)
        return {"reference": row.reference, "email": row.email}
