"""The request form's side of issue 9: the send limits see the client address the
channel recorded, and NUL bytes never reach the database."""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from imago_core.requests import drafts
from imago_core.identity.client_address import CLIENT_ADDRESS_KEY
from actions.request_form.common import client_address
from actions.request_form.validation import ValidateRequestForm
from imago_core.identity.codes import set_verifier
from imago_core.identity.codes import SendStatus, Verifier
from tests.support.trackers import make_tracker
from tests.support.services import postgres  # noqa: F401 - session fixture
from tests.test_verification import SECRET, RecordingMailer


def with_metadata(metadata) -> object:
    tracker = make_tracker(text="jane@example.org")
    tracker.events[-1]["metadata"] = metadata
    return tracker


def test_client_address_comes_from_the_latest_user_message():
    assert client_address(with_metadata({CLIENT_ADDRESS_KEY: "198.51.100.7"})) == "198.51.100.7"
    assert client_address(with_metadata({CLIENT_ADDRESS_KEY: ["x"]})) is None
    assert client_address(with_metadata("nonsense")) is None
    assert client_address(make_tracker()) is None


async def test_code_sends_count_against_the_recorded_client(isolated_env):
    verifier = Verifier(SECRET, RecordingMailer())
    set_verifier(verifier)
    try:
        for n in range(10):
            verifier.request_code(f"other-{n}", f"u{n}@example.org", "198.51.100.7")
        dispatcher = CollectingDispatcher()
        tracker = with_metadata({CLIENT_ADDRESS_KEY: "198.51.100.7"})
        result = await ValidateRequestForm().validate_email("jane@example.org", dispatcher, tracker, {})
        assert result["email"] is None and "try again after" in dispatcher.messages[0]["text"]
        assert verifier.request_code("x", "jane@example.org", "203.0.113.1").status is SendStatus.SENT
    finally:
        set_verifier(None)


async def test_nul_bytes_are_stripped_from_correction_details():
    result = await ValidateRequestForm().validate_correction_details(
        "surname\x00 Smyth should be Smith", CollectingDispatcher(), make_tracker(), {})
    assert result == {"correction_details": "surname Smyth should be Smith"}


def test_draft_with_a_nul_byte_is_stored_on_postgresql(isolated_env, postgres, monkeypatch):  # noqa: F811
    import uuid

    from sqlalchemy import select

    from imago_core.storage import db as db_module
    from imago_core.storage.db import session_scope
    from imago_core.storage.models import RequestDraft, RequestType
    from imago_core.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", postgres.create_database(f"nul_{uuid.uuid4().hex[:8]}"))
    reset_settings_cache()
    db_module.reset_engine()
    try:
        drafts.save_draft("rest:c1", "jane@example.org", RequestType.CORRECTION, "Smyth\x00 -> Smith")
        with session_scope() as session:
            assert session.execute(select(RequestDraft.details)).scalar_one() == "Smyth -> Smith"
    finally:
        db_module.reset_engine()
