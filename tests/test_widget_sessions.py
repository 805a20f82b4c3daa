"""Issue 23, finding 8 (and the widget key of 10): widget session ids carry an issue
time, expire, are signed with a key of their own, are rotated when the conversation
proves an address, and a deletion needs a code sent in the last 10 minutes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from extensions.channels import widget_session
from extensions.channels.widget_session import acceptable_session_id, conversation_id, new_session_id
from imago_core.storage.db import session_scope
from imago_core.storage.models import PrivacyRequest, RequestType
from imago_core.settings import reset_settings_cache
from tests.support import channel_server
from tests.support.trackers import make_tracker, texts
from tests.support.widget_client import WidgetClient


def never_verified(_conversation):
    return None


def test_a_session_id_carries_its_issue_time_and_expires(isolated_env, monkeypatch):
    now = time.time()
    issued = new_session_id(now=now)
    assert int(issued.split(".")[1]) == int(now)
    assert acceptable_session_id(issued, now=now + 23 * 3600, verified_at=never_verified)
    assert not acceptable_session_id(issued, now=now + 24 * 3600 + 1, verified_at=never_verified)  # default 24 h
    monkeypatch.setenv("WIDGET_SESSION_TTL_HOURS", "2")
    reset_settings_cache()
    assert not acceptable_session_id(issued, now=now + 2 * 3600 + 1, verified_at=never_verified)
    # An issue time moved forward is a forgery: the signature covers it.
    public, stamp, signature = issued.split(".")
    assert not acceptable_session_id(f"{public}.{int(stamp) + 7200}.{signature}", now=now, verified_at=never_verified)


def test_sessions_are_signed_with_their_own_key_not_otp_secret(isolated_env, monkeypatch):
    issued = new_session_id()
    # The old scheme: `<public>.<HMAC under OTP_SECRET>`. Someone holding the action
    # server's OTP_SECRET can make those; they are no session.
    public = issued.split(".")[0]
    digest = hmac.new(b"test-secret-0123456789-abcdefghij", b"socketio-session|" + public.encode(),
                      hashlib.sha256).digest()
    assert not acceptable_session_id(f"{public}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}",
                                     verified_at=never_verified)
    monkeypatch.setenv("OTP_SECRET", "another-otp-secret-0123456789abcdef")
    reset_settings_cache()
    assert acceptable_session_id(issued, verified_at=never_verified)  # OTP_SECRET plays no part
    monkeypatch.setenv("WIDGET_SESSION_SECRET", "another-widget-secret-0123456789abcdef")
    reset_settings_cache()
    assert not acceptable_session_id(issued, verified_at=never_verified)
    monkeypatch.setenv("WIDGET_SESSION_SECRET", "short")
    reset_settings_cache()
    with pytest.raises(Exception, match="WIDGET_SESSION_SECRET"):
        new_session_id()


def test_an_id_issued_before_the_latest_verification_is_refused(isolated_env):
    now = time.time()
    issued = new_session_id(now=now - 60)
    verified = datetime.fromtimestamp(now - 30, timezone.utc)
    assert not acceptable_session_id(issued, now=now, verified_at=lambda _c: verified)
    fresh = widget_session.rotated(issued, now=now, verified_at=lambda _c: verified)
    assert conversation_id(fresh) == conversation_id(issued) and fresh != issued
    assert acceptable_session_id(fresh, now=now, verified_at=lambda _c: verified)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with channel_server.running(tmp_path_factory.mktemp("sessions")) as running:
        yield running


def verify_in_database(project_db, conversation):
    """What the action server writes when a code is right (imago_core/identity/codes.py)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with sqlite3.connect(project_db) as db:
        db.execute("insert into verified_conversations (conversation_id, email, verified_at, expires_at) "
                   "values (?, 'jane@example.org', ?, ?)", (conversation, now, now + timedelta(minutes=30)))


def test_verification_rotates_the_session_and_a_copy_from_before_is_refused(server):
    url, _tracker, project_db = server
    visitor = WidgetClient(url).connect()
    try:
        visitor.say("hello", "stored")
        copied = visitor.session_id  # e.g. read from localStorage on a shared computer
        WidgetClient(url).connect().close()  # the project's tables exist once the server has read them
        time.sleep(1.1)  # the verification comes after the id's issue second
        verify_in_database(project_db, conversation_id(copied))

        visitor.say("my code is 123456", "stored")
        deadline = time.monotonic() + 10
        while visitor.session_id == copied and time.monotonic() < deadline:
            time.sleep(0.1)
        rotated = visitor.session_id
        assert rotated != copied and conversation_id(rotated) == conversation_id(copied)
        visitor.say("still me", "stored")  # the socket speaks with its new id

        thief = WidgetClient(url).connect(copied)
        try:
            assert conversation_id(thief.session_id) != conversation_id(copied)  # a fresh conversation
        finally:
            thief.close()
        reload = WidgetClient(url).connect(rotated)
        try:
            assert reload.session_id == rotated  # the visitor's own reload keeps the conversation
        finally:
            reload.close()
    finally:
        visitor.close()


# -- a deletion needs a fresh code --------------------------------------------------

@pytest.fixture
def clocked(isolated_env):
    from imago_core.identity.codes import Verifier, set_verifier
    from tests.test_verification import Clock, RecordingMailer

    clock, mailer = Clock(), RecordingMailer()
    clock.now = datetime.now(timezone.utc)
    verifier = Verifier(b"unit-test-secret-0123456789", mailer, clock=clock)
    set_verifier(verifier)
    yield clock, mailer
    set_verifier(None)


async def verify(mailer, conversation="conv-1", send=True):
    from actions.request_form.validation import ValidateRequestForm
    from rasa_sdk.executor import CollectingDispatcher

    form = ValidateRequestForm()
    if send:  # otherwise the code already mailed is typed (a third send in 15 minutes is held back)
        await form.validate_email("jane@example.org", CollectingDispatcher(), make_tracker(conversation), {})
    result = await form.validate_otp_code(mailer.last_code(), CollectingDispatcher(),
                                          make_tracker(conversation, slots={"email": "jane@example.org"}), {})
    assert result["otp_code"] == "******", result


async def confirm(task, text="yes"):
    from actions.request_form.asking import ActionAskConfirmation
    from actions.request_form.validation import ValidateRequestForm
    from rasa_sdk.executor import CollectingDispatcher

    slots = {"task": task, "tasks": [task], "email": "jane@example.org"}
    await ActionAskConfirmation().run(CollectingDispatcher(), make_tracker(slots=slots), {})
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestForm().validate_confirmation(
        text, dispatcher, make_tracker(intent="affirm", text=text, slots=slots), {})
    return dispatcher, result


async def file(task):
    from actions.request_form.filing import ActionFileRequest
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    await ActionFileRequest().run(dispatcher, make_tracker(intent="affirm", slots={"task": task}), {})
    return dispatcher


def filed():
    with session_scope() as session:
        return [row.request_type for row in session.execute(select(PrivacyRequest)).scalars()]


async def test_a_deletion_needs_a_code_sent_in_the_last_ten_minutes(clocked):
    clock, mailer = clocked
    await verify(mailer)
    clock.now += timedelta(minutes=11)  # still verified (30 minutes), but not for a deletion
    sent = len(mailer.sent)
    dispatcher, result = await confirm("deletion")
    assert result["confirmation"] is None and result.get("reverify") is True
    assert len(mailer.sent) == sent + 1  # a fresh code went to the verified address
    assert "fresh code" in " ".join(texts(dispatcher))
    # Filing now (a typed /affirm skipping the code) files no deletion.
    assert "haven't filed the deletion" in " ".join(texts(await file("deletion")))
    assert filed() == []

    await verify(mailer, send=False)  # the fresh code the confirmation sent
    _, result = await confirm("deletion")
    assert result["confirmation"] == "yes"
    await file("deletion")
    assert filed() == [RequestType.DELETION]


async def test_other_requests_keep_the_thirty_minute_verification(clocked):
    clock, mailer = clocked
    await verify(mailer)
    clock.now += timedelta(minutes=11)
    _, result = await confirm("access")
    assert result["confirmation"] == "yes"
    await file("access")
    assert filed() == [RequestType.ACCESS]


def test_widget_reads_the_rotated_id_it_is_sent():
    # The widget stores whatever session_confirm says, at any time (web/widget/imago-chat.js).
    from tests.support.stack import ROOT

    source = (ROOT / "web" / "widget" / "imago-chat.js").read_text()
    handler = re.search(r"function onSessionConfirm\(sessionId\) \{(.*?)\n  \}", source, re.S).group(1)
    assert "state.sessionId = id" in handler and "saveState()" in handler
