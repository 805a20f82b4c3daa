"""Issue 21 (b), (c) and the lost places the chaos run found, at the level of the
actions and the core: a turn killed half-way leaves no half-filed request, a turn run
again gets the reference it had, a filing is confirmed by mail, and a code already
accepted is accepted again when its turn is run again."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from actions.request_form.asking import ActionSummariseRequest
from actions.request_form.filing import ActionFileRequest
from imago_core.requests import confirmation
from imago_core.storage import audit
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest, RequestDraft
from imago_core.requests.deadlines import format_date
from tests.support.trackers import make_tracker, texts
from tests.test_request_actions import ADDRESS, mailer, run, verifier, verify  # noqa: F401 - fixtures

REFERENCE = re.compile(r"PRV-[0-9A-Z]{6}")


class OutboxMails:
    """The .eml files the local outbox mailer wrote (MAIL_OUTBOX, set by isolated_env)."""

    def __init__(self, folder):
        self.folder = folder

    def confirmations(self):
        import email
        import email.policy

        found = []
        for path in sorted(self.folder.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if "is filed" in str(message["Subject"]):
                found.append(message)
        return found


@pytest.fixture
def outbox(isolated_env):
    return OutboxMails(isolated_env / "outbox")


async def summarise(conversation="conv-1", task="access"):
    await run(ActionSummariseRequest(), make_tracker(conversation, slots={"task": task}))


async def file_yes(conversation="conv-1", task="access"):
    return await run(ActionFileRequest(), make_tracker(conversation, intent="affirm", text="yes",
                                                       slots={"task": task}))


def requests_count() -> int:
    with session_scope() as session:
        return session.execute(select(func.count(PrivacyRequest.id))).scalar_one()


async def test_a_turn_killed_half_way_through_filing_leaves_nothing_half_done(verifier, mailer, monkeypatch):
    """The process dies after the drafts were taken but before the request was recorded
    (here: the audit entry of the recording fails). Before issue 21 the drafts were
    consumed in their own transaction: the re-sent "yes" then got "nothing was filed"
    and the visitor's confirmed request was gone."""
    await verify(verifier, mailer)
    await summarise()
    original = audit.record

    def dies_while_recording(event, *args, **kwargs):
        if event == "request_recorded":
            raise RuntimeError("killed half-way")
        return original(event, *args, **kwargs)

    monkeypatch.setattr(audit, "record", dies_while_recording)
    with pytest.raises(RuntimeError):
        await file_yes()
    monkeypatch.setattr(audit, "record", original)
    assert requests_count() == 0
    with session_scope() as session:  # the drafts are still there to be filed
        assert session.execute(select(func.count(RequestDraft.id))
                               .where(RequestDraft.consumed_at.is_(None))).scalar_one() == 1

    dispatcher, _ = await file_yes()  # the same "yes", sent again
    assert REFERENCE.search(texts(dispatcher)[0])
    assert requests_count() == 1


async def test_a_turn_run_again_after_filing_gets_the_reference_it_had(verifier, mailer):
    """The Rasa server died after the action filed but before it stored the turn: the
    visitor's "yes" comes again. Before issue 21 it got "I have nothing confirmed to
    file", so the visitor never learned the reference (issue 21's 2 of 200)."""
    await verify(verifier, mailer)
    await summarise()
    first, _ = await file_yes()
    again, _ = await file_yes()
    told = REFERENCE.search(texts(first)[0]).group(0)
    assert told in texts(again)[0] and "nothing was filed" not in texts(again)[0]
    assert requests_count() == 1


async def test_no_replay_once_the_visitor_has_moved_on(verifier, mailer):
    """A new draft after the filing (the visitor started another request and cancelled
    it) means a later "yes" is not the filing's: nothing is replayed."""
    from imago_core.requests.drafts import discard_drafts, save_drafts
    from imago_core.storage.models import RequestType

    await verify(verifier, mailer)
    await summarise()
    await file_yes()
    save_drafts("conv-1", ADDRESS, [RequestType.DELETION], None)
    discard_drafts("conv-1")
    dispatcher, _ = await file_yes()
    assert "nothing was filed" in texts(dispatcher)[0]


async def test_a_filed_request_is_confirmed_by_mail_with_its_reference_and_due_date(verifier, mailer, outbox):
    await verify(verifier, mailer)
    await summarise()
    dispatcher, _ = await file_yes()
    reference = REFERENCE.search(texts(dispatcher)[0]).group(0)
    mails = outbox.confirmations()
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == ADDRESS and reference in mail["Subject"]
    with session_scope() as session:
        row = session.execute(select(PrivacyRequest)).scalar_one()
        assert row.confirmation_sent_at is not None
        due = format_date(row.due_at)
    body = mail.get_content()
    assert reference in body and due in body
    # The text is the file's, not the code's.
    assert confirmation.mail_texts("en")["body"].split("{", 1)[0].strip() in body


async def test_a_confirmation_a_crash_left_unsent_is_sent_once_by_the_job(verifier, mailer, outbox, monkeypatch):
    await verify(verifier, mailer)
    await summarise()
    # The action dies right after the filing committed, before its mail went out.
    import actions.request_form.filing as filing_action

    def killed(*args, **kwargs):
        raise RuntimeError("killed before the mail")

    monkeypatch.setattr(filing_action, "send_confirmations", killed)
    await file_yes()
    assert outbox.confirmations() == []
    assert confirmation.pending_count() == 1
    assert confirmation.send_due() == 1  # the confirmation-mails job's pass
    assert confirmation.send_due() == 0  # and never twice
    assert len(outbox.confirmations()) == 1


async def test_an_accepted_code_typed_again_is_accepted_again(verifier, mailer):
    """The turn that accepted the code was lost in a crash, so the visitor's code comes
    again. Before issue 21 the used code gave "There's no valid code for this
    conversation any more": a lost place. The code itself stays single-use
    (tests/test_verification.py); the form accepts it because the conversation is
    already verified for that very address."""
    from actions.request_form.validation import ValidateRequestForm
    from rasa_sdk.executor import CollectingDispatcher

    code = await verify(verifier, mailer, conversation="conv-9")
    form, dispatcher = ValidateRequestForm(), CollectingDispatcher()
    again = await form.validate_otp_code(code, dispatcher, make_tracker("conv-9", slots={"email": ADDRESS}), {})
    assert again["otp_code"] == "******" and "verified" in texts(dispatcher)[0]
    # Another conversation gains nothing from it.
    other = CollectingDispatcher()
    result = await form.validate_otp_code(code, other, make_tracker("conv-8", slots={"email": ADDRESS}), {})
    assert result["otp_code"] is None and "no valid code" in texts(other)[0]
