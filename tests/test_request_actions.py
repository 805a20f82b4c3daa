"""The request actions: verification in the form, confirmation, filing, status,
and that typed `/intent{...}` payloads cannot skip any of it."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, PrivacyRequest, RequestType
from imago_core.requests.records import record_request
from actions.request_form.asking import ActionAskEmail, ActionSummariseRequest
from actions.request_form.filing import ActionFileRequest
from actions.request_form.start import ActionStartTask
from actions.request_form.status import ActionCancelTask, ActionShowStatus
from actions.request_form.validation import ValidateRequestForm
from imago_core.identity.codes import set_verifier
from imago_core.identity.codes import Verifier
from tests.support.trackers import buttons, make_tracker, texts
from tests.test_verification import RecordingMailer

ADDRESS = "jane.doe@example.org"


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def verifier(isolated_env, mailer):
    v = Verifier(b"unit-test-secret-0123456789", mailer)
    set_verifier(v)
    yield v
    set_verifier(None)


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


def slot_events(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def verify(verifier, mailer, conversation="conv-1"):
    form = ValidateRequestForm()
    dispatcher = CollectingDispatcher()
    result = await form.validate_email(ADDRESS, dispatcher, make_tracker(conversation), {})
    assert result["email"] == ADDRESS
    code = mailer.last_code()
    result = await form.validate_otp_code(code, dispatcher, make_tracker(conversation, slots={"email": ADDRESS}), {})
    assert result["otp_code"] == "******"
    return code


async def confirm_and_file(task, conversation="conv-1", details=None, channel="rest"):
    slots = {"task": task, "correction_details": details}
    await run(ActionSummariseRequest(), make_tracker(conversation, slots=slots))
    return await run(ActionFileRequest(), make_tracker(conversation, intent="affirm", slots=slots, channel=channel))


@pytest.mark.parametrize("intent, task", [  # written out here, not read from the action's own table
    ("request_access", "access"), ("request_deletion", "deletion"), ("request_correction", "correction"),
    ("request_export", "export"), ("request_marketing_optout", "marketing_optout"), ("request_status", "status"),
])
async def test_start_task_remembers_what_was_asked(verifier, intent, task):
    _, events = await run(ActionStartTask(), make_tracker(intent=intent, text="..."))
    assert slot_events(events)["task"] == task


async def test_form_asks_for_email_and_code_until_verified_then_stops_asking(verifier, mailer):
    form = ValidateRequestForm()
    tracker = make_tracker(slots={"task": "deletion"})
    assert await form.required_slots([], CollectingDispatcher(), tracker, {}) == ["email", "otp_code", "confirmation"]
    await verify(verifier, mailer)
    assert await form.required_slots([], CollectingDispatcher(), tracker, {}) == ["confirmation"]
    correction = make_tracker(slots={"task": "correction"})
    assert await form.required_slots([], CollectingDispatcher(), correction, {}) == [
        "correction_details", "confirmation"]
    status = make_tracker(slots={"task": "status"})
    assert await form.required_slots([], CollectingDispatcher(), status, {}) == []


async def test_malformed_email_is_asked_again_without_sending(verifier, mailer):
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestForm().validate_email("jane at example dot org", dispatcher, make_tracker(), {})
    assert result["email"] is None and result["reprompted"] is True
    assert "doesn't look like an email address" in texts(dispatcher)[0]
    assert mailer.sent == []


async def test_validator_reprompt_silences_the_default_question(verifier):
    dispatcher, events = await run(ActionAskEmail(), make_tracker(slots={"reprompted": True}))
    assert dispatcher.messages == [] and slot_events(events) == {"reprompted": None}
    dispatcher, _ = await run(ActionAskEmail(), make_tracker())
    assert [m["response"] for m in dispatcher.messages] == ["utter_request_email"]


async def test_wrong_code_says_how_many_tries_are_left(verifier, mailer):
    form = ValidateRequestForm()
    await form.validate_email(ADDRESS, CollectingDispatcher(), make_tracker(), {})
    code = mailer.last_code()
    dispatcher = CollectingDispatcher()
    result = await form.validate_otp_code(f"{(int(code) + 1) % 10**6:06d}", dispatcher,
                                          make_tracker(slots={"email": ADDRESS}), {})
    assert result["otp_code"] is None
    assert "4 tries left" in texts(dispatcher)[0]


async def test_asking_for_a_new_code_sends_one(verifier, mailer):
    form = ValidateRequestForm()
    await form.validate_email(ADDRESS, CollectingDispatcher(), make_tracker(), {})
    dispatcher = CollectingDispatcher()
    await form.validate_otp_code("i didn't get it, send a new code", dispatcher, make_tracker(slots={"email": ADDRESS}), {})
    assert len(mailer.sent) == 2 and "sent a 6-digit code" in texts(dispatcher)[0]


async def test_mail_failure_is_told_plainly(verifier, mailer):
    mailer.fail = True
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestForm().validate_email(ADDRESS, dispatcher, make_tracker(), {})
    assert result["email"] is None and "couldn't send the email" in texts(dispatcher)[0]


async def test_full_request_is_recorded_with_reference_and_due_date(verifier, mailer):
    await verify(verifier, mailer)
    summary, _ = await run(ActionSummariseRequest(), make_tracker(slots={"task": "deletion"}))
    assert "Deletion" in texts(summary)[0] and ADDRESS in texts(summary)[0]
    assert "legal, contractual, regulatory, or similar, obligations" in texts(summary)[0]  # what may be kept
    assert [b["payload"] for b in buttons(summary)] == ["/affirm", "/cancel"]
    dispatcher, events = await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "deletion"}))
    reply = texts(dispatcher)[0]
    reference = re.search(r"PRV-[2-9A-Z]{6}", reply).group(0)
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
    assert row.reference == reference and row.request_type is RequestType.DELETION
    assert row.email == ADDRESS and row.channel == "rest" and row.conversation_id == "conv-1"
    assert row.due_at - row.received_at >= timedelta(days=28)
    assert f"{row.due_at.day} {row.due_at:%B %Y}" in reply
    assert slot_events(events)["task"] is None


async def test_correction_details_are_recorded(verifier, mailer):
    await verify(verifier, mailer)
    await confirm_and_file("correction", details="surname Smyth should be Smith")
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
    assert row.request_type is RequestType.CORRECTION and row.details == "surname Smyth should be Smith"


async def test_injected_affirm_without_verification_files_nothing(verifier, mailer):
    """`/affirm{"task": "deletion"}` straight away: no verification, no draft."""
    dispatcher, _ = await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "deletion",
                                                                                       "email": ADDRESS}))
    assert "nothing was filed" in texts(dispatcher)[0]
    with session_scope() as session:
        assert session.execute(select(func.count(PrivacyRequest.id))).scalar() == 0


async def test_injected_slots_do_not_verify_and_summary_refuses(verifier, mailer):
    tracker = make_tracker(slots={"task": "access", "email": ADDRESS, "otp_code": "******",
                                  "verified_email": ADDRESS})
    assert (await ValidateRequestForm().required_slots([], CollectingDispatcher(), tracker, {}))[:2] == ["email", "otp_code"]
    dispatcher, _ = await run(ActionSummariseRequest(), tracker)
    assert "nothing was filed" in texts(dispatcher)[0]


async def test_verified_but_unconfirmed_files_nothing(verifier, mailer):
    await verify(verifier, mailer)
    dispatcher, _ = await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "export"}))
    assert "nothing was filed" in texts(dispatcher)[0]


async def test_the_confirmed_draft_wins_over_slots_changed_afterwards(verifier, mailer):
    await verify(verifier, mailer)
    await run(ActionSummariseRequest(), make_tracker(slots={"task": "access"}))
    await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "deletion"}))
    with session_scope() as session:
        assert session.execute(select(PrivacyRequest.request_type)).scalar_one() is RequestType.ACCESS


async def test_a_draft_is_filed_once(verifier, mailer):
    await verify(verifier, mailer)
    first, _ = await confirm_and_file("export")
    dispatcher, _ = await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "export"}))
    # The same "yes" again (its turn lost in a crash, issue 21) is told the same reference, filed once.
    reference = re.search(r"PRV-\w{6}", texts(first)[0]).group(0)
    assert reference in texts(dispatcher)[0]
    with session_scope() as session:
        assert session.execute(select(func.count(PrivacyRequest.id))).scalar_one() == 1


async def test_same_open_request_returns_the_existing_reference(verifier, mailer):
    await verify(verifier, mailer)
    first, _ = await confirm_and_file("marketing_optout")
    second, _ = await confirm_and_file("marketing_optout")
    ref1 = re.search(r"PRV-\w{6}", texts(first)[0]).group(0)
    assert ref1 in texts(second)[0] and "already have an open" in texts(second)[0]
    with session_scope() as session:
        assert session.execute(select(func.count(PrivacyRequest.id))).scalar() == 1


async def test_status_lists_only_the_verified_address(verifier, mailer):
    record_request("someone.else@example.org", RequestType.DELETION, None, "rest", "other")
    mine = record_request(ADDRESS, RequestType.ACCESS, None, "rest", "earlier")
    await verify(verifier, mailer)
    dispatcher, _ = await run(ActionShowStatus(), make_tracker(slots={"task": "status"}))
    reply = texts(dispatcher)[0]
    assert mine.reference in reply and "received" in reply
    assert "deletion" not in reply
    with session_scope() as session:
        events = [e.event for e in session.execute(select(AuditEvent)).scalars()]
    assert "status_read" in events


async def test_status_without_verification_shows_nothing(verifier):
    record_request(ADDRESS, RequestType.ACCESS, None, "rest", "earlier")
    dispatcher, _ = await run(ActionShowStatus(), make_tracker(slots={"email": ADDRESS}))
    assert "PRV-" not in texts(dispatcher)[0]


async def test_cancel_stops_the_form_and_discards_the_draft(verifier, mailer):
    await verify(verifier, mailer)
    await run(ActionSummariseRequest(), make_tracker(slots={"task": "access"}))
    dispatcher, events = await run(ActionCancelTask(), make_tracker(intent="cancel"))
    assert {"event": "active_loop", "name": None, "timestamp": None} in events
    dispatcher, _ = await run(ActionFileRequest(), make_tracker(intent="affirm", slots={"task": "access"}))
    assert "nothing was filed" in texts(dispatcher)[0]
