"""The redacting tracker store keeps one-time codes out of the database, also when
the question and the answer are saved in different turns."""
from __future__ import annotations

import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.tracker_store import RedactingSQLTrackerStore
from tests.support.trackers import stored_event_text


async def test_code_answer_saved_in_a_later_turn_is_masked(tmp_path):
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = DialogueStateTracker.from_events("c1", [
        ActionExecuted("action_listen"), UserUttered("delete my data 123456"),
        ActiveLoop("request_form"), SlotSet("requested_slot", "otp_code"), ActionExecuted("action_listen"),
    ])
    await store.save(tracker)
    tracker = await store.retrieve("c1")
    tracker.update(UserUttered("it is 482 913"))
    tracker.update(SlotSet("otp_code", "482913"))
    await store.save(tracker)
    tracker.update(SlotSet("requested_slot", None))
    tracker.update(ActiveLoop(None))
    tracker.update(UserUttered("my order 654321 is unrelated"))
    await store.save(tracker)

    with sqlite3.connect(tmp_path / "t.db") as db:
        stored = stored_event_text(row[0] for row in db.execute("select data from events where sender_id = 'c1'"))
    assert "482" not in stored and "913" not in stored and "it is ******" in stored
    assert "delete my data 123456" in stored  # before the question: untouched
    assert "654321 is unrelated" in stored  # after the form: untouched
    assert [e.text for e in (await store.retrieve("c1")).events if isinstance(e, UserUttered)] == \
        ["delete my data 123456", "it is ******", "my order 654321 is unrelated"]
